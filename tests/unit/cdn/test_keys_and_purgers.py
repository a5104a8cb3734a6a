"""Which keys a change purges, and what each purge backend sends."""

from __future__ import annotations

import pytest

from warehouse.cdn.keys import keys_for_entry
from warehouse.cdn.purge import (
    FastlyPurger,
    NoPurger,
    PurgeError,
    VarnishPurger,
    purger_from_settings,
)
from warehouse.packaging.journal import Action, Entry, FileRef
from warehouse.settings import Settings, SettingsError

_WHEEL = FileRef(7, "foo_bar-1-py3-none-any.whl", ("ab/cd/ef/foo_bar-1-py3-none-any.whl",))
_SDIST = FileRef(8, "Foo.Bar-1.tar.gz", ("ab/cd/ef/Foo.Bar-1.tar.gz",))


@pytest.mark.parametrize(
    ("action", "files", "keys"),
    [
        (Action.NEW_RELEASE, (), {"project/foo-bar"}),
        (Action.ADD_FILE, (_SDIST,), {"project/foo-bar"}),
        (Action.YANK_RELEASE, (), {"project/foo-bar"}),
        (Action.CREATE_PROJECT, (), {"project/foo-bar", "simple-index"}),
        (Action.RENAME_PROJECT, (), {"project/foo-bar", "simple-index"}),
        (Action.RENAME_PROJECT_TO, (), {"project/foo-bar", "simple-index"}),
        (Action.REMOVE_FILE, (_WHEEL,), {"project/foo-bar", "file/foo_bar-1-py3-none-any.whl"}),
        (
            Action.REMOVE_RELEASE,
            (_WHEEL, _SDIST),
            {"project/foo-bar", "file/foo_bar-1-py3-none-any.whl", "file/Foo.Bar-1.tar.gz"},
        ),
        (
            Action.QUARANTINE_ENTER,
            (_WHEEL,),
            {"project/foo-bar", "simple-index", "file/foo_bar-1-py3-none-any.whl"},
        ),
        (Action.QUARANTINE_EXIT, (), {"project/foo-bar", "simple-index"}),
        (
            Action.REMOVE_PROJECT,
            (_SDIST,),
            {"project/foo-bar", "simple-index", "file/Foo.Bar-1.tar.gz"},
        ),
    ],
)
def test_keys_for_a_journal_entry(action, files, keys):
    entry = Entry("Foo.Bar", action, action.value, files=files)
    # Every entry moves a project's _last-serial in the JSON root listing.
    assert keys_for_entry(entry) == keys | {"simple-index-serials"}


def test_fastly_purges_each_key_softly(recorder):
    FastlyPurger(recorder.url, "SVC1", "api-key").purge(
        ["project/foo", "simple-index", "project/foo"]
    )
    assert recorder.paths() == [
        "/service/SVC1/purge/project/foo",
        "/service/SVC1/purge/simple-index",
    ]
    for request in recorder.requests:
        assert request.headers["Fastly-Key"] == "api-key"
        assert request.headers["Fastly-Soft-Purge"] == "1"


def test_fastly_hard_purge(recorder):
    FastlyPurger(recorder.url, "SVC1", "api-key", soft=False).purge(["json"])
    assert "Fastly-Soft-Purge" not in recorder.requests[0].headers


def test_varnish_purges_keys_in_one_request(recorder):
    VarnishPurger(recorder.url).purge(["project/foo", "simple-index"])
    [request] = recorder.requests
    assert (request.method, request.path) == ("PURGE", "/")
    assert request.headers["Surrogate-Key"] == "project/foo simple-index"


def test_a_refused_purge_raises_for_a_retry(recorder):
    recorder.status = 503
    with pytest.raises(PurgeError, match="503"):
        FastlyPurger(recorder.url, "SVC1", "k").purge(["project/foo"])
    # PurgeError is a ConnectionError: the task's autoretry takes it.
    assert issubclass(PurgeError, ConnectionError)


def test_an_unreachable_cdn_raises_for_a_retry():
    from devstack.services import free_port

    with pytest.raises(PurgeError):
        VarnishPurger(f"http://127.0.0.1:{free_port()}").purge(["x"])


def test_backends_from_settings():
    assert isinstance(purger_from_settings(Settings()), NoPurger)
    varnish = purger_from_settings(Settings(cdn_backend="varnish", port=8123))
    assert varnish.url == "http://127.0.0.1:8123/"
    fastly = purger_from_settings(
        Settings(cdn_backend="fastly", fastly_service_id="S", fastly_api_key="K")
    )
    assert fastly.base == "https://api.fastly.com/service/S/purge/"
    with pytest.raises(SettingsError, match="FASTLY"):
        Settings.from_env({"WAREHOUSE_CDN_BACKEND": "fastly"})
    with pytest.raises(SettingsError, match="WAREHOUSE_CDN_BACKEND"):
        Settings.from_env({"WAREHOUSE_CDN_BACKEND": "akamai"})
