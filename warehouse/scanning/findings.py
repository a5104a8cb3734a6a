"""What a scan reports: findings (one rule matched at one place) and a file's result."""

from __future__ import annotations

import dataclasses
from typing import Any

SEVERITIES = ("info", "low", "medium", "high", "critical")
VERDICTS = ("clean", "suspicious", "malicious")


@dataclasses.dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: the member path inside the archive (``a.tar.gz!inner.zip!x.py`` for
    nested archives) and, for text, the 1-based line."""

    member: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"member": self.member, "line": self.line}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    kind: str  # capability | threat
    tag: str
    severity: str
    score: int
    message: str
    location: Location
    # The lines around ``location.line`` as the file has them (see scanner.excerpt_of).
    excerpt: str | None = None

    def as_dict(self, excerpt: bool = False) -> dict[str, Any]:
        """The finding as ``scan file --json`` prints it (``excerpt``: with the lines too)."""
        found = {
            "rule": self.rule,
            "severity": self.severity,
            "score": self.score,
            "message": self.message,
            "location": self.location.as_dict(),
        }
        if excerpt:
            found["excerpt"] = self.excerpt
        return found


@dataclasses.dataclass(slots=True)
class ScanResult:
    file: str
    score: int
    verdict: str
    findings: list[Finding]
    rules_version: str
    members: int = 0
    seconds: float = 0.0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "score": self.score,
            "verdict": self.verdict,
            "rules_version": self.rules_version,
            "findings": [f.as_dict() for f in self.findings],
            **({"error": self.error} if self.error else {}),
        }
