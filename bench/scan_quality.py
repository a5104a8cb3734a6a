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
* ``--side-by-side [--guarddog-every K]``: one run, file by file, ours then guarddog on the same
  file (guarddog in one long-lived bench/guarddog_runner.py process fed paths on stdin; every
  K-th file only when guarddog would take too long); reports CPU and wall per file for both,
  medians, the ratio, the load average, and the projection for the whole index.

Writes the figures to bench/.cache/scan_quality.json and prints a Markdown summary for
bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
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


# The projection: latest releases of every PyPI project, on the seed's 12-core node.
PROJECTS = 600_000
CORES = 12
# Files per latest release (sdist plus wheels): an assumption, not measured here.
FILES_PER_RELEASE = 2.5


def side_by_side(files: list[Path], every: int) -> list[dict]:
    """Ours and guarddog alternating, file by file, on the same files, in one run."""
    runner = subprocess.Popen(
        [str(GUARDDOG), str(REPO / "bench" / "guarddog_runner.py"), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )

    def guarddog_scan(path: Path) -> dict:
        runner.stdin.write(f"{path}\n")
        runner.stdin.flush()
        return json.loads(runner.stdout.readline())

    # Warm-up outside the clock: rules compiled, guarddog's imports and caches loaded.
    scan_file(files[0])
    children_before = guarddog_scan(files[0])["children_cpu"]
    rows = []
    for index, path in enumerate(files):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = scan_file(path)
        row = {
            "file": str(path),
            "bytes": path.stat().st_size,
            "ours_wall": time.perf_counter() - started,
            "ours_cpu": time.process_time() - started_cpu,
            "ours_verdict": result.verdict,
            "ours_findings": sorted(
                {f.rule for f in result.findings if f.severity in ("medium", "high", "critical")}
            ),
        }
        if index % every == 0:
            theirs = guarddog_scan(path)
            row["guarddog_wall"] = theirs["seconds"]
            # semgrep runs in child processes; children_cpu is cumulative in the runner.
            row["guarddog_cpu"] = theirs["cpu"] + theirs["children_cpu"] - children_before
            children_before = theirs["children_cpu"]
            row["guarddog_verdict"] = GUARDDOG_VERDICT.get(theirs["label"], "clean")
            row["guarddog_error"] = theirs["error"]
        row["load"] = os.getloadavg()[0]
        rows.append(row)
        print(f"[{index + 1}/{len(files)}] {path.name}", file=sys.stderr)
    runner.stdin.close()
    runner.wait()
    return rows


def report_side_by_side(rows: list[dict], corpus: list[Path], every: int) -> None:
    corpus_names = {str(p) for p in corpus}

    def figures(name: str, subset: list[dict], key: str) -> dict:
        cpu = sum(r[f"{key}_cpu"] for r in subset)
        wall = sum(r[f"{key}_wall"] for r in subset)
        size = sum(r["bytes"] for r in subset)
        return {
            "scanner": name,
            "files": len(subset),
            "cpu": cpu,
            "wall": wall,
            "files_per_cpu_s": len(subset) / cpu,
            "files_per_wall_s": len(subset) / wall,
            "mb_per_cpu_s": size / 1e6 / cpu,
            "median_cpu_ms": 1000 * statistics.median(r[f"{key}_cpu"] for r in subset),
            "median_wall_ms": 1000 * statistics.median(r[f"{key}_wall"] for r in subset),
        }

    def verdicts(subset: list[dict], key: str) -> str:
        mal = [r for r in subset if r["file"] in corpus_names]
        real = [r for r in subset if r["file"] not in corpus_names]

        def n(group, verdict):
            return sum(r[f"{key}_verdict"] == verdict for r in group)

        return (
            f"{pct(n(mal, 'malicious'), len(mal))} | {pct(n(mal, 'suspicious'), len(mal))} "
            f"| {pct(n(real, 'malicious'), len(real))} | {pct(n(real, 'suspicious'), len(real))}"
        )

    paired = [r for r in rows if "guarddog_cpu" in r]
    loads = [r["load"] for r in rows]
    print(
        f"Load average (1 min) during the run: median {statistics.median(loads):.1f}, "
        f"min {min(loads):.1f}, max {max(loads):.1f}\n"
    )
    print(
        "| scanner | files | corpus malicious | corpus suspicious | real malicious "
        "| real suspicious | CPU s | files/CPU-s | MB/CPU-s | wall s | files/s wall "
        "| median CPU ms/file | median wall ms/file |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    table = [
        (figures("warehouse, all files", rows, "ours"), verdicts(rows, "ours")),
        (figures(f"warehouse, 1 file in {every}", paired, "ours"), verdicts(paired, "ours")),
        (figures(f"guarddog, 1 file in {every}", paired, "guarddog"),
         verdicts(paired, "guarddog")),
    ]  # fmt: skip
    for f, v in table:
        print(
            f"| {f['scanner']} | {f['files']} | {v} | {f['cpu']:.1f} | {f['files_per_cpu_s']:.2f} "
            f"| {f['mb_per_cpu_s']:.2f} | {f['wall']:.1f} | {f['files_per_wall_s']:.2f} "
            f"| {f['median_cpu_ms']:.0f} | {f['median_wall_ms']:.0f} |"
        )
    ours_pair, theirs = table[1][0], table[2][0]
    ratios = [r["guarddog_cpu"] / r["ours_cpu"] for r in paired if r["ours_cpu"] > 0]
    print(
        f"\nSame {len(paired)} files: {theirs['cpu'] / ours_pair['cpu']:.1f}x guarddog's files "
        f"per CPU-second, {theirs['wall'] / ours_pair['wall']:.1f}x per wall second; median "
        f"of the per-file CPU ratios {statistics.median(ratios):.1f}x."
    )
    for f in (table[0][0], theirs):
        per_second = f["files_per_cpu_s"] * CORES
        hours = PROJECTS * FILES_PER_RELEASE / per_second / 3600
        print(
            f"Projection, {f['scanner']}: {f['files_per_cpu_s']:.2f} files/CPU-s x {CORES} cores "
            f"= {per_second:.0f} files/s; {PROJECTS:,} releases x {FILES_PER_RELEASE} files "
            f"= {hours:.1f} hours"
        )
    print("\nFlagged among the real files (warehouse):")
    for r in rows:
        if r["file"] not in corpus_names and r["ours_verdict"] != "clean":
            print(f"- {Path(r['file']).name}: {r['ours_verdict']} {r['ours_findings']}")
    print("Not malicious in the corpus (warehouse):")
    for r in rows:
        if r["file"] in corpus_names and r["ours_verdict"] != "malicious":
            print(f"- {Path(r['file']).name}: {r['ours_verdict']}")
    errors = [r for r in paired if r.get("guarddog_error")]
    print(f"guarddog errors: {len(errors)}", [Path(r["file"]).name for r in errors][:10])


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
    parser.add_argument("--side-by-side", action="store_true")
    parser.add_argument("--guarddog-every", type=int, default=1, metavar="K")
    args = parser.parse_args()

    if args.download:
        download(args.download)
    corpus = sorted(write_corpus(CACHE / "corpus"))
    real = sorted((CACHE / "real").glob("*")) if (CACHE / "real").is_dir() else []
    files = corpus + real
    print(f"{len(corpus)} corpus files, {len(real)} real files", file=sys.stderr)

    load_rules().yara  # noqa: B018 - compiled once, before the clock starts
    if args.side_by_side:
        if not GUARDDOG.exists():
            sys.exit("guarddog is not installed in bench/.venv-guarddog")
        rows = side_by_side(files, args.guarddog_every)
        CACHE.mkdir(exist_ok=True)
        (CACHE / "scan_side_by_side.json").write_text(json.dumps(rows, indent=1))
        report_side_by_side(rows, corpus, args.guarddog_every)
        return
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
