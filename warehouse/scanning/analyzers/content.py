"""Content analyzers for any member: .pth import lines, high-entropy blobs, secrets, YARA."""

from __future__ import annotations

from warehouse.scanning.analyzers.python import analyze_python, long_literals, shannon_entropy
from warehouse.scanning.findings import Finding
from warehouse.scanning.rules import RuleSet


def analyze_pth(data: bytes, member: str, rules: RuleSet) -> list[Finding]:
    """site.py executes every line of a .pth file that starts with ``import``; the rest are paths."""
    findings: list[Finding] = []
    code_lines = []
    for number, raw in enumerate(data.splitlines(), 1):
        line = raw.strip()
        if line.startswith((b"import ", b"import\t")):
            findings.append(rules.finding("pth-exec", member, number, line[:100].decode("latin-1")))
            code_lines.append((number, raw))
    for number, raw in code_lines:
        for finding in analyze_python(raw.strip(), member, "startup", rules):
            # Each import line is parsed alone: put the finding back on its line of the file.
            findings.append(
                rules.finding(finding.rule, member, number, finding.message.split(": ", 1)[-1])
                if finding.location.line == 1
                else finding
            )
    return findings


def analyze_entropy(data: bytes, member: str, rules: RuleSet) -> list[Finding]:
    findings = []
    for line, text in long_literals(data, rules.entropy_min_length):
        entropy = shannon_entropy(text[:65536])
        if entropy >= rules.entropy_threshold:
            findings.append(
                rules.finding(
                    "entropy-blob", member, line, f"{len(text)} characters, entropy {entropy:.2f}"
                )
            )
            if len(findings) >= 5:
                break
    return findings


_TEST_DIRS = {
    "test",
    "tests",
    "testing",
    "selftest",
    "fixtures",
    "testdata",
    "test_data",
    "vectors",
}


def analyze_secrets(data: bytes, member: str, rules: RuleSet) -> list[Finding]:
    findings = []
    # Test suites of TLS, SSH and crypto libraries carry throwaway keys: a key there is a
    # fixture, while a token is a leak wherever it is.
    in_tests = bool(_TEST_DIRS.intersection(member.lower().replace("\\", "/").split("/")[:-1]))
    for rule_id, pattern in rules.hinted_secrets(data):
        if in_tests and rule_id == "secret-private-key":
            continue
        match = pattern.search(data)
        if match:
            line = data.count(b"\n", 0, match.start()) + 1
            shown = match.group()[:12].decode("latin-1") + "…"
            findings.append(rules.finding(rule_id, member, line, shown))
    return findings


def analyze_yara(data: bytes, member: str, rules: RuleSet) -> list[Finding]:
    compiled = rules.yara
    if compiled is None:
        return []
    findings = []
    for match in compiled.match(data=data, timeout=10):
        line = None
        if match.strings and match.strings[0].instances:
            offset = match.strings[0].instances[0].offset
            line = data.count(b"\n", 0, offset) + 1
        description = match.meta.get("description", match.rule)
        findings.append(rules.finding("yara", member, line, f"{match.rule}: {description}"))
    return findings
