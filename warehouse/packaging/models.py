"""Projects, releases, files and everything that hangs off them."""

from __future__ import annotations

import datetime
import enum
import re
import uuid

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.db import Model, utcnow
from warehouse.storage.keys import metadata_key

PROJECT_NAME_PATTERN = r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$"
# ASCII: with IGNORECASE alone, [A-Z] also matches letters whose upper case is ASCII
# ("ı" U+0131 is "I", "ſ" U+017F "S", the Kelvin sign U+212A "K").
PROJECT_NAME_RE = re.compile(PROJECT_NAME_PATTERN, re.IGNORECASE | re.ASCII)
LIFECYCLE_QUARANTINED = "quarantine-enter"
QUARANTINED_MESSAGE = (
    "The project {name!r} is in quarantine: it cannot be changed until the index's "
    "administrators release it."
)


class Project(Model):
    __tablename__ = "projects"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # PEP 503 normalized; what URLs and uniqueness are based on.
    normalized_name: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    # The serial of the newest journal entry about this project (0: none yet).
    last_serial: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    # Per-project overrides of the global limits, in bytes (NULL: the default).
    upload_limit: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    total_size_limit: orm.Mapped[int | None] = orm.mapped_column(sa.BigInteger)
    total_size: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, default=0)
    # NULL, or "quarantine-enter" while the project is out of circulation (warehouse.admin).
    lifecycle_status: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    lifecycle_status_changed: orm.Mapped[datetime.datetime | None]
    lifecycle_status_note: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    releases: orm.Mapped[list[Release]] = orm.relationship(
        back_populates="project",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="Release.sort_order.desc()",
    )
    roles: orm.Mapped[list[Role]] = orm.relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        sa.CheckConstraint(f"name ~* '{PROJECT_NAME_PATTERN}'", name="valid_name"),
        # Confusable names collide under this key (packaging.services.ultranormalize_name).
        sa.Index(
            "projects_ultranormalized_name_idx",
            sa.func.regexp_replace(
                sa.func.translate(sa.func.lower(sa.text("name")), "oli", "011"), "[._-]", "", "g"
            ),
        ),
        # The uploads app caps a request's body at the largest limit before it knows the
        # project (warehouse.upload.limits): max(upload_limit) reads this small index.
        sa.Index(
            "projects_upload_limit_idx",
            "upload_limit",
            postgresql_where=sa.text("upload_limit IS NOT NULL"),
        ),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if self.name and not self.normalized_name:
            self.normalized_name = canonicalize_name(self.name)

    @property
    def quarantined(self) -> bool:
        return self.lifecycle_status == LIFECYCLE_QUARANTINED

    def __repr__(self) -> str:
        return f"<Project {self.name}>"


class Release(Model):
    __tablename__ = "releases"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    project_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE")
    )
    version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    canonical_version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # Position of this release among the project's releases by packaging.version (0 = oldest).
    sort_order: orm.Mapped[int] = orm.mapped_column(default=0)
    is_prerelease: orm.Mapped[bool] = orm.mapped_column(default=False)
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    yanked: orm.Mapped[bool] = orm.mapped_column(default=False)
    yanked_reason: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")

    # Core metadata, as the first upload of the release declared it.
    metadata_version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    summary: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    description: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    description_content_type: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # Rendered and sanitized once at upload time.
    description_html: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    keywords: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    author: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    author_email: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    maintainer: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    maintainer_email: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    license: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    license_expression: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    license_files: orm.Mapped[list[str] | None]
    home_page: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    download_url: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    requires_python: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    platform: orm.Mapped[list[str] | None]
    supported_platform: orm.Mapped[list[str] | None]
    provides_extra: orm.Mapped[list[str] | None]
    dynamic: orm.Mapped[list[str] | None]
    uploader_id: orm.Mapped[uuid.UUID | None] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    project: orm.Mapped[Project] = orm.relationship(back_populates="releases")
    files: orm.Mapped[list[File]] = orm.relationship(
        back_populates="release",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="File.filename",
    )
    dependencies: orm.Mapped[list[Dependency]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Dependency.id"
    )
    urls: orm.Mapped[list[ReleaseURL]] = orm.relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ReleaseURL.id"
    )
    classifiers: orm.Mapped[list[Classifier]] = orm.relationship(
        secondary="release_classifiers", order_by="Classifier.classifier"
    )
    uploader: orm.Mapped[User | None] = orm.relationship()

    __table_args__ = (
        sa.UniqueConstraint("project_id", "canonical_version"),
        sa.UniqueConstraint("project_id", "version"),
        # The release a project shows (the project page, its search entry, rebuilt with every
        # upload): non-yanked before yanked, final before pre-release, then the newest. Read
        # from this index it is the first entry, not a sort of all of a project's releases
        # (botocore's 5,000: 18 ms of each upload's search update).
        sa.Index(
            "releases_shown_order_idx",
            "project_id",
            "yanked",
            "is_prerelease",
            sa.desc("sort_order"),
        ),
    )

    def dependencies_of(self, kind: DependencyKind) -> list[str]:
        return [d.specifier for d in self.dependencies if d.kind == kind]

    def __repr__(self) -> str:
        return f"<Release {self.version}>"


class DependencyKind(enum.IntEnum):
    requires_dist = 1
    provides_dist = 2
    obsoletes_dist = 3
    requires_external = 4
    requires = 5  # metadata 1.1
    provides = 6  # metadata 1.1
    obsoletes = 7  # metadata 1.1


class Dependency(Model):
    __tablename__ = "release_dependencies"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    release_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    kind: orm.Mapped[int] = orm.mapped_column(sa.SmallInteger)
    specifier: orm.Mapped[str] = orm.mapped_column(sa.Text)


class ReleaseURL(Model):
    """A ``Project-URL`` entry (label, URL)."""

    __tablename__ = "release_urls"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    release_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    label: orm.Mapped[str] = orm.mapped_column(sa.Text)
    url: orm.Mapped[str] = orm.mapped_column(sa.Text)


class Classifier(Model):
    __tablename__ = "trove_classifiers"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    classifier: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)


release_classifiers = sa.Table(
    "release_classifiers",
    Model.metadata,
    sa.Column(
        "release_id",
        sa.ForeignKey("releases.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("trove_id", sa.ForeignKey("trove_classifiers.id"), primary_key=True, index=True),
)


class PackageType(enum.StrEnum):
    bdist_wheel = "bdist_wheel"
    sdist = "sdist"


ONE_SDIST_PER_RELEASE = "release_files_one_sdist_per_release_idx"


class File(Model):
    __tablename__ = "release_files"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    release_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("releases.id", ondelete="CASCADE"), index=True
    )
    filename: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    packagetype: orm.Mapped[str] = orm.mapped_column(sa.Text)
    python_version: orm.Mapped[str] = orm.mapped_column(sa.Text)
    requires_python: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    size: orm.Mapped[int] = orm.mapped_column(sa.BigInteger)
    md5_digest: orm.Mapped[str] = orm.mapped_column(sa.Text)
    sha256_digest: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    blake2_256_digest: orm.Mapped[str] = orm.mapped_column(sa.Text)
    # Key of the blob in the file storage (content addressed).
    path: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)
    upload_time: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)
    uploaded_via: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    # The wheel's METADATA, stored beside it as ``<path>.metadata`` (PEP 658).
    metadata_sha256: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    metadata_blake2_256: orm.Mapped[str | None] = orm.mapped_column(sa.Text)

    release: orm.Mapped[Release] = orm.relationship(back_populates="files")

    __table_args__ = (
        sa.CheckConstraint("sha256_digest ~* '^[a-f0-9]{64}$'", name="valid_sha256"),
        # Empty for a file mirrored from an upstream that gave no BLAKE2 digest, until it is
        # fetched (warehouse.upstreams).
        sa.CheckConstraint(
            "blake2_256_digest = '' OR blake2_256_digest ~* '^[a-f0-9]{64}$'",
            name="valid_blake2_256",
        ),
        # One sdist per release, held by the database: two concurrent sdist uploads (say a
        # .tar.gz and a .zip) cannot both commit.
        sa.Index(
            ONE_SDIST_PER_RELEASE,
            "release_id",
            unique=True,
            postgresql_where=sa.text("packagetype = 'sdist'"),
        ),
    )

    @property
    def metadata_path(self) -> str | None:
        return metadata_key(self.path) if self.metadata_sha256 else None

    def blob_keys(self) -> tuple[str, ...]:
        """Every blob this file owns in a store: the distribution, then its PEP 658 sidecar."""
        return blob_keys_of(self.path, self.metadata_sha256)


def blob_keys_of(path: str, metadata_sha256: str | None) -> tuple[str, ...]:
    """:meth:`File.blob_keys` for a row read as columns (bulk queries load no objects)."""
    return (path, metadata_key(path)) if metadata_sha256 else (path,)


class FilenameRegistry(Model):
    """Every filename ever uploaded; rows are never deleted, so a name is never reused."""

    __tablename__ = "file_registry"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    filename: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)


class ProhibitedProjectName(Model):
    __tablename__ = "prohibited_project_names"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    name: orm.Mapped[str] = orm.mapped_column(sa.Text, unique=True)  # normalized
    comment: orm.Mapped[str] = orm.mapped_column(sa.Text, default="")
    created: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow)


class RoleName(enum.StrEnum):
    owner = "Owner"
    maintainer = "Maintainer"


class Role(Model):
    __tablename__ = "roles"

    id: orm.Mapped[int] = orm.mapped_column(primary_key=True)
    user_id: orm.Mapped[uuid.UUID] = orm.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    project_id: orm.Mapped[int] = orm.mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    role_name: orm.Mapped[str] = orm.mapped_column(sa.Text)

    user: orm.Mapped[User] = orm.relationship()
    project: orm.Mapped[Project] = orm.relationship(back_populates="roles")

    __table_args__ = (
        sa.UniqueConstraint("user_id", "project_id"),
        sa.CheckConstraint("role_name IN ('Owner', 'Maintainer')", name="valid_role"),
    )


class JournalEntry(Model):
    """One change to the index. ``id`` is the global serial that mirrors follow.

    Ids are assigned by :mod:`warehouse.packaging.journal` just before commit, under a lock
    held until the commit, so they increase in commit order with no gaps.
    """

    __tablename__ = "journals"

    id: orm.Mapped[int] = orm.mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    name: orm.Mapped[str] = orm.mapped_column(sa.Text, index=True)
    version: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
    action: orm.Mapped[str] = orm.mapped_column(sa.Text)
    submitted_date: orm.Mapped[datetime.datetime] = orm.mapped_column(default=utcnow, index=True)
    submitted_by: orm.Mapped[str | None] = orm.mapped_column(sa.Text)
