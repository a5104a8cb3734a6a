"""Per-round ratios of one target to another from a harness results JSON, by hand.

    python3 bench/ratios.py /tmp/bench/results/warehouse-n1000.json warehouse devpi

The harness's table gives ratios to nginx; the issue's targets are ratios to devpi, and the
steadiest figure is the ratio within each interleaved round (both measured seconds apart).
Client commands (pip, uv) are compared the same way, round by round, in seconds.
"""

from __future__ import annotations

import json
import statistics
import sys


def per_round(read: dict, target: str, reference: str) -> dict[str, list[float]]:
    ratios = {}
    for test, by_target in read.items():
        if target not in by_target or reference not in by_target:
            continue
        ours = {run["round"]: run for run in by_target[target]["runs"]}
        theirs = {run["round"]: run for run in by_target[reference]["runs"]}
        ratios[test] = [
            round(ours[r]["rps"] / theirs[r]["rps"], 1)
            for r in sorted(ours)
            if r in theirs and theirs[r]["rps"]
        ]
    return ratios


def client_rounds(client: dict, target: str, reference: str) -> dict[str, list[float]]:
    """Seconds of ``target`` over ``reference`` per round, for each client command."""
    ratios = {}
    for command, by_target in client.items():
        if target not in by_target or reference not in by_target:
            continue
        pairs = zip(by_target[target]["runs"], by_target[reference]["runs"], strict=False)
        ratios[command] = [
            round(ours["seconds"] / theirs["seconds"], 2)
            for ours, theirs in pairs
            if ours["rc"] == 0 and theirs["rc"] == 0
        ]
    return ratios


def main(path: str, target: str, reference: str) -> None:
    results = json.load(open(path))
    for command, ratios in client_rounds(results.get("client") or {}, target, reference).items():
        print(
            f"client    {command:12} {target}/{reference} seconds per round {ratios} "
            f"median x{statistics.median(ratios)}"
        )
    for section in ("read", "read_big"):
        for test, ratios in per_round(results.get(section) or {}, target, reference).items():
            p99 = [run["p99_ms"] for run in results[section][test][target]["runs"]]
            print(
                f"{section:9} {test:10} {target}/{reference} per round {ratios} "
                f"median x{statistics.median(ratios)}; {target} p99 median {statistics.median(p99)} ms"
            )


if __name__ == "__main__":
    main(*sys.argv[1:4])
