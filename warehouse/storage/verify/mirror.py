"""Verify a bandersnatch mirror against its own JSON metadata, on a filesystem or in S3.

The expected files come from the mirror's ``web/json/<project>`` documents (the index's JSON
API as bandersnatch saved it), never from file names: each release file's URL path after
``/packages/`` is where bandersnatch stores it under ``web/packages/``, with its size and
SHA-256. The mirror is read through the same stores as our own files
(:class:`~warehouse.storage.local.LocalFileStorage`, or
:class:`~warehouse.storage.s3.S3FileStorage` for bandersnatch's ``s3`` storage backend, whose
``[mirror] directory`` is ``/<bucket>/<prefix>`` and whose ``[s3]`` section says where and
how to connect). What is read is staged in an SQLite file (``.warehouse-mirror-verify.sqlite``
in the mirror's folder; for an S3 mirror, a file named after its bucket and prefix beside the
config), so memory stays flat and a killed run goes on where it stopped:

1. ingest: every JSON document, in name order, into ``expected`` (checkpoint: the last
   project read);
2. walk: ``web/packages`` in byte order, a page at a time, merged with ``expected`` in the
   same order (checkpoint: the last key settled, with the counters);

Classes and repair follow ``warehouse storage verify``: ``missing`` and corrupt files
(``size_mismatch``; ``digest_mismatch`` with ``deep``) are fetched again from the URL in the
JSON (and checked against its SHA-256) with ``repair``; orphans are moved to
``<directory>/quarantine/`` and deleted by a later run once older than the grace period.
Files written after the run began (a sync running beside it) are not judged.
"""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import functools
import hashlib
import json
import shutil
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from warehouse.storage.interfaces import BlobNotFound, IFileStorage
from warehouse.storage.local import LocalFileStorage
from warehouse.storage.s3 import S3FileStorage, s3_client

log = structlog.get_logger(__name__)

STAGE_NAME = ".warehouse-mirror-verify.sqlite"
QUARANTINE = "quarantine"
PROBLEMS = ("missing", "orphan", "size_mismatch", "digest_mismatch", "unreadable")
CHUNK = 1024 * 1024


class MirrorVerifyError(Exception):
    """The config or the mirror cannot be verified as asked (the message says why)."""


@dataclasses.dataclass(frozen=True)
class MirrorConfig:
    #: As the config says it: a folder, or ``/<bucket>/<prefix>`` for an S3 mirror.
    directory: str
    storage_backend: str
    json: IFileStorage  # web/json
    packages: IFileStorage  # web/packages
    quarantine: IFileStorage  # <directory>/quarantine
    stage_path: Path


# What a store's reads raise for an unreadable blob, on a filesystem or in S3.
_READ_ERRORS = (OSError, BlobNotFound, BotoCoreError, ClientError)


def read_config(path: Path) -> MirrorConfig:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path) as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise MirrorVerifyError(f"cannot read {path}: {exc.strerror}") from exc
    except configparser.Error as exc:
        raise MirrorVerifyError(f"{path} is not a bandersnatch config: {exc}") from exc
    if not parser.has_option("mirror", "directory"):
        raise MirrorVerifyError(f"{path} has no [mirror] directory")
    backend = parser.get("mirror", "storage-backend", fallback="filesystem").strip()
    if backend == "filesystem":
        return _filesystem_mirror(Path(parser.get("mirror", "directory")).expanduser())
    if backend == "s3":
        return _s3_mirror(parser, path)
    raise MirrorVerifyError(
        f"storage-backend {backend!r} is not one mirror-verify reads: 'filesystem' and 's3' are"
    )


def _filesystem_mirror(directory: Path) -> MirrorConfig:
    if not (directory / "web").is_dir():
        raise MirrorVerifyError(f"{directory} has no web/ folder: not a bandersnatch mirror")
    return MirrorConfig(
        str(directory),
        "filesystem",
        json=LocalFileStorage(directory / "web" / "json", fsync=False),
        packages=LocalFileStorage(directory / "web" / "packages", fsync=False),
        quarantine=LocalFileStorage(directory / QUARANTINE, fsync=False),
        stage_path=directory / STAGE_NAME,
    )


def _s3_mirror(parser: configparser.ConfigParser, config_path: Path) -> MirrorConfig:
    # bandersnatch's s3 backend: "[mirror] directory = /<bucket>/<prefix>"; the [s3] options
    # it reads, each optional (boto3 then looks in the environment, as it does for
    # bandersnatch).
    directory = parser.get("mirror", "directory").strip()
    bucket, _, prefix = directory.strip("/").partition("/")
    if not bucket:
        raise MirrorVerifyError(
            f"[mirror] directory {directory!r} names no bucket: an S3 mirror's is /<bucket>/<path>"
        )
    option = functools.partial(parser.get, "s3", fallback=None)
    client = s3_client(
        option("endpoint_url"),
        option("region_name") or "us-east-1",
        option("aws_access_key_id"),
        option("aws_secret_access_key"),
        signature_version=option("signature_version"),
    )
    web = f"{prefix}/web" if prefix else "web"
    try:
        found = client.list_objects_v2(Bucket=bucket, Prefix=web + "/", MaxKeys=1)
    except (BotoCoreError, ClientError) as exc:
        raise MirrorVerifyError(f"cannot list s3://{bucket}/{web}/: {exc}") from exc
    if not found.get("KeyCount"):
        raise MirrorVerifyError(f"s3://{bucket}/{web}/ holds nothing: not a bandersnatch mirror")
    # The stage is local (SQLite), beside the config, one per mirror.
    stage = config_path.resolve().parent / (
        f".warehouse-mirror-verify.{bucket}.{prefix.replace('/', '_') or '_'}.sqlite"
    )
    return MirrorConfig(
        directory,
        "s3",
        json=S3FileStorage(client, bucket, f"{web}/json"),
        packages=S3FileStorage(client, bucket, f"{web}/packages"),
        quarantine=S3FileStorage(client, bucket, f"{prefix}/{QUARANTINE}".strip("/")),
        stage_path=stage,
    )


def _key_of(url: str) -> str | None:
    path = urlsplit(url).path
    if "/packages/" not in path:
        return None
    return path.split("/packages/", 1)[1]


class MirrorVerifier:
    def __init__(
        self,
        config: MirrorConfig,
        *,
        deep: bool = False,
        repair: bool = False,
        delete_orphans_after: int | None = None,
        orphan_min_age: float = 3600.0,
        page_size: int = 1000,
        on_page: Callable[[int], None] | None = None,
        fetch: Callable[[str, Path], None] | None = None,
    ):
        self.config = config
        self.deep = deep
        self.repair = repair
        self.delete_orphans_after = delete_orphans_after
        self.orphan_min_age = orphan_min_age
        self.page_size = page_size
        self.on_page = on_page
        self.fetch = fetch or _fetch
        self.packages = config.packages
        self.stage_path = config.stage_path
        self.db: sqlite3.Connection | None = None

    # The stage ----------------------------------------------------------------------------------

    def open(self, *, resume: bool) -> None:
        if not resume:
            self.stage_path.unlink(missing_ok=True)
        elif not self.stage_path.exists():
            raise MirrorVerifyError(
                f"nothing to resume: no {self.stage_path.name} in {self.stage_path.parent}"
            )
        self.db = sqlite3.connect(self.stage_path, isolation_level=None)
        self.db.executescript(
            """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = NORMAL;
            CREATE TABLE IF NOT EXISTS expected (
                key TEXT PRIMARY KEY, project TEXT, size INTEGER, sha256 TEXT, url TEXT
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS problems (
                key TEXT PRIMARY KEY, kind TEXT, detail TEXT, action TEXT
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
            """
        )
        if self._get("started_at") is None:
            self._set(
                "started_at",
                time.time(),
                deep=int(self.deep),
                repair=int(self.repair),
                delete_orphans_after=self.delete_orphans_after,
            )
        else:
            # A resumed run keeps the options it was started with.
            self.deep = bool(self._get("deep"))
            self.repair = bool(self._get("repair"))
            self.delete_orphans_after = self._get("delete_orphans_after")

    def close(self) -> None:
        if self.db is not None:
            self.db.close()

    def _get(self, name: str):
        row = self.db.execute("SELECT value FROM state WHERE name = ?", (name,)).fetchone()
        return None if row is None else row[0]

    def _set(self, name: str, value, **more) -> None:
        self.db.executemany(
            "INSERT OR REPLACE INTO state (name, value) VALUES (?, ?)",
            [(name, value), *more.items()],
        )

    # 1. Ingest -----------------------------------------------------------------------------------

    def ingest(self) -> int:
        """Stage every JSON document's files, a page of documents per transaction."""
        if self._get("ingest_done"):
            return 0
        read = 0
        while page := self.config.json.list_page(self._get("ingested_upto") or "", limit=200):
            read += self._ingest_batch([info.key for info in page])
        self._set("ingest_done", 1)
        return read

    def _ingest_batch(self, names: list[str]) -> int:
        self.db.execute("BEGIN")
        for name in names:
            try:
                with contextlib.closing(self.config.json.open(name)) as stream:
                    document = json.loads(stream.read())
            except (*_READ_ERRORS, ValueError) as exc:
                log.warning("unreadable project JSON", project=name, error=str(exc))
                continue
            releases = document.get("releases") or {}
            files = [f for files in releases.values() for f in files] or document.get("urls", [])
            for entry in files:
                key = _key_of(entry.get("url", ""))
                if key is None:
                    continue
                self.db.execute(
                    "INSERT OR REPLACE INTO expected VALUES (?, ?, ?, ?, ?)",
                    (
                        key,
                        name,
                        entry.get("size"),
                        (entry.get("digests") or {}).get("sha256"),
                        entry["url"],
                    ),
                )
        self._set("ingested_upto", names[-1])
        self.db.execute("COMMIT")
        return len(names)

    # 2. Walk --------------------------------------------------------------------------------------

    def walk(self) -> None:
        if self._get("walk_done"):
            return
        started_at = self._get("started_at")
        judged_before = started_at - self.orphan_min_age
        while True:
            settled = self._get("position")
            listing = self.packages.list_page(settled or "", limit=self.page_size)
            page = [i for i in listing if not i.key.startswith(QUARANTINE + "/")]
            end = len(listing) < self.page_size
            page_end = None if end else listing[-1].key
            query = "SELECT key, size, sha256, url FROM expected WHERE key > ?"
            args: list = [settled or ""]
            if page_end is not None:
                query += " AND key <= ?"
                args.append(page_end)
            expected = self.db.execute(query + " ORDER BY key", args).fetchall()
            recorded = {
                key: action
                for key, action in self.db.execute(
                    "SELECT key, action FROM problems WHERE key > ?"
                    + (" AND key <= ?" if page_end is not None else ""),
                    args,
                )
            }
            listed = {info.key: info for info in page}
            keys = sorted(set(listed) | {row[0] for row in expected} | set(recorded))
            by_key = {row[0]: row for row in expected}
            skipped = 0
            for key in keys:
                if key in recorded and (recorded[key] is not None or not self.repair):
                    continue
                outcome = self._settle(key, listed.get(key), by_key.get(key), judged_before)
                skipped += outcome == "skipped"
            self.db.execute("BEGIN")
            self._set(
                "keys_done",
                (self._get("keys_done") or 0) + len(keys),
                skipped=(self._get("skipped") or 0) + skipped,
                position=page_end if page_end is not None else settled,
            )
            if end:
                self._set("walk_done", 1)
            self.db.execute("COMMIT")
            if self.on_page is not None:
                self.on_page(len(keys))
            if end:
                return

    def _settle(self, key, info, row, judged_before) -> str | None:
        if row is None:
            if key.endswith(".metadata") and self._expects(key.removesuffix(".metadata")):
                return None  # a PEP 658 sidecar of a listed file (bandersnatch 8 fetches them)
            if info.mtime is not None and info.mtime >= judged_before:
                return "skipped"  # written by a sync running beside us
            return self._problem("orphan", key, None, f"{info.size} bytes, in no project's JSON")
        if info is None:
            return self._problem("missing", key, row, "in the JSON, not on disk")
        _, size, sha256, _ = row
        if size is not None and info.size != size:
            return self._problem(
                "size_mismatch", key, row, f"{info.size} bytes on disk, {size} in the JSON"
            )
        if self.deep and sha256:
            digest = hashlib.sha256()
            try:
                with contextlib.closing(self.packages.open(key)) as stream:
                    while chunk := stream.read(CHUNK):
                        digest.update(chunk)
            except _READ_ERRORS as exc:
                return self._problem("unreadable", key, row, str(exc))
            if digest.hexdigest() != sha256:
                return self._problem(
                    "digest_mismatch", key, row, f"SHA-256 on disk {digest.hexdigest()}"
                )
        return None

    def _expects(self, key: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM expected WHERE key = ?", (key,)).fetchone() is not None
        )

    def _problem(self, kind: str, key: str, row, detail: str) -> str:
        self.db.execute(
            "INSERT OR IGNORE INTO problems (key, kind, detail) VALUES (?, ?, ?)",
            (key, kind, detail),
        )
        log.warning("mirror verify found a problem", key=key, kind=kind, detail=detail)
        if self.repair:
            try:
                action = self._quarantine(key) if kind == "orphan" else self._refetch(key, row)
            except Exception as exc:  # noqa: BLE001 - one failed repair must not stop the walk
                log.exception("mirror verify could not repair", key=key)
                action = f"failed: {type(exc).__name__}: {exc}"
            self.db.execute("UPDATE problems SET action = ? WHERE key = ?", (action, key))
        return kind

    def _refetch(self, key: str, row) -> str:
        _, size, sha256, url = row
        with tempfile.TemporaryDirectory(prefix="mirror-verify-") as scratch:
            fetched = Path(scratch) / "fetched"
            self.fetch(url, fetched)
            digest = _sha256_of(fetched) if sha256 else None
            if digest != sha256 or (size is not None and fetched.stat().st_size != size):
                return "failed: the fetched file does not match the JSON's SHA-256"
            # The store writes it whole or not at all (a temporary file renamed, one PUT).
            self.packages.put(key, fetched, content_type="application/octet-stream")
        return f"fetched from {url}"

    def _quarantine(self, key: str) -> str:
        with tempfile.TemporaryDirectory(prefix="mirror-verify-") as scratch:
            orphan = Path(scratch) / "orphan"
            with contextlib.closing(self.packages.open(key)) as source, open(orphan, "wb") as out:
                shutil.copyfileobj(source, out, CHUNK)
            # Written now: the copy's time is the quarantine's start, which the grace period
            # counts from.
            self.config.quarantine.put(key, orphan, content_type="application/octet-stream")
        self.packages.delete(key)  # on a filesystem, also prunes the emptied folders
        return f"moved to {QUARANTINE}/{key}"

    # 3. Quarantine ---------------------------------------------------------------------------------

    def purge_quarantine(self) -> int:
        if not self.repair or self.delete_orphans_after is None:
            return 0
        cutoff = time.time() - self.delete_orphans_after
        deleted = 0
        store = self.config.quarantine
        after = ""
        while page := store.list_page(after, limit=1000):
            for info in page:
                after = info.key
                if info.mtime is not None and info.mtime < cutoff:
                    store.delete(info.key)
                    self.db.execute(
                        "INSERT OR IGNORE INTO problems VALUES (?, 'orphan_expired', ?, 'deleted')",
                        (f"{QUARANTINE}/{info.key}", "quarantined past the grace period"),
                    )
                    deleted += 1
        return deleted

    # Figures ---------------------------------------------------------------------------------------

    def totals(self) -> dict[str, int]:
        by_kind = dict(self.db.execute("SELECT kind, count(*) FROM problems GROUP BY kind"))
        counts = {"keys": self._get("keys_done") or 0, "skipped": self._get("skipped") or 0}
        problems = 0
        for kind in PROBLEMS:
            counts[kind] = by_kind.get(kind, 0)
            problems += counts[kind]
        counts["ok"] = counts["keys"] - counts["skipped"] - problems
        counts["repaired"] = self.db.execute(
            "SELECT count(*) FROM problems WHERE action LIKE 'fetched%' OR action LIKE 'moved%'"
        ).fetchone()[0]
        counts["orphans_deleted_from_quarantine"] = by_kind.get("orphan_expired", 0)
        return counts

    def report_lines(self):
        for key, kind, detail, action in self.db.execute(
            "SELECT key, kind, detail, action FROM problems ORDER BY key"
        ):
            yield {"key": key, "class": kind, "detail": detail, "action": action or "none"}
        yield {"totals": self.totals()}

    def run(self) -> dict[str, int]:
        self.ingest()
        self.walk()
        if not self._get("purged"):
            self.purge_quarantine()
            self._set("purged", 1)
        return self.totals()


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
