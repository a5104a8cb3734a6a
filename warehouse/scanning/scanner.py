"""Scan one distribution file: walk it within limits, run the analyzers each member needs, score.

Only members that can matter are read: Python sources, ``.pth`` files, scripts and
extensionless files (for YARA), small configuration and text files (for secrets) and, in sdists,
the first bytes of members that might be compiled code. Everything else is passed over by name
(zip members are then never decompressed at all).
"""

from __future__ import annotations

import dataclasses
import io
import os
import posixpath
import time
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from warehouse.scanning import archive
from warehouse.scanning.analyzers import content, files, metadata
from warehouse.scanning.analyzers.python import analyze_python
from warehouse.scanning.findings import Finding, ScanResult
from warehouse.scanning.rules import RuleSet, load_rules
from warehouse.scanning.scoring import verdict_of

DISTRIBUTION_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar", ".egg")
_INSTALL_HOOKS = {"setup.py", "hatch_build.py", "pdm_build.py", "build_hooks.py"}
_SCRIPT_SUFFIXES = (".sh", ".bash", ".zsh", ".bat", ".cmd", ".ps1", ".psm1", ".vbs", ".js",
                    ".mjs", ".cjs", ".exe", ".dll", ".scr", ".command", ".desktop", ".service")  # fmt: skip
_CONFIG_SUFFIXES = (".cfg", ".ini", ".toml", ".yaml", ".yml", ".json", ".txt", ".conf", ".env",
                    ".pypirc", ".netrc", ".npmrc", ".properties", ".xml")  # fmt: skip
_YARA_MAX = 4 * 1024 * 1024
# Documentation travels without an extension too; its install instructions (curl ... | sh) are
# not a payload.
_DOCUMENTS = ("metadata", "pkg-info", "readme", "license", "licence", "copying", "authors",
              "changelog", "changes", "notice", "record", "wheel", "top_level", "installer",
              "requested", "contributors", "history", "news", "todo", "makefile")  # fmt: skip
_CONFIG_MAX = 512 * 1024
# An excerpt: the matched line and one on each side, each cut to a readable length.
EXCERPT_CONTEXT = 1
EXCERPT_LINE_MAX = 200


class ScanTimeout(Exception):
    """The scan went past its deadline (an upload's time budget); it is not a verdict."""


def excerpt_of(data: bytes, line: int) -> str | None:
    """The lines ``line - 1 .. line + 1`` of ``data`` as text, each at most
    ``EXCERPT_LINE_MAX`` characters, prefixed with their numbers; None if out of range."""
    first = max(1, line - EXCERPT_CONTEXT)
    start = 0
    for _ in range(first - 1):
        start = data.find(b"\n", start) + 1
        if start == 0:
            return None
    shown = []
    for number in range(first, line + EXCERPT_CONTEXT + 1):
        if start >= len(data) and number > line:
            break
        end = data.find(b"\n", start)
        raw = data[start : end if end >= 0 else len(data)]
        text = raw[: EXCERPT_LINE_MAX * 4].decode("utf-8", "replace").rstrip("\r")
        if len(text) > EXCERPT_LINE_MAX:
            text = text[:EXCERPT_LINE_MAX] + "…"
        shown.append(f"{number:>5} | {text}")
        if end < 0:
            break
        start = end + 1
    return "\n".join(shown) or None


def with_excerpts(findings: list[Finding], data: bytes) -> list[Finding]:
    return [
        dataclasses.replace(f, excerpt=excerpt_of(data, f.location.line))
        if f.location.line and f.excerpt is None
        else f
        for f in findings
    ]


def project_name(filename: str) -> str | None:
    base = os.path.basename(filename)
    try:
        if base.endswith(".whl"):
            return str(parse_wheel_filename(base)[0])
        return str(parse_sdist_filename(base)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        stem = base.split("-", 1)[0]
        return stem if stem and stem != base else None


class _FileScan:
    def __init__(
        self,
        filename: str,
        rules: RuleSet,
        limits: archive.Limits,
        deadline: float | None = None,
    ) -> None:
        self.filename = filename
        self.rules = rules
        self.limits = limits
        self.deadline = deadline
        self.is_sdist = not filename.endswith((".whl", ".egg"))
        self.findings: list[Finding] = []
        self.members = 0

    def report(self, rule: str, member: str | None, detail: str) -> None:
        self.findings.append(self.rules.finding(rule, member, None, detail))

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ScanTimeout(f"{self.filename}: not finished within the time budget")

    def wanted(self, name: str, size: int) -> int:
        self.check_deadline()
        self.members += 1
        lowered = name.lower()
        base = posixpath.basename(lowered)
        sensitive = files.analyze_name(name, name, self.rules)
        if sensitive:
            self.findings.extend(sensitive)
            return archive.WHOLE if size <= _CONFIG_MAX else archive.SKIP
        if lowered.endswith((".py", ".pyw", ".pth")):
            return archive.WHOLE
        if self.is_sdist and lowered.endswith(self.rules.binary_extensions):
            self.findings.extend(files.analyze_binary_in_sdist(name, name, b"", self.rules))
            return archive.SKIP
        if base.startswith(_DOCUMENTS) or lowered.endswith((".md", ".rst")):
            return archive.SKIP
        if lowered.endswith(_SCRIPT_SUFFIXES) or "." not in base:
            return archive.WHOLE if size <= _YARA_MAX else archive.HEAD
        if lowered.endswith(_CONFIG_SUFFIXES) and size <= _CONFIG_MAX:
            return archive.WHOLE
        return archive.SKIP

    def analyze(self, member: archive.Member) -> None:
        self.check_deadline()
        found_before = len(self.findings)
        self._analyze(member)
        if len(self.findings) > found_before:
            self.findings[found_before:] = with_excerpts(self.findings[found_before:], member.data)

    def _analyze(self, member: archive.Member) -> None:
        lowered = member.name.lower()
        data = member.data
        path = member.path
        if lowered.endswith((".py", ".pyw")):
            context = "runtime"
            parts = member.name.strip("/").split("/")
            if (
                self.is_sdist
                and member.depth == 0
                and parts[-1] in _INSTALL_HOOKS
                and len(parts) <= 2
            ):
                context = "install"
            # Entropy of string literals is judged inside (on the parsed constants): a blob only
            # matters next to code that could run it, and only parsed modules can.
            self.findings.extend(analyze_python(data, path, context, self.rules))
            self.findings.extend(content.analyze_secrets(data, path, self.rules))
            return
        if lowered.endswith(".pth"):
            self.findings.extend(content.analyze_pth(data, path, self.rules))
            return
        if self.is_sdist and files.is_binary(member.name, data[:16], self.rules):
            self.findings.extend(
                files.analyze_binary_in_sdist(member.name, path, data[:16], self.rules)
            )
        if len(data) > archive.HEAD or not member.truncated:
            self.findings.extend(content.analyze_secrets(data, path, self.rules))
            if not lowered.endswith(_CONFIG_SUFFIXES):
                self.findings.extend(content.analyze_yara(data, path, self.rules))

    def run(self, fileobj) -> None:
        name = project_name(self.filename)
        if name:
            self.findings.extend(metadata.analyze_project_name(name, self.rules))
        for member in archive.walk(fileobj, self.filename, self.wanted, self.report, self.limits):
            self.analyze(member)
        self.link_scripts()

    def link_scripts(self) -> None:
        """A shipped script that code runs is as bad as what YARA found in it."""
        flagged = [f for f in self.findings if f.rule == "yara"]
        for run in [f for f in self.findings if f.rule == "py-runs-script"]:
            script = run.message.rsplit(": ", 1)[-1].lstrip("./")
            for hit in flagged:
                if hit.location.member and hit.location.member.endswith(script):
                    self.findings.append(
                        self.rules.finding(
                            "install-runs-flagged-script",
                            run.location.member,
                            run.location.line,
                            f"{script} ({hit.message.rsplit(': ', 2)[-2]})",
                        )
                    )


def scan_bytes(
    data: bytes,
    filename: str,
    rules: RuleSet | None = None,
    limits: archive.Limits = archive.Limits(),
    deadline: float | None = None,
) -> ScanResult:
    return _scan(io.BytesIO(data), filename, rules, limits, deadline)


def scan_file(
    path: str | Path,
    rules: RuleSet | None = None,
    limits: archive.Limits = archive.Limits(),
    deadline: float | None = None,
    filename: str | None = None,
) -> ScanResult:
    """Scan one distribution file (or a lone ``.py``/``.pth`` file) on disk.

    ``deadline`` (a ``time.monotonic()`` value): raise :class:`ScanTimeout` once it has
    passed, checked between archive members. ``filename``: the distribution's name when the
    path does not end with it (an upload's scratch file, a prefetched blob).
    """
    path = Path(path)
    with path.open("rb") as fileobj:
        return _scan(fileobj, filename or str(path), rules, limits, deadline)


def _scan(
    fileobj,
    filename: str,
    rules: RuleSet | None,
    limits: archive.Limits,
    deadline: float | None = None,
) -> ScanResult:
    rules = rules or load_rules()
    started = time.perf_counter()
    base = os.path.basename(filename)
    scan = _FileScan(base, rules, limits, deadline)
    lowered = base.lower()
    if lowered.endswith((".py", ".pyw")):
        data = fileobj.read(limits.max_member_size)
        scan.findings.extend(with_excerpts(analyze_python(data, base, "runtime", rules), data))
    elif lowered.endswith(".pth"):
        data = fileobj.read(limits.max_member_size)
        scan.findings.extend(with_excerpts(content.analyze_pth(data, base, rules), data))
    else:
        scan.run(fileobj)
    score, verdict = verdict_of(scan.findings, rules)
    return ScanResult(
        file=filename,
        score=score,
        verdict=verdict,
        findings=scan.findings,
        rules_version=rules.version,
        members=scan.members,
        seconds=time.perf_counter() - started,
    )
