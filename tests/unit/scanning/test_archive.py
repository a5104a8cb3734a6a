"""Hostile archives: the walk survives them within its limits, reports them, follows nothing."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile

import pytest

from tests.unit.scanning.conftest import make_tar, make_zip
from warehouse.scanning import archive
from warehouse.scanning.archive import Limits, walk


def read_all(data: bytes, name: str = "x-1.0.tar.gz", limits: Limits = Limits()):
    reports = []
    members = list(
        walk(
            io.BytesIO(data),
            name,
            lambda n, size: archive.WHOLE,
            lambda rule, member, detail: reports.append((rule, member, detail)),
            limits,
        )
    )
    return members, reports


def rules_of(reports):
    return {rule for rule, _, _ in reports}


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_reads_every_tar_compression(mode):
    members, reports = read_all(make_tar([("p-1.0/setup.py", b"print(1)\n")], mode), "p-1.0.tar")
    assert [(m.path, m.data) for m in members] == [("p-1.0/setup.py", b"print(1)\n")]
    assert reports == []


def test_reads_zip_members_and_skips_unwanted_ones():
    data = make_zip([("a.py", b"x = 1\n"), ("b.bin", b"\0" * 100)])
    seen = []
    members = list(
        walk(
            io.BytesIO(data),
            "a.whl",
            lambda n, size: archive.WHOLE if n.endswith(".py") else archive.SKIP,
            lambda *a: seen.append(a),
        )
    )
    assert [m.name for m in members] == ["a.py"]


def test_traversal_and_absolute_paths_are_reported_never_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = make_tar([("../../evil.py", b"x"), ("/etc/evil.py", b"y"), ("ok/../../z.py", b"z")])
    members, reports = read_all(data)
    traversals = [member for rule, member, _ in reports if rule == "archive-traversal"]
    assert traversals == ["../../evil.py", "/etc/evil.py", "ok/../../z.py"]
    # Content is still analyzed (in memory), and nothing lands on disk.
    assert {m.data for m in members} == {b"x", b"y", b"z"}
    assert os.listdir(tmp_path) == []
    assert not os.path.exists("/etc/evil.py")


def test_tar_links_and_devices_are_reported_and_not_followed():
    symlink = tarfile.TarInfo("p/link")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
    inner = tarfile.TarInfo("p/inner")
    inner.type, inner.linkname = tarfile.SYMTYPE, "setup.py"
    hardlink = tarfile.TarInfo("p/hard")
    hardlink.type, hardlink.linkname = tarfile.LNKTYPE, "../../outside"
    device = tarfile.TarInfo("p/dev")
    device.type = tarfile.CHRTYPE
    fifo = tarfile.TarInfo("p/fifo")
    fifo.type = tarfile.FIFOTYPE
    data = make_tar(
        [(symlink, None), (inner, None), (hardlink, None), (device, None), (fifo, None),
         ("p/setup.py", b"ok")]
    )  # fmt: skip
    members, reports = read_all(data)
    assert [m.name for m in members] == ["p/setup.py"]
    by_member = {member: rule for rule, member, _ in reports}
    assert by_member == {
        "p/link": "archive-link-escape",
        "p/inner": "archive-link",
        "p/hard": "archive-link-escape",
        "p/dev": "archive-special-member",
        "p/fifo": "archive-special-member",
    }


def test_zip_symlink_is_reported_not_followed():
    link = zipfile.ZipInfo("pkg/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    data = make_zip([(link, "../../../home/user/.ssh/id_rsa"), ("pkg/a.py", b"1")])
    members, reports = read_all(data, "p.whl")
    assert [m.name for m in members] == ["pkg/a.py"]
    assert reports[0][0] == "archive-link-escape"
    assert "id_rsa" in reports[0][2]


def test_zip_bomb_member_is_not_decompressed():
    limits = Limits(ratio_floor=1024 * 1024, max_ratio=100)
    data = make_zip([("bomb.py", b"\0" * (20 * 1024 * 1024)), ("fine.py", b"x = 1\n")])
    assert len(data) < 100_000
    members, reports = read_all(data, "p.whl", limits)
    assert [m.name for m in members] == ["fine.py"]
    assert any(rule == "archive-limit" and "ratio" in detail for rule, _, detail in reports)


def test_tar_bomb_stops_at_the_ratio_limit():
    limits = Limits(ratio_floor=1024 * 1024, max_ratio=100)
    data = make_tar([("p/zeros.txt", b"\0" * (30 * 1024 * 1024)), ("p/after.py", b"x")])
    members, reports = read_all(data, limits=limits)
    assert "p/after.py" not in [m.name for m in members]
    assert any(rule == "archive-limit" and "ratio" in detail for rule, _, detail in reports)


def test_total_size_limit_ends_the_walk():
    limits = Limits(max_total_size=1000, max_ratio=10**9)
    data = make_tar([(f"p/{i}.py", b"#" * 400) for i in range(10)])
    members, reports = read_all(data, limits=limits)
    assert len(members) == 2
    assert reports[-1][0] == "archive-limit"


def test_member_count_limit_ends_the_walk():
    limits = Limits(max_members=100)
    data = make_zip([(f"m{i}.txt", b"") for i in range(1000)])
    members, reports = read_all(data, "p.whl", limits)
    assert len(members) == 100
    assert [r for r, _, d in reports if r == "archive-limit" and "100 members" in d]


def test_member_size_limit_truncates():
    limits = Limits(max_member_size=10)
    members, _ = read_all(make_zip([("a.py", b"0123456789abcdef")]), "p.whl", limits)
    assert (members[0].data, members[0].truncated) == (b"0123456789", True)


def test_nested_archives_are_read_to_depth_five_and_no_deeper():
    data = make_zip([("payload.py", b"deep")])
    for level in range(7):
        data = make_zip([(f"level{level}.zip", data)])
    members, reports = read_all(data, "outer.zip")
    assert members == []
    deep = [(member, detail) for rule, member, detail in reports if rule == "archive-limit"]
    assert len(deep) == 1 and "deeper than 5" in deep[0][1]
    assert deep[0][0].count("!") == 5


def test_nested_members_carry_their_path():
    inner = make_tar([("inner/evil.py", b"x")])
    data = make_zip([("vendor/inner.tar.gz", inner)])
    members, _ = read_all(data, "p.whl")
    assert [m.path for m in members] == ["vendor/inner.tar.gz!inner/evil.py"]
    assert members[0].depth == 1


def test_corrupt_and_truncated_archives_are_reported():
    whole = make_tar([("p/a.py", b"x" * 5000)])
    _, reports = read_all(whole[: len(whole) // 2])
    assert "archive-corrupt" in rules_of(reports)
    _, reports = read_all(b"not an archive at all", "x.zip")
    assert "archive-corrupt" in rules_of(reports)


def _mark_encrypted(data: bytes, name: bytes) -> bytes:
    """Set the 'encrypted' flag of ``name`` in its local and central headers (zipfile cannot)."""
    data = bytearray(data)
    for signature, flag_offset, name_offset in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_offset : start + name_offset + len(name)] == name:
                data[start + flag_offset] |= 0x1
            start += 4
    return bytes(data)


def test_duplicate_and_encrypted_zip_members_are_reported():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("a.py", b"1")
        with pytest.warns(UserWarning):
            z.writestr("a.py", b"2")
        z.writestr("secret.py", b"garbage")
    members, reports = read_all(_mark_encrypted(buffer.getvalue(), b"secret.py"), "p.whl")
    assert {"archive-duplicate", "archive-encrypted"} <= rules_of(reports)
    assert [m.name for m in members] == ["a.py", "a.py"]
