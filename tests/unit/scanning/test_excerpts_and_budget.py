"""What the database keeps of a finding (the lines around it), the upload's time budget, and
the indexed typosquat lookup."""

from __future__ import annotations

import time

import pytest

from tests.unit.scanning.conftest import make_zip
from warehouse.scanning.analyzers.metadata import squatted, within_one_edit
from warehouse.scanning.scanner import EXCERPT_LINE_MAX, ScanTimeout, excerpt_of, scan_bytes

EXEC = b"import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\nx = 1\ny = 2\n"


def test_excerpt_is_the_line_and_its_neighbours_numbered():
    assert excerpt_of(EXEC, 2) == (
        "    1 | import base64\n    2 | exec(base64.b64decode('cHJpbnQoMSk='))\n    3 | x = 1"
    )
    assert excerpt_of(EXEC, 1).splitlines()[0] == "    1 | import base64"
    assert excerpt_of(b"a\nb", 2) == "    1 | a\n    2 | b"
    assert excerpt_of(EXEC, 99) is None


def test_long_and_undecodable_lines_are_cut_and_replaced():
    data = b"x = '" + b"A" * 5000 + b"'\nexec(\xff\xfe)\n"
    first, second = excerpt_of(data, 2).splitlines()
    assert first.endswith("…") and len(first) == len("    1 | ") + EXCERPT_LINE_MAX + 1
    assert second == "    2 | exec(\ufffd\ufffd)"


def test_findings_of_an_archive_member_carry_their_excerpt(rules):
    archive = make_zip([("pkg/__init__.py", EXEC)])
    result = scan_bytes(archive, "pkg-1.0-py3-none-any.whl", rules)
    finding = next(f for f in result.findings if f.rule == "py-exec-decoded")
    assert finding.location.line == 2
    assert "exec(base64.b64decode(" in finding.excerpt
    assert "excerpt" not in finding.as_dict()  # scan file --json prints what issue 14 says
    assert finding.as_dict(excerpt=True)["excerpt"] == finding.excerpt


def test_a_scan_past_its_deadline_raises_instead_of_answering(rules):
    archive = make_zip([(f"pkg/m{i}.py", b"x = 1\n") for i in range(50)])
    with pytest.raises(ScanTimeout):
        scan_bytes(archive, "pkg-1.0-py3-none-any.whl", rules, deadline=time.monotonic() - 1)
    assert scan_bytes(archive, "pkg-1.0-py3-none-any.whl", rules, deadline=time.monotonic() + 60)


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("reqeusts", "requests"),  # neighbours swapped
        ("requestss", "requests"),  # one added
        ("reqests", "requests"),  # one removed
        ("python-requests", "requests"),  # an affix
        ("requests-py", "requests"),
        ("requests", None),  # the popular name itself
        ("entirely-unrelated-name", None),
    ],
)
def test_typosquats_are_found_through_the_index(rules, name, target):
    assert "requests" in rules.popular
    assert squatted(name, rules) == target
    if target:
        assert within_one_edit(name, target) or name.endswith(target) or name.startswith(target)
