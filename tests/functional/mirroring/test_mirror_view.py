"""What a mirror sees, end to end: real uploads, then deletions and a yank through
ProjectManagement, read back through XML-RPC, the change feed and /packages/."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import transaction
import zope.sqlalchemy

from tests.functional.mirroring.conftest import XmlRpc
from tests.functional.test_upload import post_upload
from tests.support.artifacts import make_sdist, make_wheel
from warehouse.accounts.models import User
from warehouse.packaging.management import ProjectManagement
from warehouse.packaging.models import File, Project, Release
from warehouse.packaging.services import DatabaseProjectService
from warehouse.storage.local import LocalFileStorage


@pytest.fixture
def manage(task_context, settings):
    """Run ``change(manager, session, user)`` in one transaction, as a request would."""

    def run(change) -> None:
        tm = transaction.TransactionManager(explicit=True)
        store = LocalFileStorage(settings.files_path, fsync=False)
        session = task_context(store).session_factory()
        zope.sqlalchemy.register(session, transaction_manager=tm)
        try:
            with tm:
                user = session.scalar(sa.select(User).filter_by(username="alice"))
                change(ProjectManagement(session, DatabaseProjectService(session)), session, user)
        finally:
            session.close()

    return run


def one(session, model, **where):
    return session.scalar(sa.select(model).filter_by(**where))


def test_uploads_and_changes_reach_every_mirror_interface(webapp, auth_headers, tmp_path, manage):
    uploads = [
        make_wheel(tmp_path, "mirrored", "1.0"),
        make_sdist(tmp_path, "mirrored", "1.0"),
        make_wheel(tmp_path, "mirrored", "2.0"),
    ]
    for path in uploads:
        post_upload(webapp, path, auth_headers)
    rpc = XmlRpc(webapp)
    uploaded_to = rpc.changelog_last_serial()
    urls = {f["filename"]: f["url"] for f in rpc.release_urls("mirrored", "1.0")}
    wheel_url = urls[uploads[0].name].removeprefix("http://localhost")
    webapp.get(wheel_url, status=200)
    webapp.get(wheel_url + ".metadata", status=200)

    manage(lambda m, s, u: m.delete_file(one(s, File, filename=uploads[0].name), u))
    manage(lambda m, s, u: m.yank_release(one(s, Release, version="2.0"), "oops", u))
    manage(lambda m, s, u: m.delete_release(one(s, Release, version="1.0"), u))

    changes = rpc.changelog_since_serial(uploaded_to)
    assert [(c[0], c[1], c[3], c[4]) for c in changes] == [
        ("mirrored", "1.0", f"remove file {uploads[0].name}", uploaded_to + 1),
        ("mirrored", "2.0", "yank release", uploaded_to + 2),
        ("mirrored", "1.0", "remove release", uploaded_to + 3),
    ]
    assert rpc.list_packages_with_serial() == {"mirrored": uploaded_to + 3}
    # The change feed says the same, and who did it.
    feed = webapp.get(f"/api/changes?since={uploaded_to}").json
    assert [(c["serial"], c["action"], c["submitted_by"]) for c in feed["changes"]] == [
        (c[4], c[3], "alice") for c in changes
    ]
    # The blobs are gone (the wheel's metadata sidecar too), the yanked release stays.
    webapp.get(wheel_url, status=404)
    webapp.get(wheel_url + ".metadata", status=404)
    assert rpc.package_releases("mirrored", True) == ["2.0"]
    assert rpc.release_urls("mirrored", "2.0")[0]["yanked_reason"] == "oops"

    manage(lambda m, s, u: m.delete_project(one(s, Project, name="mirrored"), u))
    assert rpc.list_packages_with_serial() == {}
    assert rpc.changelog_since_serial(uploaded_to + 3)[0][3] == "remove project"
