"""Time unmodified bandersnatch mirroring a whole index, by hand.

    .venv/bin/python bench/bandersnatch_mirror.py http://127.0.0.1:18190 --flavour 8 --workers 3
    .venv/bin/python bench/bandersnatch_mirror.py http://127.0.0.1:18190 --flavour 6 --workers 3

INDEX is a plain-http origin on 127.0.0.1 (as bench/stack.py serves one). bandersnatch wants
https, so the script puts the test suite's loopback TLS front in front of it, as a production
index has one. bandersnatch 8 lists projects with the JSON simple index, 6.8 with XML-RPC
``list_packages_with_serial``; both then read ``/pypi/<name>/json`` and download every file.
Their virtualenvs are the suite's, under .state/tools/ (created on first use).

Prints the wall time of ``bandersnatch mirror`` (full sync into an empty directory), what it
mirrored, and anything bandersnatch logged as WARNING or ERROR. The index is only read. The
mirror is written under $TMPDIR (or ``--under``) and deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.bandersnatch import (  # noqa: E402
    FLAVOURS,
    Bandersnatch,
    TlsProxy,
    ensure_bandersnatch,
    log_problems,
    make_certificates,
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("index", help="the index origin, e.g. http://127.0.0.1:18190")
    parser.add_argument("--flavour", choices=sorted(FLAVOURS), default="8")
    parser.add_argument("--workers", type=int, default=3, help="bandersnatch workers (max 10)")
    parser.add_argument("--verify", action="store_true", help="also time `bandersnatch verify`")
    parser.add_argument("--keep", action="store_true", help="keep the mirror directory")
    parser.add_argument(
        "--under",
        type=Path,
        help="where to make the mirror (default: $TMPDIR; /dev/shm takes "
        "the disk out of the measurement)",
    )
    args = parser.parse_args()

    origin = urlsplit(args.index)
    if origin.scheme != "http" or origin.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("INDEX must be http://127.0.0.1:PORT (the TLS front is on loopback)")
    flavour = FLAVOURS[args.flavour]
    executable = ensure_bandersnatch(flavour)
    work = Path(tempfile.mkdtemp(prefix=f"bandersnatch{flavour.key}-bench-", dir=args.under))
    ca, certificate, key = make_certificates(work / "tls")
    proxy = TlsProxy(origin.port, certificate, key).start()
    try:
        mirror = Bandersnatch(
            flavour, executable, work / "mirror", proxy.url, ca, workers=args.workers
        )
        mirror.write_config()
        started = time.monotonic()
        log = mirror.run("mirror")
        elapsed = time.monotonic() - started
        report(flavour.requirement, args.workers, mirror.web, elapsed, log)
        if args.verify:
            started = time.monotonic()
            log = mirror.run("verify", "--json-update")
            print(f"verify --json-update: {time.monotonic() - started:.1f} s")
            for line in log_problems(log):
                print("  flagged:", line)
    finally:
        proxy.stop()
        if args.keep:
            print(f"mirror kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def report(requirement: str, workers: int, web: Path, elapsed: float, log: str) -> None:
    files = [path for path in (web / "packages").rglob("*") if path.is_file()]
    size = sum(path.stat().st_size for path in files)
    projects = sum(1 for path in (web / "simple").iterdir() if path.is_dir())
    print(f"{requirement}, {workers} workers: full mirror in {elapsed:.1f} s")
    print(f"  {projects} projects, {len(files)} files, {size / 1e6:.1f} MB")
    print(f"  {len(files) / elapsed:.1f} files/s, {projects / elapsed:.1f} projects/s")
    problems = log_problems(log)
    print(f"  bandersnatch flagged {len(problems)} line(s)")
    for line in problems:
        print("  flagged:", line)


if __name__ == "__main__":
    main()
