"""What the file-serving view tells the CDN about a download, for its log.

The CDN logs the project, version and package type of each file it serves from these
response headers (then strips them, see config/varnish/default.vcl); they come from the
file's row, never from its name. A file's row never changes, so what is looked up once is
remembered for the life of the process (bounded); the lookup is one indexed query.
"""

from __future__ import annotations

import threading
from typing import NamedTuple

import sqlalchemy as sa
import structlog

log = structlog.get_logger(__name__)

PROJECT_HEADER = "X-Stats-Project"
VERSION_HEADER = "X-Stats-Version"
PACKAGE_TYPE_HEADER = "X-Stats-Package-Type"
_LIMIT = 100_000


class FileFacts(NamedTuple):
    project: str
    version: str
    package_type: str

    def headers(self) -> list[tuple[str, str]]:
        return [
            (PROJECT_HEADER, self.project),
            (VERSION_HEADER, self.version),
            (PACKAGE_TYPE_HEADER, self.package_type),
        ]


_known: dict[str, FileFacts] = {}
_lock = threading.Lock()


def remembered(key: str) -> FileFacts | None:
    return _known.get(key)


def remember(key: str, facts: FileFacts) -> None:
    """For code that has just read a file's row anyway (a first fetch from an upstream)."""
    with _lock:
        if len(_known) >= _LIMIT:
            _known.clear()
        _known[key] = facts


def look_up(engine: sa.Engine, key: str) -> FileFacts | None:
    """The facts of the file stored under ``key``; None if no file row has that path."""
    facts = _known.get(key)
    if facts is not None:
        return facts
    from warehouse.packaging.models import File, Project, Release
    from warehouse.scanning.holds import held

    with engine.connect() as connection:
        row = connection.execute(
            sa.select(
                Project.normalized_name,
                Release.version,
                File.packagetype,
                held(File.release_id).label("held"),
            )
            .join(Release, Release.id == File.release_id)
            .join(Project, Project.id == Release.project_id)
            .where(File.path == key)
        ).first()
    if row is None:
        return None
    if row.held:
        # The in-memory blocklist of held files may be a moment behind a hold that has just
        # committed; this first read of the row in this process is not. Not remembered:
        # once the hold is lifted, the file is served.
        raise Withheld(key)
    facts = FileFacts(row.normalized_name, row.version, row.packagetype)
    with _lock:
        if len(_known) >= _LIMIT:
            _known.clear()
        _known[key] = facts
    return facts


class Withheld(Exception):
    """The file's release is held by the scanner: it is not served."""


class FactsUnavailable(Exception):
    """The database did not answer: the download goes out untagged (and is not counted)."""


def look_up_or_raise(engine: sa.Engine, key: str) -> FileFacts | None:
    """:func:`look_up`, with any failure of the database as :class:`FactsUnavailable`: a
    failing database costs only the statistics, never the download."""
    try:
        return look_up(engine, key)
    except Withheld:
        raise
    except Exception as exc:
        log.warning(
            "file facts unavailable; download not tagged for statistics", key=key, exc_info=True
        )
        raise FactsUnavailable(key) from exc


def forget_all() -> None:
    with _lock:
        _known.clear()
