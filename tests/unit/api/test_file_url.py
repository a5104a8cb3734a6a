"""file_url: the fast path for paths that need no quoting gives what quote() gives."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from warehouse.api.common import file_url

PATHS = [
    "ab/cd/0123abcdef/botocore-1.34.0-py3-none-any.whl",
    "ab/cd/0123abcdef/pkg_name-1.0+local.7-cp312-cp312-manylinux_2_17_x86_64.whl",
    "ab/cd/ef/Some.Project~1.0.tar.gz",
    "ab/cd/ef/with space-1.0.tar.gz",
    "ab/cd/ef/percent%20-1.0.tar.gz",
    "ab/cd/ef/hash#and?query-1.0.tar.gz",
    "ab/cd/ef/caf\u00e9-1.0.tar.gz",
    'ab/cd/ef/quote"s-1.0.tar.gz',
    "",
]


@pytest.mark.parametrize("path", PATHS)
def test_file_url_is_what_quote_gives(path):
    assert file_url("https://files.example", path) == (
        f"https://files.example/packages/{quote(path, safe='/+')}"
    )
