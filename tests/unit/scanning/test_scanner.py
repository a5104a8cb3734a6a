"""Whole files: the corpus, benign packages, verdict pairing, the CLI, child isolation, mirrors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.corpus.scanning.build import SAMPLES, build_all, build_sdist, build_wheel
from tests.unit.scanning.conftest import make_tar, make_zip
from warehouse.cli import main
from warehouse.scanning.archive import Limits
from warehouse.scanning.isolation import ChildLimits, scan_file_isolated
from warehouse.scanning.mirror import MirrorError, latest_files
from warehouse.scanning.scanner import scan_bytes, scan_file
from warehouse.scanning.scoring import verdict_of

BENIGN_SETUP = textwrap.dedent(
    """
    import os, subprocess, sys
    from setuptools import setup
    here = os.path.dirname(__file__)
    exec(open(os.path.join(here, "tidy", "version.py")).read())
    subprocess.check_call(["git", "describe"])
    setup(name="tidy-things", version=__version__)
    """
).encode()
BENIGN_MODULE = textwrap.dedent(
    """
    import base64, json, os, subprocess, urllib.request

    def fetch(url):
        with urllib.request.urlopen(url) as response:
            return json.load(response)

    def run(cmd):
        env = os.environ.copy()
        return subprocess.run(cmd, env=env, check=True)

    def token():
        return base64.b64decode(os.environ["TIDY_TOKEN"])
    """
).encode()


@pytest.mark.parametrize("built", build_all(), ids=lambda b: b[1] if isinstance(b, str) else None)
def test_every_corpus_sample_is_malicious(built, rules):
    sample, filename, data = built
    result = scan_bytes(data, filename, rules)
    assert result.verdict == "malicious", (sample.technique, [f.as_dict() for f in result.findings])
    assert result.rules_version == rules.version


def test_corpus_covers_each_technique_as_sdist_and_wheel():
    techniques = " ".join(s.technique for s in SAMPLES)
    for word in (
        "install hook",
        "base64",
        "zlib",
        "marshal",
        "environment",
        "SSH",
        ".pth",
        "typosquat",
    ):
        assert word in techniques
    assert build_sdist(SAMPLES[0])[0].endswith(".tar.gz")
    assert build_wheel(SAMPLES[0])[0].endswith(".whl")


def test_a_benign_sdist_and_wheel_are_clean(rules):
    sdist = make_tar(
        [
            ("tidy_things-1.0/setup.py", BENIGN_SETUP),
            ("tidy_things-1.0/tidy/__init__.py", BENIGN_MODULE),
            ("tidy_things-1.0/tidy/version.py", b"__version__ = '1.0'\n"),
        ]
    )
    result = scan_bytes(sdist, "tidy_things-1.0.tar.gz", rules)
    assert result.verdict == "clean", [f.as_dict() for f in result.findings]
    wheel = make_zip(
        [
            ("tidy/__init__.py", BENIGN_MODULE),
            ("tidy-1.0.dist-info/METADATA", b"Name: tidy-things\n"),
        ]
    )
    assert scan_bytes(wheel, "tidy_things-1.0-py3-none-any.whl", rules).verdict == "clean"


def test_suspicious_without_pairing_and_location_of_findings(rules):
    sdist = make_tar(
        [
            ("tidy_things-1.0/setup.py", b"from setuptools import setup\nsetup()\n"),
            ("tidy_things-1.0/.pypirc", b"[pypi]\npassword = x\n"),
            ("tidy_things-1.0/tidy/_speedups.so", b"\x7fELF"),
        ]
    )
    result = scan_bytes(sdist, "tidy_things-1.0.tar.gz", rules)
    assert result.verdict == "suspicious"
    by_rule = {f.rule: f.location.member for f in result.findings}
    assert by_rule == {
        "sensitive-file": "tidy_things-1.0/.pypirc",
        "binary-in-sdist": "tidy_things-1.0/tidy/_speedups.so",
    }


def test_capability_alone_is_clean_and_paired_with_a_threat_is_malicious(rules):
    network = rules.finding("py-network", "a.py", 3)
    startup = rules.finding("pth-exec", "a.py", 1)
    assert verdict_of([network], rules)[1] == "clean"
    assert verdict_of([network, startup], rules)[1] == "malicious"
    # In different files the two do not pair.
    elsewhere = rules.finding("pth-exec", "b.py", 1)
    assert verdict_of([network, elsewhere], rules)[1] == "clean"
    assert verdict_of([rules.finding("typosquat")], rules)[1] == "suspicious"
    assert verdict_of([rules.finding("py-exec-decoded", "a.py", 1)], rules) == (80, "malicious")


def test_nested_malware_is_found_with_its_path(rules):
    _, inner = build_wheel(SAMPLES[1])
    outer = make_zip([("vendor/inner-1.0-py3-none-any.whl", inner)])
    result = scan_bytes(outer, "outer_pkg-1.0-py3-none-any.whl", rules)
    assert result.verdict == "malicious"
    members = {f.location.member for f in result.findings if f.rule == "py-exec-decoded"}
    assert members == {"vendor/inner-1.0-py3-none-any.whl!colourama/__init__.py"}


def test_hostile_archive_gives_a_verdict_not_an_exception(rules):
    bomb = make_zip([("a.py", b"\0" * (20 * 1024 * 1024))])
    limits = Limits(ratio_floor=1024 * 1024)
    result = scan_bytes(bomb, "bomb-1.0-py3-none-any.whl", rules, limits)
    assert result.verdict == "suspicious"
    assert "archive-limit" in {f.rule for f in result.findings}


def _write(tmp_path: Path, built) -> Path:
    path = tmp_path / built[0]
    path.write_bytes(built[1])
    return path


def test_cli_scan_file_json(tmp_path):
    evil = _write(tmp_path, build_sdist(SAMPLES[1]))
    result = CliRunner().invoke(main, ["scan", "file", str(evil), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output.strip().splitlines()[0])
    assert set(document) >= {"file", "score", "verdict", "findings", "rules_version"}
    assert document["verdict"] == "malicious"
    finding = next(f for f in document["findings"] if f["rule"] == "py-exec-decoded")
    assert set(finding) == {"rule", "severity", "score", "message", "location"}
    assert finding["location"] == {"member": "colourama-1.0.0/setup.py", "line": 9}


def test_cli_scan_file_text_and_missing_file(tmp_path):
    evil = _write(tmp_path, build_wheel(SAMPLES[0]))
    result = CliRunner().invoke(main, ["scan", "file", str(evil)])
    assert result.exit_code == 0 and result.output.startswith("MALICIOUS")
    missing = CliRunner().invoke(main, ["scan", "file", str(tmp_path / "nope.whl")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_isolated_scan_matches_in_process_scan(tmp_path, rules):
    evil = _write(tmp_path, build_sdist(SAMPLES[2]))
    isolated = scan_file_isolated(str(evil))
    direct = scan_file(evil)
    assert (
        (isolated.verdict, isolated.score)
        == (direct.verdict, direct.score)
        == ("malicious", direct.score)
    )
    assert [f.rule for f in isolated.findings] == [f.rule for f in direct.findings]


def test_isolated_scan_survives_memory_and_time_limits(tmp_path):
    # A 40 MB member: larger than glibc's largest mmap threshold, so reading it always asks the
    # kernel for new address space, which the child's limit refuses.
    path = tmp_path / "big-1.0.tar.gz"
    path.write_bytes(make_tar([("big-1.0/data.py", b"x = 1\n" * (7 * 1024 * 1024))]))
    limits = Limits(max_member_size=64 * 1024 * 1024, max_ratio=10**6)
    starved = scan_file_isolated(str(path), ChildLimits(memory_bytes=1024 * 1024), limits)
    assert starved.error and starved.verdict == "suspicious"
    assert [f.rule for f in starved.findings] == ["scan-error"]
    small = _write(tmp_path, build_sdist(SAMPLES[2]))
    slow = scan_file_isolated(str(small), ChildLimits(wall_seconds=0.0))
    assert "wall-clock" in slow.error and slow.verdict == "suspicious"


def _mirror(tmp_path: Path) -> Path:
    root = tmp_path / "mirror"
    (root / "web" / "json").mkdir(parents=True)
    packages = root / "web" / "packages" / "ab" / "cd"
    packages.mkdir(parents=True)
    name, data = build_wheel(SAMPLES[1])
    (packages / name).write_bytes(data)
    old = "colourama-0.9-py3-none-any.whl"
    document = {
        "info": {"name": "colourama", "version": "1.0.0"},
        "releases": {
            "0.9": [{"url": f"https://files.example.invalid/packages/ab/cd/{old}"}],
            "1.0.0": [
                {"url": f"https://files.example.invalid/packages/ab/cd/{name}"},
                {"url": "https://files.example.invalid/packages/ab/cd/colourama-1.0.0.tar.gz"},
            ],
        },
    }
    (root / "web" / "json" / "colourama").write_text(json.dumps(document))
    (root / "web" / "json" / "broken").write_text("{not json")
    return root


def test_mirror_lists_latest_release_files(tmp_path):
    files = list(latest_files(_mirror(tmp_path)))
    assert [(f.project, f.version, f.path.name, f.present) for f in files] == [
        ("colourama", "1.0.0", "colourama-1.0.0-py3-none-any.whl", True),
        ("colourama", "1.0.0", "colourama-1.0.0.tar.gz", False),
    ]
    with pytest.raises(MirrorError):
        list(latest_files(tmp_path))


def test_cli_scan_mirror(tmp_path):
    result = CliRunner().invoke(main, ["scan", "mirror", str(_mirror(tmp_path)), "--json"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [(Path(d["file"]).name, d["verdict"]) for d in lines] == [
        ("colourama-1.0.0-py3-none-any.whl", "malicious"),
        ("colourama-1.0.0.tar.gz", "suspicious"),
    ]
    assert "missing" in lines[1]["error"]
