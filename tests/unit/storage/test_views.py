import pytest

from warehouse.storage.views import _matches, _Unsatisfiable, etag_for, parse_range

DIGEST = "0123456789abcdef" * 4
KEY = f"{DIGEST[:2]}/{DIGEST[2:4]}/{DIGEST[4:]}/demo-1.0.tar.gz"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-0", (0, 0)),
        ("bytes=0-99", (0, 99)),
        ("bytes=90-200", (90, 99)),
        ("bytes=5-", (5, 99)),
        ("bytes=-1", (99, 99)),
        ("bytes=-100", (0, 99)),
        ("bytes=-500", (0, 99)),
        (" bytes=1-2 ", (1, 2)),
        ("bytes=3-2", None),
        ("bytes=0-1,3-4", None),
        ("bytes=-", None),
        ("bytes=a-b", None),
        ("lines=0-1", None),
    ],
)
def test_parse_range(header, expected):
    assert parse_range(header, 100) == expected


@pytest.mark.parametrize(
    ("header", "size"),
    [
        ("bytes=100-", 100),
        ("bytes=100-200", 100),
        ("bytes=-0", 100),
        ("bytes=0-", 0),
        ("bytes=-5", 0),
    ],
)
def test_unsatisfiable_range(header, size):
    with pytest.raises(_Unsatisfiable):
        parse_range(header, size)


def test_etag_for_content_addressed_keys():
    assert etag_for(KEY, 10, 1.5) == f'"{DIGEST}"'
    assert etag_for(KEY + ".metadata", 10, 1.5) == f'"{DIGEST}-metadata"'


def test_etag_for_other_keys_changes_with_size_and_mtime():
    etag = etag_for("legacy/demo.zip", 10, 1.5)
    assert etag.startswith('"') and etag.endswith('"')
    assert etag != etag_for("legacy/demo.zip", 11, 1.5)
    assert etag != etag_for("legacy/demo.zip", 10, 1.6)


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match(header, matches):
    assert _matches(header, '"abc"') is matches
