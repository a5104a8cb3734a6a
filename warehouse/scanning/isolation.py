"""Scan a file in a child process under a CPU-time, wall-time and memory limit.

The global scan runs hostile input by the hundred thousand: a pathological file must cost one
child, never the worker. The child sets ``RLIMIT_AS`` (memory) and ``RLIMIT_CPU`` on itself
before it reads the file; the parent waits at most ``wall_seconds`` and kills it after that.
Whatever goes wrong becomes a result with ``error`` set and a ``scan-error`` finding (verdict
suspicious: a file that could not be scanned is never called clean).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import resource
import traceback

from warehouse.scanning.archive import Limits
from warehouse.scanning.findings import Finding, Location, ScanResult
from warehouse.scanning.rules import load_rules
from warehouse.scanning.scanner import scan_file
from warehouse.scanning.scoring import verdict_of


@dataclasses.dataclass(frozen=True)
class ChildLimits:
    cpu_seconds: int = 60
    wall_seconds: float = 90.0
    memory_bytes: int = 1536 * 1024 * 1024


def _child(
    connection, path: str, child_limits: ChildLimits, limits: Limits, filename: str | None
) -> None:
    try:
        resource.setrlimit(
            resource.RLIMIT_AS, (child_limits.memory_bytes, child_limits.memory_bytes)
        )
        resource.setrlimit(
            resource.RLIMIT_CPU, (child_limits.cpu_seconds, child_limits.cpu_seconds + 1)
        )
        connection.send(("ok", scan_file(path, limits=limits, filename=filename)))
    except MemoryError:
        connection.send(("error", "memory limit reached"))
    except BaseException as exc:  # the parent records it; nothing may escape the child
        connection.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        connection.close()


def failed_result(path: str, error: str) -> ScanResult:
    rules = load_rules()
    findings: list[Finding] = [rules.finding("scan-error", None, None, error.splitlines()[0])]
    findings = [dataclasses.replace(f, location=Location(None, None)) for f in findings]
    score, verdict = verdict_of(findings, rules)
    return ScanResult(path, score, verdict, findings, rules.version, error=error)


def scan_file_isolated(
    path: str,
    child_limits: ChildLimits = ChildLimits(),
    limits: Limits = Limits(),
    filename: str | None = None,
) -> ScanResult:
    """:func:`scan_file` in a forked child with its own limits; never raises for a bad file.

    ``filename``: the distribution's name when ``path`` does not end with it."""
    _ = load_rules().yara  # compile once in the parent: every forked child inherits it
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(sender, str(path), child_limits, limits, filename)
    )
    process.start()
    sender.close()
    try:
        if receiver.poll(child_limits.wall_seconds):
            try:
                status, payload = receiver.recv()
            except EOFError:
                status, payload = "error", "child died without a result"
        else:
            status, payload = "error", f"wall-clock limit of {child_limits.wall_seconds}s reached"
    finally:
        receiver.close()
        if process.is_alive():
            process.kill()
        process.join()
    if status == "ok":
        return payload
    if process.exitcode and process.exitcode < 0 and "died" in payload:
        payload = f"child killed by signal {-process.exitcode} (CPU or memory limit)"
    return failed_result(filename or str(path), payload)
