"""Run guarddog over local distribution files, in guarddog's own virtualenv, one JSON line each.

    bench/.venv-guarddog/bin/python bench/guarddog_runner.py FILE...
    bench/.venv-guarddog/bin/python bench/guarddog_runner.py -   # paths on stdin, one a line


Each file is extracted and scanned the way ``guarddog pypi scan FILE`` does (safe_extract into a
temporary directory, then ``scan_local``), but in one process, so interpreter start-up and its
attempts to refresh its top-packages cache are not counted against it. Prints
``{"file", "label", "seconds", "cpu"}`` per file; label is guarddog v3's risk label
(no_risks_detected, low, suspicious, high_risk).
"""

import json
import logging
import os
import sys
import tempfile
import time

logging.disable(logging.CRITICAL)

from guarddog.ecosystems import ECOSYSTEM  # noqa: E402
from guarddog.scanners import get_package_scanner  # noqa: E402
from guarddog.utils.archives import safe_extract  # noqa: E402


def paths():
    """The files to scan: the arguments, or with ``-`` the lines of stdin as they come (so that
    scan_quality.py can alternate files between this process and its own scanner)."""
    if sys.argv[1:] == ["-"]:
        for line in sys.stdin:
            if line.strip():
                yield line.strip()
    else:
        yield from sys.argv[1:]


def main() -> None:
    scanner = get_package_scanner(ECOSYSTEM.PYPI)
    for path in paths():
        started, cpu = time.perf_counter(), time.process_time()
        label, error = None, None
        try:
            with tempfile.TemporaryDirectory() as tempdir:
                extract_dir = os.path.join(tempdir, "_extracted")
                os.makedirs(extract_dir)
                safe_extract(path, extract_dir)
                result = scanner.scan_local(extract_dir)
                label = result.get("risk_score", {}).get("label")
        except Exception as exc:  # recorded, the run goes on
            error = f"{type(exc).__name__}: {exc}"[:200]
        # semgrep runs in child processes: count their CPU too.
        children = os.times()
        print(
            json.dumps(
                {
                    "file": path,
                    "label": label,
                    "error": error,
                    "seconds": time.perf_counter() - started,
                    "cpu": time.process_time() - cpu,
                    "children_cpu": children.children_user + children.children_system,
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
