"""PyPI's XML-RPC methods, as bandersnatch and older tools call them.

Each method takes a :class:`Call` and the caller's arguments; the annotations are the
argument types the dispatcher enforces. All of a call's queries run in one read-only
snapshot, so a result never mixes two states of the index.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

import sqlalchemy as sa
import structlog
from packaging.utils import canonicalize_name, canonicalize_version
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.api.cache import INDEX_SERIAL_KEY, PageCache
from warehouse.api.common import file_url, iso_utc
from warehouse.db import driver_connection
from warehouse.packaging import journal
from warehouse.packaging.models import (
    Classifier,
    DependencyKind,
    File,
    JournalEntry,
    Project,
    Release,
    Role,
    RoleName,
    release_classifiers,
)
from warehouse.scanning.holds import served
from warehouse.xmlrpc.protocol import (
    MEMBER_HEAD,
    MEMBER_MIDDLE,
    MEMBER_TAIL,
    STRUCT_CLOSE,
    STRUCT_OPEN,
    Marshalled,
    dumps_name_int_struct,
    dumps_rows,
    fits_int,
)

log = structlog.get_logger(__name__)

# PyPI's cap: a mirror that is further behind asks again from the last serial it got.
CHANGELOG_LIMIT = 50_000
_LAST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z
_BIGINT = (-(2**63), 2**63 - 1)  # what a serial parameter can hold in SQL


@dataclasses.dataclass
class Call:
    session: orm.Session
    app_url: str
    files_base: str
    # The read API's serial-keyed cache: what it keeps at a serial never goes stale.
    pages: PageCache


def _project(call: Call, name: str) -> Project | None:
    return call.session.scalar(
        sa.select(Project).where(
            Project.normalized_name == canonicalize_name(name),
            Project.lifecycle_status.is_(None),
        )
    )


def _release(call: Call, name: str, version: str) -> Release | None:
    project = _project(call, name)
    if project is None:
        return None
    # A release the scanner holds is not there for clients (warehouse.scanning.holds).
    releases = sa.select(Release).where(Release.project_id == project.id, served(Release.id))
    found = call.session.scalar(releases.where(Release.version == version))
    if found is not None:
        return found
    try:  # "1.0.0" finds "1.0", as pip would
        canonical = canonicalize_version(version)
    except ValueError:
        return None
    return call.session.scalar(releases.where(Release.canonical_version == canonical))


# Mirroring ------------------------------------------------------------------------------


def changelog_last_serial(call: Call) -> int:
    return journal.last_serial(call.session)


def changelog_since_serial(call: Call, since_serial: int) -> Marshalled:
    """``[name, version, timestamp, action, serial]`` after ``since_serial``, oldest first."""
    since = min(max(since_serial, _BIGINT[0]), _BIGINT[1])
    return _changelog_rows(call, JournalEntry.id > since, with_ids=True)


def changelog(call: Call, since: int, with_ids: bool = False) -> Marshalled:
    """Entries made after the Unix time ``since``, oldest first (the pre-serial method)."""
    # Clamped to what a datetime can hold: any time outside it is "before all" or "after all".
    moment = datetime.datetime.fromtimestamp(min(max(since, 0), _LAST_TIMESTAMP), datetime.UTC)
    return _changelog_rows(call, JournalEntry.submitted_date > moment, with_ids=with_ids)


# Whole seconds since the epoch, as int(datetime.timestamp()) gives them, computed by
# PostgreSQL: up to 50,000 rows go out as they come, with no Python object per value.
_UNIX_TIME = sa.cast(sa.func.floor(sa.extract("epoch", JournalEntry.submitted_date)), sa.BigInteger)


def _changelog_rows(call: Call, condition, *, with_ids: bool) -> Marshalled:
    columns = [JournalEntry.name, JournalEntry.version, _UNIX_TIME, JournalEntry.action]
    if with_ids:
        columns.append(JournalEntry.id)
    rows = call.session.execute(
        sa.select(*columns).where(condition).order_by(JournalEntry.id).limit(CHANGELOG_LIMIT)
    )
    return Marshalled(dumps_rows(rows.all()))


def list_packages_with_serial(call: Call) -> Marshalled:
    """``{name: last_serial}`` for every project.

    Mirrors ask for this at the start of every full sync, so it must stay fast at any size:
    one query straight to tuples (no ORM objects), marshalled once per global serial and
    cached. The serial and the rows come from the same snapshot, so what is cached under a
    serial is exactly the index at that serial.
    """
    found = call.pages.get(
        INDEX_SERIAL_KEY, "xmlrpc:list_packages_with_serial", journal.last_serial, _marshal_packages
    )
    return Marshalled(found.body)


def _marshal_packages(session: orm.Session, serial: int) -> bytes:
    # Straight from the driver, on the snapshot's own connection. PostgreSQL writes the whole
    # answer: at 700,000 projects, marshalling it in Python took 0.4-0.8 s of a worker's CPU
    # on top of the query, where string_agg does it within the query's scan.
    with driver_connection(session).cursor() as cursor:
        # In binary: the answer comes as the bytes it is, not as hex text to decode.
        lowest, highest, answer = cursor.execute(
            _PACKAGES_ANSWER, _PACKAGES_PARTS, binary=True
        ).fetchone()
        if lowest is not None and not (fits_int(lowest) and fits_int(highest)):
            # Serials past 32 bits: marshalled in Python, as xmlrpc.client does such ints.
            rows = cursor.execute(
                "SELECT name, last_serial FROM projects WHERE lifecycle_status IS NULL"
            ).fetchall()
            return dumps_name_int_struct(rows)
    return answer


# Names need no escaping: the projects_valid_name_check constraint keeps them to ASCII
# letters, digits, ".", "_" and "-".
_PACKAGES_ANSWER = """
SELECT min(last_serial), max(last_serial), convert_to(
    %(open)s::text
    || coalesce(string_agg(
        concat(%(head)s::text, name, %(middle)s::text, last_serial, %(tail)s::text), ''), '')
    || %(close)s::text, 'UTF8')
FROM projects WHERE lifecycle_status IS NULL
"""
_PACKAGES_PARTS = {
    "open": STRUCT_OPEN,
    "head": MEMBER_HEAD,
    "middle": MEMBER_MIDDLE,
    "tail": MEMBER_TAIL,
    "close": STRUCT_CLOSE,
}


def list_packages(call: Call) -> list:
    return list(
        call.session.scalars(
            sa.select(Project.name)
            .where(Project.lifecycle_status.is_(None))
            .order_by(Project.normalized_name)
        )
    )


# Projects and releases ------------------------------------------------------------------


def package_releases(call: Call, package_name: str, show_hidden: bool = False) -> list:
    """All versions, newest first, with ``show_hidden``; otherwise only the latest one
    (PyPI has no hidden releases, so the flag chooses between the two)."""
    project = _project(call, package_name)
    if project is None:
        return []
    releases = call.session.execute(
        sa.select(Release.version, Release.yanked, Release.is_prerelease)
        .where(Release.project_id == project.id, served(Release.id))
        .order_by(Release.sort_order.desc())
    ).all()
    if show_hidden:
        return [r.version for r in releases]
    for acceptable in (lambda r: not r.yanked and not r.is_prerelease, lambda r: not r.yanked):
        for release in releases:
            if acceptable(release):
                return [release.version]
    return [releases[0].version] if releases else []


def package_roles(call: Call, package_name: str) -> list:
    """``[role, username]``, Owners first."""
    project = _project(call, package_name)
    if project is None:
        return []
    rows = call.session.execute(
        sa.select(Role.role_name, User.username)
        .join(User, Role.user_id == User.id)
        .where(Role.project_id == project.id)
        .order_by(Role.role_name != RoleName.owner, User.username)
    )
    return [[r.role_name, r.username] for r in rows]


def user_packages(call: Call, user: str) -> list:
    """``[role, project name]`` for every project the user has a role on."""
    rows = call.session.execute(
        sa.select(Role.role_name, Project.name)
        .join(User, Role.user_id == User.id)
        .join(Project, Role.project_id == Project.id)
        .where(User.username == user, Project.lifecycle_status.is_(None))
        .order_by(Project.normalized_name)
    )
    return [[r.role_name, r.name] for r in rows]


def release_urls(call: Call, package_name: str, release_version: str) -> list:
    release = _release(call, package_name, release_version)
    if release is None:
        return []
    files = call.session.scalars(
        sa.select(File).where(File.release_id == release.id).order_by(File.filename)
    )
    return [_file_dict(call, release, f) for f in files]


def _file_dict(call: Call, release: Release, f: File) -> dict:
    return {
        "comment_text": "",
        "digests": {
            "md5": f.md5_digest,
            "sha256": f.sha256_digest,
            "blake2b_256": f.blake2_256_digest,
        },
        "downloads": -1,
        "filename": f.filename,
        "has_sig": False,
        "md5_digest": f.md5_digest,
        "packagetype": f.packagetype,
        "path": f.path,
        "python_version": f.python_version,
        "requires_python": f.requires_python or release.requires_python,
        "sha256_digest": f.sha256_digest,
        "size": f.size,
        "upload_time": f.upload_time,
        "upload_time_iso_8601": iso_utc(f.upload_time),
        "url": file_url(call.files_base, f.path),
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
    }


def release_data(call: Call, package_name: str, release_version: str) -> dict:
    """The release's core metadata; ``{}`` for an unknown release, as PyPI answers."""
    release = _release(call, package_name, release_version)
    if release is None:
        return {}
    project = release.project
    project_url = f"{call.app_url}/project/{project.name}/"
    return {
        "name": project.name,
        "version": release.version,
        "stable_version": "",
        "summary": release.summary,
        "description": release.description or "",
        "description_content_type": release.description_content_type,
        "keywords": release.keywords,
        "author": release.author,
        "author_email": release.author_email,
        "maintainer": release.maintainer,
        "maintainer_email": release.maintainer_email,
        "license": release.license,
        "license_expression": release.license_expression,
        "home_page": release.home_page,
        "download_url": release.download_url,
        "platform": ", ".join(release.platform) if release.platform else None,
        "classifiers": [c.classifier for c in release.classifiers],
        "requires_python": release.requires_python,
        **_dependencies(release),
        "project_urls": [f"{u.label}, {u.url}" for u in release.urls],
        "package_url": project_url,
        "project_url": project_url,
        "release_url": f"{project_url}{release.version}/",
        "docs_url": None,
        "bugtrack_url": None,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason or None,
        "_pypi_ordering": release.sort_order,
        "downloads": {"last_day": -1, "last_week": -1, "last_month": -1},
    }


def _dependencies(release: Release) -> dict:
    # requires_dist, provides_dist, ..., and metadata 1.1's requires, provides, obsoletes.
    return {kind.name: release.dependencies_of(kind) for kind in DependencyKind}


def browse(call: Call, classifiers: list[str]) -> list:
    """``[name, version]`` of every release that has all of ``classifiers``."""
    wanted = set(classifiers)
    if not wanted:
        return []
    matching = (
        sa.select(release_classifiers.c.release_id)
        .join(Classifier, Classifier.id == release_classifiers.c.trove_id)
        .where(Classifier.classifier.in_(wanted))
        .group_by(release_classifiers.c.release_id)
        .having(sa.func.count() == len(wanted))
    )
    rows = call.session.execute(
        sa.select(Project.name, Release.version)
        .join(Project, Release.project_id == Project.id)
        .where(Release.id.in_(matching), Project.lifecycle_status.is_(None), served(Release.id))
        .order_by(Project.normalized_name, Release.sort_order)
    )
    return [[r.name, r.version] for r in rows]


METHODS: dict[str, Callable] = {
    function.__name__: function
    for function in (
        changelog_last_serial,
        changelog_since_serial,
        changelog,
        list_packages_with_serial,
        list_packages,
        package_releases,
        package_roles,
        user_packages,
        release_urls,
        release_data,
        browse,
    )
}
