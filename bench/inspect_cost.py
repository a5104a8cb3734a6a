"""Time warehouse.upload.artifacts.inspect_artifact on real distribution files, by hand.

    .venv/bin/python bench/inspect_cost.py FILE...            # this checkout
    PYTHONPATH=/work/main /work/main/.venv/bin/python bench/inspect_cost.py FILE...   # another

Prints the files refused (a real wheel refused is a compatibility bug), then the total and
per-file inspection time over three rounds (the best round counts), and the bytes inspected.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from warehouse.upload.artifacts import inspect_artifact
from warehouse.upload.errors import UploadError


def filetype(path: Path) -> str:
    return "bdist_wheel" if path.name.endswith(".whl") else "sdist"


def main(paths: list[Path]) -> None:
    refused = {}
    rounds = []
    for _ in range(3):
        times = []
        for path in paths:
            start = time.perf_counter()
            try:
                inspect_artifact(path, path.name, filetype(path))
            except UploadError as exc:
                refused[path.name] = exc.message
            times.append(time.perf_counter() - start)
        rounds.append(times)
    best = min(rounds, key=sum)
    size = sum(p.stat().st_size for p in paths)
    for name, message in sorted(refused.items()):
        print(f"refused {name}: {message}")
    print(
        f"{len(paths)} files, {size / 1e6:.1f} MB: total {sum(best) * 1000:.0f} ms, "
        f"median {statistics.median(best) * 1000:.2f} ms, max {max(best) * 1000:.1f} ms, "
        f"refused {len(refused)}"
    )


if __name__ == "__main__":
    main([Path(arg) for arg in sys.argv[1:]])
