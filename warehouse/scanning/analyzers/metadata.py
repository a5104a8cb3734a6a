"""The project name: a standard library module's, or one edit away from a popular project's."""

from __future__ import annotations

import functools
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


def _deletions(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


@functools.lru_cache(maxsize=4)
def _popular_index(popular: frozenset[str], min_length: int):
    """Lookups that answer :func:`squatted` without comparing against every popular name:
    each name and its one-deletion variants (any name within one edit shares a key with it),
    its dash-less spelling, and its affixed forms."""
    near: dict[str, set[str]] = {}
    exact: dict[str, set[str]] = {}
    for name in popular:
        if len(name) < min_length:
            continue
        for key in {name} | _deletions(name):
            near.setdefault(key, set()).add(name)
        forms = {name.replace("-", "")}
        forms.update(prefix + name for prefix in _PREFIXES)
        forms.update(name + suffix for suffix in _SUFFIXES)
        for form in forms:
            exact.setdefault(form, set()).add(name)
    return near, exact


def squatted(name: str, rules: RuleSet) -> str | None:
    """The popular project ``name`` imitates, or None (the first by name if several)."""
    if name in rules.popular or len(name) < rules.typosquat_min_length:
        return None
    near, exact = _popular_index(rules.popular, rules.typosquat_min_length)
    found = set(exact.get(name, ())) | set(exact.get(name.replace("-", ""), ()))
    for key in {name} | _deletions(name):
        found.update(p for p in near.get(key, ()) if within_one_edit(name, p))
    return min(found) if found else None


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
