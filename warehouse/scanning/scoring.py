"""From findings to a score and a verdict.

A critical finding is malicious by itself (its rule already pairs a capability with intent, e.g.
exec of decoded data). Otherwise a member (one file) is malicious when it holds a threat and a
capability that ``rules.toml``'s ``pairs`` put together; a threat of medium severity or more
anywhere, or threats adding up to 50 or more, are suspicious; anything else is clean, whatever
capabilities the code has.
"""

from __future__ import annotations

from collections import defaultdict

from warehouse.scanning.findings import SEVERITIES, Finding
from warehouse.scanning.rules import RuleSet

_MEDIUM = SEVERITIES.index("medium")
SUSPICIOUS_SCORE = 50


CAPABILITY_CAP = 20


def score_of(findings: list[Finding]) -> int:
    """Threats add up (one rule counts once per member); capabilities add at most
    ``CAPABILITY_CAP``: a large library doing many ordinary things is not a threat."""
    threats = {(f.rule, f.location.member): f.score for f in findings if f.kind == "threat"}
    capabilities = {(f.rule, f.location.member): f.score for f in findings if f.kind != "threat"}
    return min(100, sum(threats.values()) + min(CAPABILITY_CAP, sum(capabilities.values())))


def malicious_pairs(findings: list[Finding], rules: RuleSet) -> list[tuple[str, str, str]]:
    """(member, threat tag, capability tag) for every pairing the rules call malicious."""
    by_member: dict[str | None, tuple[set[str], set[str]]] = defaultdict(lambda: (set(), set()))
    for finding in findings:
        threats, capabilities = by_member[finding.location.member]
        (threats if finding.kind == "threat" else capabilities).add(finding.tag)
    pairs = []
    for member, (threats, capabilities) in by_member.items():
        for threat in sorted(threats):
            for capability in sorted(rules.pairs.get(threat, frozenset()) & capabilities):
                pairs.append((member or "", threat, capability))
    return pairs


def verdict_of(findings: list[Finding], rules: RuleSet) -> tuple[int, str]:
    score = score_of(findings)
    if any(f.severity == "critical" for f in findings) or malicious_pairs(findings, rules):
        return max(score, 80), "malicious"
    threat_score = score_of([f for f in findings if f.kind == "threat"])
    if threat_score >= SUSPICIOUS_SCORE or any(
        f.kind == "threat" and SEVERITIES.index(f.severity) >= _MEDIUM for f in findings
    ):
        return score, "suspicious"
    return score, "clean"
