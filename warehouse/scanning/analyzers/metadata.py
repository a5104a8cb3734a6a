"""The project name: a standard library module's, or one edit away from a popular project's."""

from __future__ import annotations

import sys

from packaging.utils import canonicalize_name

from warehouse.scanning.findings import Finding
from warehouse.scanning.rules import RuleSet

_STDLIB = frozenset(canonicalize_name(n) for n in sys.stdlib_module_names if not n.startswith("_"))
_PREFIXES = ("python-", "python3-", "py-", "py", "lib")
_SUFFIXES = ("-python", "-py", "-dev", "-lib", "3", "2")


def within_one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein distance of at most one (a swap of neighbours counts as one)."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diffs = [i for i in range(la) if a[i] != b[i]]
        if len(diffs) == 1:
            return True
        return (
            len(diffs) == 2
            and diffs[1] == diffs[0] + 1
            and a[diffs[0]] == b[diffs[1]]
            and a[diffs[1]] == b[diffs[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


def squatted(name: str, rules: RuleSet) -> str | None:
    """The popular project ``name`` imitates, or None."""
    if name in rules.popular or len(name) < rules.typosquat_min_length:
        return None
    for popular in rules.popular:
        if len(popular) < rules.typosquat_min_length:
            continue
        if within_one_edit(name, popular):
            return popular
        if name.replace("-", "") == popular.replace("-", ""):
            return popular
        if any(name == prefix + popular for prefix in _PREFIXES) or any(
            name == popular + suffix for suffix in _SUFFIXES
        ):
            return popular
    return None


def analyze_project_name(raw_name: str, rules: RuleSet) -> list[Finding]:
    name = canonicalize_name(raw_name)
    if name in rules.popular:
        return []
    findings = []
    if name in _STDLIB:
        findings.append(rules.finding("name-shadows-stdlib", None, None, name))
    target = squatted(name, rules)
    if target:
        findings.append(rules.finding("typosquat", None, None, f"{name} imitates {target}"))
    return findings
