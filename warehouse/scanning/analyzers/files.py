"""What a member's name and first bytes say: credentials files, compiled code in an sdist."""

from __future__ import annotations

import posixpath

from warehouse.scanning.findings import Finding
from warehouse.scanning.rules import RuleSet

_BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe")


def analyze_name(member_name: str, display: str, rules: RuleSet) -> list[Finding]:
    parts = member_name.replace("\\", "/").lower().split("/")
    base = parts[-1]
    if base in rules.sensitive_names or base.startswith(".env.") and base != ".env.example":
        if base.startswith(".env") and rules.sensitive_benign_dirs.intersection(parts[:-1]):
            return []
        return [rules.finding("sensitive-file", display, None, base)]
    return []


def is_binary(member_name: str, head: bytes, rules: RuleSet) -> bool:
    lowered = member_name.lower()
    if lowered.endswith(rules.binary_extensions):
        return True
    return head.startswith(_BINARY_MAGIC) and posixpath.splitext(lowered)[1] not in (
        ".txt", ".md", ".rst", ".py",
    )  # fmt: skip


def analyze_binary_in_sdist(member_name: str, display: str, head: bytes, rules: RuleSet):
    if is_binary(member_name, head, rules):
        return [rules.finding("binary-in-sdist", display, None, member_name.rsplit("/", 1)[-1])]
    return []
