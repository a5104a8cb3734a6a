"""The CDN's log files on this machine: written by varnishncsa, rotated, shipped gzipped.

varnishncsa writes each "stats:" record the VCL logs (one PyPI/Fastly-format line per
download or index page) to ``<log dir>/current.log``. Every rotation period a beat task
(:func:`warehouse.stats.tasks.ship_logs`) ships the files closed at the previous rotation,
gzipped, to ``logs/YYYY/MM/DD/<name>.log.gz`` in the object store, then closes the current
file: renames it into ``closed/`` and sends varnishncsa SIGHUP, which reopens
``current.log``. A closed file waits one period before it is shipped, so the lines
varnishncsa wrote between the rename and the reopen are in it. A file is removed only once
its object is stored; a crash in between ships it again under the same key, which its
counting then ignores (counted once per key).

In production Fastly writes the same lines straight to the bucket under the same prefix.
Only the standard library at module level: ``devstack.services`` imports this.
"""

from __future__ import annotations

import datetime
import gzip
import os
import re
import shutil
import signal
import socket
import tempfile
from pathlib import Path

CURRENT = "current.log"
CLOSED = "closed"
LOGS_PREFIX = "logs/"
# What the VCL's std.log records start with (config/varnish/default.vcl, sub stats_log).
RECORD_KEY = "stats"


def varnishncsa_command(workdir: Path, path: Path, pidfile: Path) -> list[str]:
    varnishncsa = shutil.which("varnishncsa") or "/usr/bin/varnishncsa"
    return [
        varnishncsa,
        "-n",
        str(workdir),
        # Only requests the VCL logged a line for, and only that line.
        "-q",
        f"VCL_Log:{RECORD_KEY}",
        "-F",
        f"%{{VCL_Log:{RECORD_KEY}}}x",
        "-a",
        "-w",
        str(path),
        "-D",
        "-P",
        str(pidfile),
    ]


def object_key(closed_name: str) -> str:
    """``logs/YYYY/MM/DD/<name>.gz`` for a closed file named ``YYYYMMDDTHHMMSSZ-...log``."""
    return f"{LOGS_PREFIX}{closed_name[0:4]}/{closed_name[4:6]}/{closed_name[6:8]}/{closed_name}.gz"


def rotate(log_dir: Path, ncsa_pidfile: Path | None, now: datetime.datetime | None = None):
    """Close the current file (if it has lines) and have varnishncsa open a new one.

    Returns the closed file's path, or None."""
    current = log_dir / CURRENT
    try:
        if current.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    now = now or datetime.datetime.now(datetime.UTC)
    closed_dir = log_dir / CLOSED
    closed_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().replace("-", "_")
    name = f"{now:%Y%m%dT%H%M%S}Z-{host}-{os.getpid()}.log"
    target = closed_dir / name
    os.replace(current, target)
    pid = _read_pid(ncsa_pidfile) if ncsa_pidfile else None
    if pid is not None:
        os.kill(pid, signal.SIGHUP)
    return target


def closed_files(log_dir: Path) -> list[Path]:
    closed_dir = log_dir / CLOSED
    if not closed_dir.is_dir():
        return []
    return sorted(p for p in closed_dir.iterdir() if p.name.endswith(".log"))


# varnishncsa escapes a double quote, a backslash and unprintable bytes in what it writes
# (\", \\, \xHH); Fastly writes them as they are, and so do the shipped objects.
_NCSA_ESCAPE = re.compile(rb'\\(["\\]|x[0-9a-fA-F]{2})')


def _unescape(match: re.Match) -> bytes:
    escaped = match.group(1)
    return bytes([int(escaped[1:], 16)]) if escaped[:1] == b"x" else escaped


def unescape_ncsa(line: bytes) -> bytes:
    return _NCSA_ESCAPE.sub(_unescape, line) if b"\\" in line else line


def ship(log_dir: Path, storage) -> list[str]:
    """Store every closed file gzipped under its object key, oldest first; the keys stored."""
    shipped = []
    for path in closed_files(log_dir):
        key = object_key(path.name)
        with tempfile.NamedTemporaryFile(dir=log_dir, suffix=".gz", delete=False) as temporary:
            try:
                with open(path, "rb") as source, gzip.GzipFile(fileobj=temporary, mode="wb") as gz:
                    for line in source:
                        gz.write(unescape_ncsa(line))
                temporary.close()
                storage.put(key, Path(temporary.name), content_type="application/gzip")
            finally:
                os.unlink(temporary.name)
        path.unlink()
        shipped.append(key)
    return shipped


def _read_pid(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid
