"""Unmodified clients against the app under gunicorn: a feature a client uses is done when that
client, unmodified, works.

Each test publishes under project names of its own: the live server keeps its data for the
whole session.
"""

from __future__ import annotations

import hashlib

import pypi_simple
import pytest

pytestmark = [pytest.mark.interop, pytest.mark.xdist_group("interop")]


def sha256_of(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# Publishing and installing -----------------------------------------------------------------


def test_twine_upload_then_pip_install(clients, published, tmp_path):
    pin = f"{published.name}=={published.version}"
    clients.pip_install(tmp_path / "wheel", pin)
    # The sdist as well: built by pip with the setuptools at hand (nothing else is on our index).
    from_sdist = clients.pip_install(
        tmp_path / "sdist", "--no-binary", ":all:", "--no-build-isolation", pin
    )

    assert clients.call_hello(published.module, path=tmp_path / "wheel") == "interop-twine 1.0"
    assert clients.call_hello(published.module, path=tmp_path / "sdist") == "interop-twine 1.0"
    assert published.sdist.name in from_sdist.stdout, from_sdist.stdout


def test_uv_publish_then_uv_pip_install(clients, uploader, dists, tmp_path):
    built = dists["uv"]
    clients.uv_publish(uploader.token, built.files)

    python = clients.uv_venv(tmp_path / "venv")
    clients.uv_pip_install(python, f"{built.name}=={built.version}")

    assert clients.call_hello(built.module, python=python) == "interop-uv 1.0"


def test_uv_publish_check_url_skips_files_already_there(clients, uploader, dists):
    built = dists["uv"]
    clients.uv_publish(uploader.token, built.files)  # identical re-upload: a no-op if present

    result = clients.uv_publish(uploader.token, built.files, check_url=True)

    assert result.stdout.count("already exists") == 2, result.stdout


def test_pip_pulls_dependencies_from_the_index(clients, uploader, dists, tmp_path):
    a, b = dists["chain-a"], dists["chain-b"]
    clients.twine_upload(uploader.token, [*b.files, *a.files])

    clients.pip_install(tmp_path / "site", "interop-chain-a==1.0")

    assert clients.call_hello(a.module, path=tmp_path / "site") == "interop-chain-a 1.0"
    assert clients.call_hello(b.module, path=tmp_path / "site") == "interop-chain-b 1.0"


def test_pip_skips_releases_whose_requires_python_excludes_it(clients, uploader, dists, tmp_path):
    old, new = dists["pyreq-1"], dists["pyreq-2"]
    clients.twine_upload(uploader.token, [*old.files, *new.files])

    clients.pip_install(tmp_path / "site", "interop-pyreq")
    python = clients.uv_venv(tmp_path / "venv")
    clients.uv_pip_install(python, "interop-pyreq")

    assert clients.call_hello(old.module, path=tmp_path / "site") == "interop-pyreq 1.0"
    assert clients.call_hello(old.module, python=python) == "interop-pyreq 1.0"


# There is no client-facing yank yet (web form, API or CLI), so the test yanks through the
# management service in a process of its own, as such a front end would, then asks clients.
def yank(live_server, project: str, version: str, reason: str) -> None:
    """Yank with the operator's CLI; the journal entry it writes refreshes the simple pages."""
    live_server.cli("project", "yank", project, version, "--reason", reason)


def test_installers_pass_over_a_yanked_release(clients, live_server, uploader, dists, tmp_path):
    old, new = dists["yank-1"], dists["yank-2"]
    clients.twine_upload(uploader.token, [*old.files, *new.files])
    yank(live_server, "interop-yank", "2.0", "broken")

    clients.pip_install(tmp_path / "site", "interop-yank")
    python = clients.uv_venv(tmp_path / "venv")
    clients.uv_pip_install(python, "interop-yank")
    # PEP 592: an exact pin still gets the yanked release, with a warning.
    pinned = clients.pip_install(tmp_path / "pinned", "interop-yank==2.0")

    assert clients.call_hello(old.module, path=tmp_path / "site") == "interop-yank 1.0"
    assert clients.call_hello(old.module, python=python) == "interop-yank 1.0"
    assert clients.call_hello(old.module, path=tmp_path / "pinned") == "interop-yank 2.0"
    assert "yanked" in pinned.stdout and "broken" in pinned.stdout, pinned.stdout


# Hashes and the simple API as read by clients ------------------------------------------------


def test_pip_require_hashes(clients, published, tmp_path):
    pin = f"{published.name}=={published.version}"
    good = tmp_path / "good.txt"
    good.write_text(
        f"{pin} --hash=sha256:{sha256_of(published.wheel)} --hash=sha256:{sha256_of(published.sdist)}\n"
    )
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{pin} --hash=sha256:{'0' * 64}\n")

    clients.pip("download", "--require-hashes", "-r", good, "-d", tmp_path / "good")
    refused = clients.pip(
        "download", "--require-hashes", "-r", bad, "-d", tmp_path / "bad", check=False
    )

    assert (tmp_path / "good" / published.wheel.name).read_bytes() == published.wheel.read_bytes()
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stdout, refused.stdout


@pytest.mark.parametrize(
    "accept", [pypi_simple.ACCEPT_HTML_ONLY, pypi_simple.ACCEPT_JSON_ONLY], ids=["html", "json"]
)
def test_pypi_simple_reads_project_files_and_metadata(live_server, published, accept, tmp_path):
    built_files = {path.name: path for path in published.files}
    with pypi_simple.PyPISimple(endpoint=live_server.url + "/simple/", accept=accept) as index:
        assert "interop-twine" in index.get_index_page().projects
        page = index.get_project_page("interop-twine")
        packages = {package.filename: package for package in page.packages}
        assert set(packages) == set(built_files)

        for filename, package in packages.items():
            assert package.digests["sha256"] == sha256_of(built_files[filename])
            assert package.requires_python == ">=3.8"
            index.download_package(package, tmp_path / filename)  # checks the digests itself
            assert (tmp_path / filename).read_bytes() == built_files[filename].read_bytes()

        wheel = packages[published.wheel.name]
        assert wheel.has_metadata  # PEP 658 / 714: the wheel's METADATA is served on its own
        metadata = index.get_package_metadata_bytes(wheel, verify=False)
        assert hashlib.sha256(metadata).hexdigest() == wheel.metadata_digests["sha256"]
        assert b"Name: interop-twine\n" in metadata
        assert b"Requires-Python: >=3.8\n" in metadata


# Refusals, as the clients show them ------------------------------------------------------------


def test_twine_reupload_identical_is_accepted_and_changed_bytes_refused(clients, uploader, dists):
    original, changed = dists["dupe"], dists["dupe-changed"]
    assert original.wheel.name == changed.wheel.name
    assert original.wheel.read_bytes() != changed.wheel.read_bytes()
    clients.twine_upload(uploader.token, original.files)

    clients.twine_upload(uploader.token, original.files)
    refused = clients.twine_upload(uploader.token, [changed.wheel], check=False)

    assert refused.returncode != 0
    assert "File already exists" in refused.stdout, refused.stdout


def test_twine_shows_403_for_a_token_scoped_to_another_project(
    clients, live_server, uploader, published, dists
):
    clients.twine_upload(uploader.token, dists["elsewhere"].files)
    token = live_server.create_token(uploader.username, projects=["interop-elsewhere"])

    existing = clients.twine_upload(token, published.files, check=False)
    new_project = clients.twine_upload(token, dists["unclaimed"].files, check=False)

    for result in (existing, new_project):
        assert result.returncode != 0
        assert "403" in result.stdout, result.stdout
    assert "isn't allowed to upload to project" in existing.stdout, existing.stdout


def test_twine_shows_403_for_an_invalid_token(clients, dists):
    refused = clients.twine_upload("pypi-not-a-real-token", dists["uv"].files, check=False)

    assert refused.returncode != 0
    assert "403" in refused.stdout, refused.stdout
    assert "Invalid API Token" in refused.stdout, refused.stdout


def test_uv_publish_shows_the_reason_for_a_refusal(clients, dists):
    refused = clients.uv_publish("pypi-not-a-real-token", dists["uv"].files, check=False)

    assert refused.returncode != 0
    assert "403" in refused.stdout, refused.stdout
    assert "Invalid API Token" in refused.stdout, refused.stdout
