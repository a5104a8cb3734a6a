"""The rules as data: ``rules/rules.toml`` (rules, pairings, patterns), ``rules/popular.txt``
and ``rules/*.yar``, loaded and compiled once per process."""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
from pathlib import Path

from warehouse.scanning.findings import SEVERITIES, Finding, Location

RULES_DIR = Path(__file__).with_name("rules")


class RulesError(Exception):
    pass


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    tag: str
    severity: str
    score: int
    message: str


@dataclasses.dataclass(frozen=True)
class RuleSet:
    version: str
    rules: dict[str, Rule]
    pairs: dict[str, frozenset[str]]  # threat tag -> capability tags it turns malicious
    secret_patterns: tuple[tuple[str, tuple[bytes, ...], re.Pattern[bytes]], ...]
    sensitive_names: frozenset[str]
    sensitive_benign_dirs: frozenset[str]
    binary_extensions: tuple[str, ...]
    entropy_min_length: int
    entropy_threshold: float
    typosquat_min_length: int
    popular: frozenset[str]
    yara_sources: dict[str, str]

    def finding(
        self,
        rule_id: str,
        member: str | None = None,
        line: int | None = None,
        detail: str | None = None,
    ) -> Finding:
        rule = self.rules[rule_id]
        message = f"{rule.message}: {detail}" if detail else rule.message
        return Finding(
            rule=rule.id,
            kind=rule.kind,
            tag=rule.tag,
            severity=rule.severity,
            score=rule.score,
            message=message,
            location=Location(member, line),
        )

    @functools.cached_property
    def yara(self):
        """The compiled YARA rules (compiled on first use, once per process), or None."""
        if not self.yara_sources:
            return None
        import yara

        return yara.compile(sources=self.yara_sources)

    @functools.cached_property
    def _secret_hint_scanner(self):
        """The secrets' hints as YARA rules (rule ``s<i>`` for ``secret_patterns[i]``): one pass
        over a member finds which patterns are worth trying, instead of one pass per hint."""
        try:
            import yara
        except ImportError:  # pragma: no cover - yara-python is a dependency
            return None
        source = "\n".join(
            f"rule s{index} {{ strings: "
            + " ".join(f"$h{i} = {yara_literal(hint)}" for i, hint in enumerate(hints))
            + " condition: any of them }"
            for index, (_, hints, _) in enumerate(self.secret_patterns)
        )
        return yara.compile(source=source)

    def hinted_secrets(self, data: bytes) -> list[tuple[str, re.Pattern[bytes]]]:
        """The secret patterns (rule id, pattern) whose hints occur in ``data``, in rule order."""
        scanner = self._secret_hint_scanner
        if scanner is not None:
            import yara

            try:
                hinted = {int(match.rule[1:]) for match in scanner.match(data=data, timeout=10)}
            except yara.Error:
                pass  # too many hits of one hint, or the timeout: one pass per hint instead
            else:
                return [
                    (rule_id, pattern)
                    for index, (rule_id, _, pattern) in enumerate(self.secret_patterns)
                    if index in hinted
                ]
        return [
            (rule_id, pattern)
            for rule_id, hints, pattern in self.secret_patterns
            if any(hint in data for hint in hints)
        ]


def yara_literal(word: bytes) -> str:
    """``word`` as a YARA text string, every byte escaped (words hold quotes, dots, anything)."""
    return '"' + "".join(f"\\x{byte:02x}" for byte in word) + '"'


def _load(directory: Path) -> RuleSet:
    try:
        data = tomllib.loads((directory / "rules.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RulesError(f"cannot read the scanning rules in {directory}: {exc}") from exc
    rules = {}
    for rule_id, spec in data["rules"].items():
        if spec["severity"] not in SEVERITIES or spec["kind"] not in ("capability", "threat"):
            raise RulesError(f"rule {rule_id} has an unknown severity or kind")
        rules[rule_id] = Rule(
            rule_id, spec["kind"], spec["tag"], spec["severity"], spec["score"], spec["message"]
        )
    popular = frozenset(
        line.strip()
        for line in (directory / "popular.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    return RuleSet(
        version=data["version"],
        rules=rules,
        pairs={p["threat"]: frozenset(p["capabilities"]) for p in data["pairs"]},
        secret_patterns=tuple(
            (
                rule_id,
                tuple(h.encode() for h in spec["hints"]),
                re.compile(spec["pattern"].encode()),
            )
            for rule_id, spec in data["secrets"].items()
        ),
        sensitive_names=frozenset(data["sensitive"]["names"]),
        sensitive_benign_dirs=frozenset(data["sensitive"]["benign_dirs"]),
        binary_extensions=tuple(data["binaries"]["extensions"]),
        entropy_min_length=data["entropy"]["min_length"],
        entropy_threshold=data["entropy"]["threshold"],
        typosquat_min_length=data["typosquat"]["min_length"],
        popular=popular,
        yara_sources={p.stem: p.read_text() for p in sorted(directory.glob("*.yar"))},
    )


@functools.cache
def load_rules(directory: str | None = None) -> RuleSet:
    return _load(Path(directory) if directory else RULES_DIR)
