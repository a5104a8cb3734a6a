"""Verify a bandersnatch mirror (filesystem storage) against its own JSON metadata.

The expected files come from the mirror's ``web/json/<project>`` documents (the index's JSON
API as bandersnatch saved it), never from file names: each release file's URL path after
``/packages/`` is where bandersnatch stores it under ``web/packages/``, with its size and
SHA-256. What is read is staged in an SQLite file beside the mirror
(``<directory>/.warehouse-mirror-verify.sqlite``), so memory stays flat and a killed run
goes on where it stopped:

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
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import structlog

from warehouse.storage.local import LocalFileStorage

log = structlog.get_logger(__name__)

STAGE_NAME = ".warehouse-mirror-verify.sqlite"
QUARANTINE = "quarantine"
PROBLEMS = ("missing", "orphan", "size_mismatch", "digest_mismatch", "unreadable")
CHUNK = 1024 * 1024


class MirrorVerifyError(Exception):
    """The config or the mirror cannot be verified as asked (the message says why)."""


@dataclasses.dataclass(frozen=True)
class MirrorConfig:
    directory: Path
    storage_backend: str

    @property
    def web(self) -> Path:
        return self.directory / "web"


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
    if backend != "filesystem":
        raise MirrorVerifyError(
            f"storage-backend {backend!r} is not supported by mirror-verify yet; "
            "only 'filesystem' mirrors can be verified"
        )
    directory = Path(parser.get("mirror", "directory")).expanduser()
    if not (directory / "web").is_dir():
        raise MirrorVerifyError(f"{directory} has no web/ folder: not a bandersnatch mirror")
    return MirrorConfig(directory, backend)


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
        self.packages = LocalFileStorage(config.web / "packages", fsync=False)
        self.stage_path = config.directory / STAGE_NAME
        self.db: sqlite3.Connection | None = None

    # The stage ----------------------------------------------------------------------------------

    def open(self, *, resume: bool) -> None:
        if not resume:
            self.stage_path.unlink(missing_ok=True)
        elif not self.stage_path.exists():
            raise MirrorVerifyError(
                f"nothing to resume: no {STAGE_NAME} in {self.config.directory}"
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
        json_dir = self.config.web / "json"
        after = self._get("ingested_upto") or ""
        if self._get("ingest_done"):
            return 0
        names = sorted(
            (entry.name for entry in os.scandir(json_dir) if entry.is_file()),
            key=lambda name: name.encode(),
        )
        read = 0
        batch: list[str] = []
        for name in names:
            if name.encode() <= after.encode():
                continue
            batch.append(name)
            if len(batch) >= 200:
                read += self._ingest_batch(json_dir, batch)
                batch = []
        read += self._ingest_batch(json_dir, batch)
        self._set("ingest_done", 1)
        return read

    def _ingest_batch(self, json_dir: Path, names: list[str]) -> int:
        if not names:
            return 0
        self.db.execute("BEGIN")
        for name in names:
            try:
                document = json.loads((json_dir / name).read_bytes())
            except (OSError, ValueError) as exc:
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
                with self.packages.open(key) as stream:
                    while chunk := stream.read(CHUNK):
                        digest.update(chunk)
            except OSError as exc:
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
        target = self.packages.root / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".tmp-", delete=False) as tmp:
            temp = Path(tmp.name)
        try:
            self.fetch(url, temp)
            digest = hashlib.sha256(temp.read_bytes()).hexdigest() if sha256 else None
            if digest != sha256 or (size is not None and temp.stat().st_size != size):
                return "failed: the fetched file does not match the JSON's SHA-256"
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)
        return f"fetched from {url}"

    def _quarantine(self, key: str) -> str:
        source = self.packages.root / key
        target = self.config.directory / QUARANTINE / key
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(source, target)
        # The move's time is the quarantine's start: the grace period counts from it.
        os.utime(target)
        with contextlib.suppress(OSError):
            self.packages.delete(key)  # prunes the emptied folders
        return f"moved to {QUARANTINE}/{key}"

    # 3. Quarantine ---------------------------------------------------------------------------------

    def purge_quarantine(self) -> int:
        if not self.repair or self.delete_orphans_after is None:
            return 0
        root = self.config.directory / QUARANTINE
        cutoff = time.time() - self.delete_orphans_after
        deleted = 0
        store = LocalFileStorage(root, fsync=False)
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


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        shutil.copyfileobj(response, out, CHUNK)
