"""Scanner quality and speed, side by side with guarddog, by hand.

    .venv/bin/python bench/scan_quality.py [--download 300] [--guarddog] [--isolated]

* Builds the inert malware corpus (tests/corpus/scanning/build.py) into bench/.cache/corpus.
* ``--download N``: fetches the latest files of the first N popular projects
  (warehouse/scanning/rules/popular.txt, minus multi-hundred-megabyte GPU/ML wheels) with
  ``pip download --no-deps`` into bench/.cache/real (git-ignored; kept between runs).
* Scans every corpus and real file in this process and reports: detection rate on the corpus
  (malicious / suspicious), false positives on the real files, files/s and MB/s by wall clock
  and by CPU time (the machine is shared, so CPU time is the figure to compare).
* ``--guarddog``: runs guarddog 3.x (bench/.venv-guarddog, created with
  ``python3 -m venv bench/.venv-guarddog && bench/.venv-guarddog/bin/pip install guarddog``)
  over the same files through bench/guarddog_runner.py and reports the same figures, guarddog's
  ``high_risk`` label counting as malicious and ``suspicious`` as suspicious.
* ``--isolated``: also times ``scan_file_isolated`` (one forked child per file under limits).

Writes the figures to bench/.cache/scan_quality.json and prints a Markdown summary for
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.corpus.scanning.build import write_corpus  # noqa: E402
from warehouse.scanning.isolation import scan_file_isolated  # noqa: E402
from warehouse.scanning.rules import RULES_DIR, load_rules  # noqa: E402
from warehouse.scanning.scanner import scan_file  # noqa: E402

CACHE = REPO / "bench" / ".cache"
GUARDDOG = REPO / "bench" / ".venv-guarddog" / "bin" / "python"
# Wheels of hundreds of megabytes to gigabytes (CUDA, ML runtimes): left out of the download.
TOO_BIG = {"torch", "torchvision", "tensorflow", "triton", "jax", "jaxlib", "pyspark", "xgboost",
           "opencv-python", "pywin32", "lightgbm", "llvmlite", "numba", "scipy", "keras",
           "tensorboard", "transformers", "playwright", "awscli"}  # fmt: skip
GUARDDOG_VERDICT = {"high_risk": "malicious", "suspicious": "suspicious"}


def download(count: int) -> None:
    target = CACHE / "real"
    target.mkdir(parents=True, exist_ok=True)
    names = [
        line.strip()
        for line in (RULES_DIR / "popular.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    names = [n for n in names if n not in TOO_BIG and not n.startswith("nvidia-")][:count]
    for index, name in enumerate(names, 1):
        print(f"[{index}/{len(names)}] pip download {name}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(target), name],
            check=False,
            timeout=300,
        )


def ours(files: list[Path], isolated: bool) -> dict:
    verdicts, seconds, cpu, findings, per_file = {}, 0.0, 0.0, {}, {}
    for path in files:
        started, started_cpu = time.perf_counter(), time.process_time()
        result = scan_file_isolated(str(path)) if isolated else scan_file(path)
        seconds += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
        per_file[str(path)] = time.process_time() - started_cpu
        verdicts[str(path)] = result.verdict
        findings[str(path)] = sorted(
            {f.rule for f in result.findings if f.severity in ("medium", "high", "critical")}
        )
    return {
        "verdicts": verdicts,
        "seconds": seconds,
        "cpu": cpu,
        "findings": findings,
        "per_file_cpu": per_file,
    }


def guarddog(files: list[Path], saved: list[Path]) -> dict | None:
    """guarddog's figures: from JSON lines saved by an earlier guarddog_runner.py run over the
    same files (``--guarddog-jsonl``; guarddog takes long), or by running it now."""
    if not saved and not GUARDDOG.exists():
        return None
    verdicts, seconds, cpu, per_file = {}, 0.0, 0.0, {}
    outputs = [p.read_text() for p in saved]
    for start in range(0, len(files), 50) if not saved else ():
        chunk = [str(p) for p in files[start : start + 50]]
        outputs.append(
            subprocess.run(
                [str(GUARDDOG), str(REPO / "bench" / "guarddog_runner.py"), *chunk],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
        )
    wanted = {str(p.resolve()) for p in files}
    for output in outputs:
        children_before = 0.0
        for line in output.splitlines():
            row = json.loads(line)
            row["file"] = str(Path(row["file"]).resolve())
            if row["file"] not in wanted:
                continue
            per_file[row["file"]] = row["cpu"] + row["children_cpu"] - children_before
            verdicts[row["file"]] = GUARDDOG_VERDICT.get(row["label"], "clean")
            seconds += row["seconds"]
            # children_cpu is cumulative within one runner process.
            cpu += row["cpu"] + row["children_cpu"] - children_before
            children_before = row["children_cpu"]
    return {"verdicts": verdicts, "seconds": seconds, "cpu": cpu, "per_file_cpu": per_file}


def summarize(name: str, run: dict, corpus: list[Path], real: list[Path]) -> dict:
    def count(paths):
        return collections.Counter(run["verdicts"].get(str(p), "missing") for p in paths)

    corpus_counts, real_counts = count(corpus), count(real)
    total_bytes = sum(p.stat().st_size for p in corpus + real)
    files = len(corpus) + len(real)
    return {
        "scanner": name,
        "corpus_files": len(corpus),
        "corpus_malicious": corpus_counts["malicious"],
        "corpus_suspicious": corpus_counts["suspicious"],
        "real_files": len(real),
        "real_malicious": real_counts["malicious"],
        "real_suspicious": real_counts["suspicious"],
        "wall_seconds": round(run["seconds"], 2),
        "cpu_seconds": round(run["cpu"], 2),
        "files_per_cpu_second": round(files / run["cpu"], 2) if run["cpu"] else None,
        "mb_per_cpu_second": round(total_bytes / 1e6 / run["cpu"], 2) if run["cpu"] else None,
        "files_per_wall_second": round(files / run["seconds"], 2) if run["seconds"] else None,
    }


def pct(n: int, d: int) -> str:
    return f"{n}/{d} ({100 * n / d:.1f}%)" if d else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--download", type=int, default=0, metavar="N")
    parser.add_argument("--guarddog", action="store_true")
    parser.add_argument("--isolated", action="store_true")
    parser.add_argument(
        "--guarddog-jsonl",
        type=Path,
        nargs="*",
        default=[],
        help="reuse guarddog_runner.py output instead of running guarddog again",
    )
    args = parser.parse_args()

    if args.download:
        download(args.download)
    corpus = sorted(write_corpus(CACHE / "corpus"))
    real = sorted((CACHE / "real").glob("*")) if (CACHE / "real").is_dir() else []
    files = corpus + real
    print(f"{len(corpus)} corpus files, {len(real)} real files", file=sys.stderr)

    load_rules().yara  # noqa: B018 - compiled once, before the clock starts
    runs = {"warehouse": ours(files, isolated=False)}
    if args.isolated:
        runs["warehouse (isolated child per file)"] = ours(files, isolated=True)
    if args.guarddog or args.guarddog_jsonl:
        result = guarddog(files, args.guarddog_jsonl)
        if result is None:
            print("guarddog is not installed in bench/.venv-guarddog", file=sys.stderr)
        else:
            runs["guarddog"] = result
    summaries = [summarize(name, run, corpus, real) for name, run in runs.items()]

    CACHE.mkdir(exist_ok=True)
    (CACHE / "scan_quality.json").write_text(
        json.dumps({"summaries": summaries, "runs": runs}, indent=1, default=str)
    )
    print(
        "| scanner | corpus malicious | corpus suspicious | real malicious | real suspicious "
        "| CPU s | files/CPU-s | MB/CPU-s | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for s in summaries:
        print(
            f"| {s['scanner']} | {pct(s['corpus_malicious'], s['corpus_files'])} "
            f"| {pct(s['corpus_suspicious'], s['corpus_files'])} "
            f"| {pct(s['real_malicious'], s['real_files'])} "
            f"| {pct(s['real_suspicious'], s['real_files'])} | {s['cpu_seconds']} "
            f"| {s['files_per_cpu_second']} | {s['mb_per_cpu_second']} | {s['wall_seconds']} |"
        )
    ours_run = runs["warehouse"]
    print("\nNot malicious in the corpus (warehouse):")
    for path in corpus:
        verdict = ours_run["verdicts"][str(path)]
        if verdict != "malicious":
            print(f"- {path.name}: {verdict}")
    print("\nFlagged among the real files (warehouse):")
    for path in real:
        verdict = ours_run["verdicts"][str(path)]
        if verdict != "clean":
            print(f"- {path.name}: {verdict} {ours_run['findings'][str(path)]}")
    if "guarddog" in runs:
        theirs = runs["guarddog"]["per_file_cpu"]
        both = [f for f in theirs if f in ours_run["per_file_cpu"]]
        ours_cpu = sum(ours_run["per_file_cpu"][f] for f in both)
        their_cpu = sum(theirs[f] for f in both)
        print(
            f"\nSame {len(both)} files: warehouse {ours_cpu:.1f} CPU-s, guarddog "
            f"{their_cpu:.1f} CPU-s: {their_cpu / ours_cpu:.1f}x guarddog's files/s"
        )
        gd = runs["guarddog"]["verdicts"]
        print(
            "\nguarddog, corpus not high_risk:",
            [p.name for p in corpus if gd.get(str(p)) != "malicious"],
        )
        print(
            "guarddog, real flagged:",
            [f"{p.name}: {gd.get(str(p))}" for p in real if gd.get(str(p)) != "clean"],
        )


if __name__ == "__main__":
    main()
