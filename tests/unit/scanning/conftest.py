"""Helpers that build small archives in memory for the scanner's tests."""

from __future__ import annotations

import io
import tarfile
import zipfile

import pytest

from warehouse.scanning.rules import load_rules


@pytest.fixture(scope="session")
def rules():
    return load_rules()


def make_tar(members, mode="w:gz") -> bytes:
    """members: (name, bytes) for files, or a ready TarInfo paired with bytes or None."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, data in members:
            if isinstance(name, tarfile.TarInfo):
                archive.addfile(name, io.BytesIO(data) if data is not None else None)
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_zip(members, compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members:
            if isinstance(name, zipfile.ZipInfo):
                archive.writestr(name, data)
            else:
                archive.writestr(name, data)
    return buffer.getvalue()
