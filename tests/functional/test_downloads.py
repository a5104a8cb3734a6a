"""GET/HEAD /packages/<key>: the file download endpoint, through the whole app."""

from __future__ import annotations

import hashlib

import pytest
import webtest

from warehouse.storage.keys import content_key, metadata_key
from warehouse.storage.local import LocalFileStorage

DATA = bytes(range(256)) * 100  # 25,600 bytes
DIGEST = hashlib.blake2b(DATA, digest_size=32).hexdigest()
FILENAME = "demo-1.0.tar.gz"
KEY = content_key(DIGEST, FILENAME)
URL = f"/packages/{KEY}"
ETAG = f'"{DIGEST}"'


@pytest.fixture
def storage(webapp):
    return webapp.app.registry["storage.instance"]


@pytest.fixture
def put(storage, tmp_path):
    def put(key: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        source = tmp_path / "upload"
        source.write_bytes(data)
        storage.put(key, source, content_type=content_type)
        return f"/packages/{key}"

    return put


def test_app_uses_local_storage_under_files_path(storage, settings):
    assert isinstance(storage, LocalFileStorage)
    assert str(storage.root) == settings.files_path


def test_get(webapp, put):
    put(KEY, DATA)
    response = webapp.get(URL)
    assert response.status_int == 200
    assert response.body == DATA
    assert response.headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in response.headers
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["ETag"] == ETAG
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Surrogate-Key"] == f"file/{FILENAME}"


def test_get_uses_the_servers_file_wrapper(webapp, put):
    put(KEY, DATA)
    wrapped = []

    def file_wrapper(stream, block_size):
        wrapped.append(block_size)
        return iter(lambda: stream.read(block_size), b"")

    response = webapp.get(URL, extra_environ={"wsgi.file_wrapper": file_wrapper})
    assert response.body == DATA
    assert wrapped == [64 * 1024]


def test_head(webapp, put):
    put(KEY, DATA)
    response = webapp.head(URL)
    assert response.status_int == 200
    assert response.body == b""
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["ETag"] == ETAG


def test_metadata_sidecar(webapp, put):
    url = put(metadata_key(KEY), b"Metadata-Version: 2.1\nName: demo\n")
    response = webapp.get(url)
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["ETag"] == f'"{DIGEST}-metadata"'
    # Purging the distribution's surrogate key also purges its metadata.
    assert response.headers["Surrogate-Key"] == f"file/{FILENAME}"
    assert response.body.startswith(b"Metadata-Version")


def test_wheel_content_type(webapp, put):
    url = put(content_key(DIGEST, "demo-1.0-py3-none-any.whl"), DATA)
    assert webapp.get(url).headers["Content-Type"] == "application/zip"


def test_key_outside_the_content_layout_gets_size_and_mtime_etag(webapp, put):
    url = put("legacy/demo-0.1.zip", DATA)
    response = webapp.get(url)
    etag = response.headers["ETag"]
    assert etag.startswith(f'"{len(DATA):x}-') and etag.endswith('"')
    assert webapp.get(url, headers={"If-None-Match": etag}, status=304).body == b""


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-199", 100, 199),
        ("bytes=25000-", 25000, len(DATA) - 1),
        ("bytes=-600", len(DATA) - 600, len(DATA) - 1),
        ("bytes=-999999", 0, len(DATA) - 1),
        ("bytes=25500-999999", 25500, len(DATA) - 1),
    ],
)
def test_range(webapp, put, header, start, end):
    put(KEY, DATA)
    response = webapp.get(URL, headers={"Range": header}, status=206)
    assert response.body == DATA[start : end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response.headers["Content-Length"] == str(end - start + 1)
    assert response.headers["ETag"] == ETAG


def test_range_with_file_wrapper_is_still_a_range(webapp, put):
    put(KEY, DATA)
    environ = {"wsgi.file_wrapper": lambda stream, size: pytest.fail("sent the whole file")}
    response = webapp.get(URL, headers={"Range": "bytes=1-2"}, extra_environ=environ, status=206)
    assert response.body == DATA[1:3]


def test_head_with_range(webapp, put):
    put(KEY, DATA)
    response = webapp.head(URL, headers={"Range": "bytes=0-9"}, status=206)
    assert response.headers["Content-Length"] == "10"
    assert response.headers["Content-Range"] == f"bytes 0-9/{len(DATA)}"


@pytest.mark.parametrize("header", ["bytes=25600-", "bytes=30000-30010", "bytes=-0"])
def test_unsatisfiable_range(webapp, put, header):
    put(KEY, DATA)
    response = webapp.get(URL, headers={"Range": header}, status=416)
    assert response.headers["Content-Range"] == f"bytes */{len(DATA)}"


@pytest.mark.parametrize(
    "header", ["bytes=0-1,5-6", "bytes=9-3", "items=0-1", "bytes=abc", "bytes=-"]
)
def test_ranges_we_dont_serve_get_the_whole_file(webapp, put, header):
    put(KEY, DATA)
    response = webapp.get(URL, headers={"Range": header}, status=200)
    assert response.body == DATA


def test_if_range(webapp, put):
    put(KEY, DATA)
    partial = webapp.get(URL, headers={"Range": "bytes=0-9", "If-Range": ETAG}, status=206)
    assert partial.body == DATA[:10]
    stale = webapp.get(URL, headers={"Range": "bytes=0-9", "If-Range": '"old"'}, status=200)
    assert stale.body == DATA


@pytest.mark.parametrize("header", [ETAG, f"W/{ETAG}", f'"other", {ETAG}', "*"])
def test_if_none_match(webapp, put, header):
    put(KEY, DATA)
    response = webapp.get(URL, headers={"If-None-Match": header}, status=304)
    assert response.body == b""
    assert response.headers["ETag"] == ETAG
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_if_none_match_other_etag(webapp, put):
    put(KEY, DATA)
    assert webapp.get(URL, headers={"If-None-Match": '"other"'}, status=200).body == DATA


def test_missing_file(webapp):
    response = webapp.get(URL, status=404)
    assert response.content_type == "text/plain"
    assert response.headers["Cache-Control"] == "no-store"
    webapp.head(URL, status=404)


def test_directory_is_not_a_file(webapp, put):
    put(KEY, DATA)
    webapp.get("/packages/" + KEY.rpartition("/")[0], status=404)


@pytest.mark.parametrize(
    "path",
    [
        "/packages/../conftest.py",
        "/packages/ab/../../etc/passwd",
        "/packages/%2e%2e/x",
        "/packages/ab/%2E%2E/cd",
        "/packages/a%5Cb",
        "/packages/a%00b",
        "/packages//etc/passwd",
        "/packages/",
        f"/packages/xx/../{KEY}",  # would name a real file once normalized
    ],
)
def test_unsafe_keys_are_not_found(webapp, put, path):
    put(KEY, DATA)
    response = webapp.get(path, status=404)
    # Refused by the download view itself, not by falling through the routes.
    assert response.headers["Cache-Control"] == "no-store"


def test_downloads_need_no_database_or_redis(settings):
    import redis

    from warehouse.config import configure, wsgi_app

    # Both point at a closed port: any use of them would fail the request.
    unreachable = settings.replace(
        database_url="postgresql+psycopg://nobody@127.0.0.1:9/nowhere",
        redis_url="redis://127.0.0.1:9/0",
    )
    config = configure(unreachable, **{"redis.client": redis.Redis.from_url(unreachable.redis_url)})
    app = webtest.TestApp(wsgi_app(config))
    storage = app.app.registry["storage.instance"]
    source = settings.files_path + ".upload"
    with open(source, "wb") as out:
        out.write(DATA)
    storage.put(KEY, source, content_type="application/gzip")
    served = app.get(URL)
    assert served.body == DATA
    # Untagged for download statistics (they need the file's row): the CDN fetches it again
    # soon instead of keeping an answer whose downloads would never be counted.
    assert "X-Stats-Project" not in served.headers
    assert served.headers["Surrogate-Control"] == "max-age=60"
    app.get(URL, headers={"Range": "bytes=0-9"}, status=206)
    app.head(URL)
    app.get(URL + ".missing", status=404)


@pytest.mark.s3
@pytest.mark.xdist_group("seaweedfs")
def test_download_from_s3(seaweedfs, settings, clean_database, redis_client, tmp_path):
    from warehouse.config import configure, wsgi_app
    from warehouse.storage.s3 import S3FileStorage

    s3_settings = settings.replace(
        files_backend="s3",
        s3_endpoint_url=seaweedfs.endpoint_url,
        s3_bucket=seaweedfs.make_bucket(),
        s3_prefix="files",
        s3_access_key_id=seaweedfs.access_key,
        s3_secret_access_key=seaweedfs.secret_key,
    )
    config = configure(s3_settings, **{"db.engine": clean_database, "redis.client": redis_client})
    app = webtest.TestApp(wsgi_app(config))
    storage = app.app.registry["storage.instance"]
    assert isinstance(storage, S3FileStorage)
    source = tmp_path / "upload"
    source.write_bytes(DATA)
    storage.put(KEY, source, content_type="application/gzip")

    response = app.get(URL)
    assert response.body == DATA
    assert response.headers["Content-Type"] == "application/gzip"
    assert response.headers["Content-Length"] == str(len(DATA))
    assert response.headers["ETag"] == ETAG

    head = app.head(URL)
    assert head.headers["Content-Length"] == str(len(DATA)) and head.body == b""

    partial = app.get(URL, headers={"Range": "bytes=-10"}, status=206)
    assert partial.body == DATA[-10:]
    assert partial.headers["Content-Range"] == f"bytes {len(DATA) - 10}-{len(DATA) - 1}/{len(DATA)}"
    app.get(URL, headers={"Range": f"bytes={len(DATA)}-"}, status=416)
    app.get(URL, headers={"If-None-Match": ETAG}, status=304)
    app.get(f"/packages/{content_key('0' * 64, FILENAME)}", status=404)
