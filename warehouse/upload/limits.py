"""The cap on an upload request's body, enforced while it streams.

The form is parsed (WebOb spools the body to disk, then the multipart parser copies the
file part) before the project is known, so the per-project file limit can only be checked
afterwards. Before parsing, the body is held to the largest limit any project has (the
site's ``max_file_size`` or an admin-raised ``upload_limit``) plus room for the metadata
fields: a bigger ``Content-Length`` is refused without reading a byte, and a body without
one (chunked) is refused as soon as it passes the cap, so at most the cap reaches disk.
"""

from __future__ import annotations

from typing import BinaryIO

import sqlalchemy as sa

from warehouse.packaging.models import Project
from warehouse.upload.artifacts import FILE_SIZE_HELP, MAX_METADATA_FILE_SIZE, ONE_MIB
from warehouse.upload.errors import UploadError

# The form repeats the metadata (the description may be as long as METADATA itself).
FORM_FIELDS_ALLOWANCE = MAX_METADATA_FILE_SIZE + ONE_MIB


def request_too_large(cap: int) -> UploadError:
    return UploadError(
        f"File too large. An upload request may be at most {cap // ONE_MIB} MB "
        f"(the file and its form). {FILE_SIZE_HELP}",
        status=413,
    )


class CappedInput:
    """``wsgi.input`` that raises the 413 once more than ``cap`` bytes have been read."""

    def __init__(self, raw: BinaryIO, cap: int) -> None:
        self._raw = raw
        self._cap = cap
        self.consumed = 0

    def _count(self, data: bytes) -> bytes:
        self.consumed += len(data)
        if self.consumed > self._cap:
            raise request_too_large(self._cap)
        return data

    def read(self, size: int = -1) -> bytes:
        # Never more than one byte past the cap in a single read, whatever was asked.
        remaining = self._cap - self.consumed + 1
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        return self._count(self._raw.read(wanted))

    def readline(self, size: int = -1) -> bytes:
        remaining = self._cap - self.consumed + 1
        wanted = remaining if size is None or size < 0 else min(size, remaining)
        return self._count(self._raw.readline(wanted))


def largest_file_limit(session, max_file_size: int) -> int:
    """The largest file any project may upload (an index on upload_limit keeps this cheap)."""
    raised = session.scalar(sa.select(sa.func.max(Project.upload_limit)))
    return max(max_file_size, raised or 0)


def cap_request_body(request) -> None:
    """Hold the upload request's body to the cap; call before anything reads ``request.POST``."""
    settings = request.registry.settings["warehouse"]
    cap = largest_file_limit(request.db, settings.max_file_size) + FORM_FIELDS_ALLOWANCE
    if (request.content_length or 0) > cap:
        raise request_too_large(cap)
    environ = request.environ
    environ["wsgi.input"] = CappedInput(environ["wsgi.input"], cap)
    # WebOb must copy the body through the cap, not seek back into a body already in memory.
    environ["webob.is_body_seekable"] = False
