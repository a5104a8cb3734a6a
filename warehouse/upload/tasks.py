"""The clean-up of a failed upload that could not be done at once."""

from __future__ import annotations

import sqlalchemy as sa
import structlog

from warehouse.packaging.models import File
from warehouse.tasks import app

log = structlog.get_logger(__name__)


@app.task(name="warehouse.upload.tasks.remove_unowned_blobs", bind=True)
def remove_unowned_blobs(self, file_key: str, keys: list[str]) -> bool:
    """Remove ``keys``, blobs of an upload of ``file_key`` whose transaction did not commit,
    unless a committed file owns them (the same bytes uploaded again meanwhile). Sent when the
    upload could not do it itself (the database or the store was down); retried, like any
    task, until both answer."""
    with self.ctx.session() as session:
        owned = session.scalar(sa.select(File.id).where(File.path == file_key))
    if owned is not None:
        return False
    for key in keys:
        self.ctx.archive.delete(key)
    log.info("removed the blobs of a failed upload", keys=keys)
    return True
