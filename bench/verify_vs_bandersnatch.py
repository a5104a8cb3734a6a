"""``warehouse mirror-verify`` and ``bandersnatch verify`` (8.x) side by side, by hand.

    .venv/bin/python bench/stack.py start --name vbs --port 18290        # prints TOKEN
    .venv/bin/python bench/load_dataset.py /tmp/bench/data/N1000-M3 \\
        --upload http://127.0.0.1:18290/legacy/ --token pypi-...
    .venv/bin/python -u bench/verify_vs_bandersnatch.py http://127.0.0.1:18290 --damage 1000

Unmodified bandersnatch 8 mirrors the index (through the suite's loopback TLS front), then
``--damage`` distribution files are damaged in equal thirds: deleted, cut short by a byte, and
overwritten with other bytes of the same size (only a hash finds those), and ``--strays`` files
nobody owns are added (older than the run). Both tools then check the same mirror without
changing it:

* ``bandersnatch verify --dry-run --delete`` (its hash comparison; it logs each file it would
  fetch and each unowned file),
* ``warehouse mirror-verify --config <the same file> --deep --json REPORT``.

Each runs as its own process; its wall time and peak RSS (``ru_maxrss`` of the child, from
``wait4``) are printed, and the problems each found are compared with what was planted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
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
    make_certificates,
)

WOULD_FETCH = re.compile(r"\[DRY RUN\] (\S+) would be fetched")
UNOWNED_HEADER = re.compile(r"\[DRY RUN\] \d+ unowned files:")


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``argv``; its wall seconds, peak RSS in MiB, and output."""
    with tempfile.TemporaryFile(mode="w+") as output:
        started = time.monotonic()
        process = subprocess.Popen(argv, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.monotonic() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        return elapsed, usage.ru_maxrss / 1024, output.read()


def damage(web: Path, count: int, strays: int, seed: int) -> dict[str, set[str]]:
    """Damage ``count`` distribution files and add ``strays``; the planted problems by kind."""
    packages = web / "packages"
    dists = sorted(
        p for p in packages.rglob("*") if p.is_file() and not p.name.endswith(".metadata")
    )
    if count > len(dists):
        raise SystemExit(f"the mirror has {len(dists)} distribution files, fewer than {count}")
    chosen = random.Random(seed).sample(dists, count)
    planted: dict[str, set[str]] = {"missing": set(), "short": set(), "flipped": set()}
    for number, path in enumerate(chosen):
        key = path.relative_to(packages).as_posix()
        if number % 3 == 0:
            path.unlink()
            planted["missing"].add(key)
        elif number % 3 == 1:
            path.write_bytes(path.read_bytes()[:-1])
            planted["short"].add(key)
        else:
            path.write_bytes(bytes(b ^ 0xFF for b in path.read_bytes()))
            planted["flipped"].add(key)
    old = time.time() - 7200
    planted["stray"] = set()
    for number in range(strays):
        digest = f"{number:064x}"
        stray = packages / digest[:2] / digest[2:4] / digest[4:] / f"stray-{number}.tar.gz"
        stray.parent.mkdir(parents=True, exist_ok=True)
        stray.write_bytes(b"owned by nobody")
        os.utime(stray, (old, old))
        planted["stray"].add(stray.relative_to(packages).as_posix())
    return planted


def bandersnatch_found(log: str, web: Path) -> tuple[set[str], set[str]]:
    """(filenames it would fetch, keys of the unowned files it listed) from its log."""
    fetch = set(WOULD_FETCH.findall(log))
    unowned: set[str] = set()
    packages = str(web / "packages") + "/"
    listing = False
    for line in log.splitlines():
        if UNOWNED_HEADER.search(line):
            listing = True
            continue
        if listing:
            # "<time> INFO: <path> (verify.py:NNN)", one line per unowned file.
            path = next((word for word in line.split() if word.startswith(packages)), None)
            if path is not None:
                unowned.add(path[len(packages) :])
            elif line.strip():
                listing = False
    return fetch, unowned


def warehouse_found(report: Path) -> dict[str, set[str]]:
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    found: dict[str, set[str]] = {}
    for line in lines[:-1]:
        found.setdefault(line["class"], set()).add(line["key"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("index", help="the index origin, e.g. http://127.0.0.1:18290")
    parser.add_argument("--damage", type=int, default=1000)
    parser.add_argument("--strays", type=int, default=100)
    parser.add_argument("--workers", type=int, default=3, help="bandersnatch workers/verifiers")
    parser.add_argument("--seed", type=int, default=1546)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    origin = urlsplit(args.index)
    if origin.scheme != "http" or origin.hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("INDEX must be http://127.0.0.1:PORT")
    flavour = FLAVOURS["8"]
    executable = ensure_bandersnatch(flavour)
    work = Path(tempfile.mkdtemp(prefix="verify-vs-bandersnatch-"))
    ca, certificate, key = make_certificates(work / "tls")
    proxy = TlsProxy(origin.port, certificate, key).start()
    try:
        mirror = Bandersnatch(
            flavour, executable, work / "mirror", proxy.url, ca, workers=args.workers
        )
        mirror.write_config()
        started = time.monotonic()
        mirror.run("mirror")
        files = sum(1 for p in (mirror.web / "packages").rglob("*") if p.is_file())
        print(f"bandersnatch 8 mirrored {files} files in {time.monotonic() - started:.1f} s")

        planted = damage(mirror.web, args.damage, args.strays, args.seed)
        print(
            f"planted: {len(planted['missing'])} deleted, {len(planted['short'])} cut short, "
            f"{len(planted['flipped'])} same-size corrupt, {len(planted['stray'])} strays"
        )
        env = mirror.env()

        theirs = timed(
            [str(executable), "-c", str(mirror.config), "verify", "--dry-run", "--delete"], env
        )
        report = work / "warehouse-report.jsonl"
        ours = timed(
            [
                str(REPO / ".venv" / "bin" / "warehouse"),
                "mirror-verify",
                "--config",
                str(mirror.config),
                "--deep",
                "--json",
                str(report),
            ],
            env,
        )

        damaged = planted["missing"] | planted["short"] | planted["flipped"]
        damaged_names = {key.rsplit("/", 1)[-1] for key in damaged}
        their_fetch, their_unowned = bandersnatch_found(theirs[2], mirror.web)
        found = warehouse_found(report)
        our_damaged = (
            found.get("missing", set())
            | found.get("size_mismatch", set())
            | found.get("digest_mismatch", set())
        )
        print()
        print("| verifier | seconds | peak RSS MiB | damaged found | strays found | wrong |")
        print("|---|---|---|---|---|---|")
        their_wrong = len(their_fetch - damaged_names) + len(their_unowned - planted["stray"])
        print(
            f"| bandersnatch 8 verify --dry-run --delete | {theirs[0]:.1f} | {theirs[1]:.0f} "
            f"| {len(their_fetch & damaged_names)}/{len(damaged)} "
            f"| {len(their_unowned & planted['stray'])}/{len(planted['stray'])} "
            f"| {their_wrong} |"
        )
        our_wrong = len(our_damaged - damaged) + len(found.get("orphan", set()) - planted["stray"])
        print(
            f"| warehouse mirror-verify --deep | {ours[0]:.1f} | {ours[1]:.0f} "
            f"| {len(our_damaged & damaged)}/{len(damaged)} "
            f"| {len(found.get('orphan', set()) & planted['stray'])}/{len(planted['stray'])} "
            f"| {our_wrong} |"
        )
        print()
        print("warehouse classes:", {kind: len(keys) for kind, keys in sorted(found.items())})
        kinds = {
            "missing": planted["missing"] <= found.get("missing", set()),
            "short": planted["short"] <= found.get("size_mismatch", set()),
            "flipped": planted["flipped"] <= found.get("digest_mismatch", set()),
        }
        print("each planted kind in its class:", kinds)
        if their_wrong or our_wrong:
            print("bandersnatch extra:", sorted(their_fetch - damaged_names)[:10])
            print("warehouse extra:", sorted(our_damaged - damaged)[:10])
    finally:
        proxy.stop()
        if args.keep:
            print(f"kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
