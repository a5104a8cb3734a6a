"""A plain PEP 503 folder as an upstream: pages on demand, files on first request."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from tests.support.artifacts import make_sdist, make_wheel
from warehouse.packaging.models import File, JournalEntry
from warehouse.upstreams.models import UpstreamFile
from warehouse.upstreams.services import add_upstream

JSON = {"Accept": "application/vnd.pypi.simple.v1+json"}


def _add(db_session, settings, url, **kwargs):
    add_upstream(db_session, settings, name="static", url=url, **kwargs)
    db_session.commit()


def test_project_fetched_on_first_request_and_files_on_first_download(
    webapp, db_session, settings, static_folder, tmp_path, app_config
):
    wheel = make_wheel(tmp_path, "folder-demo", "1.0")
    sdist = make_sdist(tmp_path, "folder-demo", "1.0")
    static_folder.add("folder-demo", wheel)
    static_folder.add("folder-demo", sdist)
    _add(db_session, settings, static_folder.simple_url)

    page = webapp.get("/simple/folder-demo/", headers=JSON).json
    assert {f["filename"] for f in page["files"]} == {wheel.name, sdist.name}
    assert all(f["url"].startswith("http://localhost/packages/") for f in page["files"])
    by_name = {f["filename"]: f for f in page["files"]}
    assert by_name[wheel.name]["hashes"]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()
    # The change was journaled like an upload, by the upstream.
    submitters = set(db_session.scalars(sa.select(JournalEntry.submitted_by)))
    assert submitters == {"upstream:static"}

    url = by_name[wheel.name]["url"].removeprefix("http://localhost")
    assert webapp.get(url).body == wheel.read_bytes()
    archive = app_config.registry["storage.instance"]
    path = url.removeprefix("/packages/")
    assert archive.exists(path)
    file = db_session.scalar(sa.select(File).where(File.filename == wheel.name))
    assert file.blake2_256_digest == hashlib.blake2b(wheel.read_bytes(), digest_size=32).hexdigest()

    # The upstream goes away: what is stored keeps working, the rest is a clear 503.
    static_folder.stop()
    assert webapp.get(url).body == wheel.read_bytes()
    missing = by_name[sdist.name]["url"].removeprefix("http://localhost")
    refused = webapp.get(missing, status=503)
    assert "cannot be reached" in refused.text and "static" in refused.text
    assert not archive.exists(missing.removeprefix("/packages/"))


def test_digest_mismatch_is_a_502_and_nothing_is_kept(
    webapp, db_session, settings, static_folder, tmp_path, app_config
):
    sdist = make_sdist(tmp_path, "tampered", "1.0")
    static_folder.add("tampered", sdist)
    _add(db_session, settings, static_folder.simple_url)
    page = webapp.get("/simple/tampered/", headers=JSON).json
    url = page["files"][0]["url"].removeprefix("http://localhost")
    # The upstream's bytes change after its page published the digest.
    (static_folder.root / "files" / sdist.name).write_bytes(b"not what was published")
    refused = webapp.get(url, status=502)
    assert "does not match" in refused.text
    assert not app_config.registry["storage.instance"].exists(url.removeprefix("/packages/"))
    stored = db_session.scalar(sa.select(UpstreamFile.stored_at))
    assert stored is None


def test_unknown_names_stay_404(webapp, db_session, settings, static_folder):
    _add(db_session, settings, static_folder.simple_url)
    webapp.get("/simple/nowhere-to-be-found/", status=404)


def test_filters_apply_to_pages_on_demand(webapp, db_session, settings, static_folder, tmp_path):
    static_folder.add("blocked-one", make_sdist(tmp_path, "blocked-one", "1.0"))
    config = (
        "[plugins]\nenabled =\n    blocklist_project\n[blocklist]\npackages =\n    blocked-one\n"
    )
    _add(db_session, settings, static_folder.simple_url, bandersnatch_config=config)
    webapp.get("/simple/blocked-one/", status=404)


def test_uploading_an_upstream_name_needs_an_allowance(
    webapp, db_session, settings, static_folder, tmp_path, auth_headers
):
    from tests.functional.test_upload import post_upload
    from warehouse.upstreams.models import UpstreamProject
    from warehouse.upstreams.services import allow

    (tmp_path / "up").mkdir()
    static_folder.add("taken", make_sdist(tmp_path / "up", "taken", "1.0"))
    _add(db_session, settings, static_folder.simple_url)
    mine = make_sdist(tmp_path, "taken", "2.0")
    # Not mirrored here yet, but the upstream has it: refused.
    refused = post_upload(webapp, mine, auth_headers, status=403)
    assert "comes from the upstream index 'static'" in refused.text
    assert "warehouse upstream allow static taken" in refused.text
    # Mirrored now (a client asked for it): still refused.
    webapp.get("/simple/taken/", headers=JSON)
    refused = post_upload(webapp, mine, auth_headers, status=403)
    assert "needs an administrator to allow it" in refused.text

    allow(db_session, "static", "taken")
    db_session.commit()
    post_upload(webapp, mine, auth_headers)
    assert db_session.scalar(sa.select(UpstreamProject.shared)) is True
    page = webapp.get("/simple/taken/", headers=JSON).json
    assert {f["filename"] for f in page["files"]} == {"taken-1.0.tar.gz", "taken-2.0.tar.gz"}
    assert page["tracks"] == [static_folder.simple_url + "taken/"]


def test_concurrent_first_requests_fetch_once(
    webapp, db_session, settings, static_folder, tmp_path
):
    from concurrent.futures import ThreadPoolExecutor

    sdist = make_sdist(tmp_path, "crowded", "1.0")
    static_folder.add("crowded", sdist)
    _add(db_session, settings, static_folder.simple_url)
    url = webapp.get("/simple/crowded/", headers=JSON).json["files"][0]["url"]
    path = url.removeprefix("http://localhost")
    with ThreadPoolExecutor(max_workers=4) as pool:
        bodies = list(pool.map(lambda _: webapp.get(path).body, range(4)))
    assert bodies == [sdist.read_bytes()] * 4
    assert static_folder.hits[f"/files/{sdist.name}"] == 1


def test_streamed_policy_passes_files_through_and_keeps_none(
    webapp, db_session, settings, static_folder, tmp_path, app_config
):
    sdist = make_sdist(tmp_path, "passing", "1.0")
    static_folder.add("passing", sdist)
    _add(db_session, settings, static_folder.simple_url, policy="streamed")
    url = webapp.get("/simple/passing/", headers=JSON).json["files"][0]["url"]
    path = url.removeprefix("http://localhost")
    assert webapp.get(path).body == sdist.read_bytes()
    assert webapp.get(path).body == sdist.read_bytes()
    assert static_folder.hits[f"/files/{sdist.name}"] == 2
    assert not app_config.registry["storage.instance"].exists(path.removeprefix("/packages/"))
