"""Projects, releases and files written straight to the database, for read-API tests.

Each function records the journal entries the real code would, so serials exist, and commits
unless told ``commit=False`` (to batch several changes into one transaction).
"""

from __future__ import annotations

import datetime
import hashlib

import sqlalchemy as sa
from packaging.utils import canonicalize_name, canonicalize_version
from packaging.version import InvalidVersion, Version

from warehouse.packaging import journal
from warehouse.packaging.journal import Action, FileRef
from warehouse.packaging.models import (
    Classifier,
    Dependency,
    DependencyKind,
    File,
    Project,
    Release,
    ReleaseURL,
)
from warehouse.storage.keys import content_key


def create_project(
    session,
    name: str = "example",
    versions=("1.0",),
    *,
    files=("sdist", "wheel"),
    commit: bool = True,
    **release_fields,
) -> Project:
    """A project with a release per version, each with ``files`` (kinds: "sdist", "wheel")."""
    project = Project(name=name)
    session.add(project)
    session.flush()
    journal.record(session, name, Action.CREATE_PROJECT)
    for version in versions:
        create_release(session, project, version, files=files, commit=False, **release_fields)
    _done(session, commit)
    return project


def create_release(
    session,
    project: Project,
    version: str,
    *,
    files=("sdist", "wheel"),
    requires_dist=(),
    project_urls=None,
    classifiers=(),
    commit: bool = True,
    **fields,
) -> Release:
    fields.setdefault("metadata_version", "2.4")
    fields.setdefault("summary", f"The {project.name} project")
    try:
        prerelease = Version(version).is_prerelease
    except InvalidVersion:
        prerelease = False
    trove = [_classifier(session, text) for text in classifiers]
    release = Release(
        project=project,
        version=version,
        canonical_version=canonicalize_version(version),
        is_prerelease=prerelease,
        **fields,
    )
    release.dependencies = [
        Dependency(kind=DependencyKind.requires_dist, specifier=spec) for spec in requires_dist
    ]
    release.urls = [ReleaseURL(label=k, url=v) for k, v in (project_urls or {}).items()]
    release.classifiers = trove
    session.add(release)
    session.flush()
    _reorder(session, project)
    journal.record(session, project.name, Action.NEW_RELEASE, version=version)
    for kind in files:
        create_file(session, release, kind=kind, commit=False)
    _done(session, commit)
    return release


def create_file(
    session,
    release: Release,
    filename: str | None = None,
    *,
    kind: str = "sdist",
    content: bytes | None = None,
    with_metadata: bool | None = None,
    commit: bool = True,
    **fields,
) -> File:
    """A file of ``release``; wheels get PEP 658 metadata unless ``with_metadata=False``."""
    project = release.project
    stem = f"{canonicalize_name(project.name).replace('-', '_')}-{release.version}"
    if filename is None:
        filename = f"{stem}.tar.gz" if kind == "sdist" else f"{stem}-py3-none-any.whl"
    content = content if content is not None else f"contents of {filename}".encode()
    blake2 = hashlib.blake2b(content, digest_size=32).hexdigest()
    if with_metadata is None:
        with_metadata = kind == "wheel"
    metadata = f"Metadata-Version: 2.4\nName: {project.name}\nVersion: {release.version}\n"
    fields.setdefault("upload_time", datetime.datetime.now(datetime.UTC))
    file = File(
        release=release,
        filename=filename,
        packagetype="sdist" if kind == "sdist" else "bdist_wheel",
        python_version="source" if kind == "sdist" else "py3",
        size=len(content),
        md5_digest=hashlib.md5(content).hexdigest(),
        sha256_digest=hashlib.sha256(content).hexdigest(),
        blake2_256_digest=blake2,
        path=content_key(blake2, filename),
        metadata_sha256=hashlib.sha256(metadata.encode()).hexdigest() if with_metadata else None,
        metadata_blake2_256=(
            hashlib.blake2b(metadata.encode(), digest_size=32).hexdigest()
            if with_metadata
            else None
        ),
        **fields,
    )
    session.add(file)
    session.flush()
    journal.record(
        session,
        project.name,
        Action.ADD_FILE,
        version=release.version,
        files=(FileRef.of(file),),
        packagetype=file.packagetype,
        filename=filename,
    )
    _done(session, commit)
    return file


def yank(session, release: Release, reason: str = "", *, commit: bool = True) -> Release:
    release.yanked = True
    release.yanked_reason = reason
    journal.record(session, release.project.name, Action.YANK_RELEASE, version=release.version)
    _done(session, commit)
    return release


def _classifier(session, text: str) -> Classifier:
    found = session.scalar(sa.select(Classifier).where(Classifier.classifier == text))
    return found or Classifier(classifier=text)


def _reorder(session, project: Project) -> None:
    releases = session.scalars(sa.select(Release).where(Release.project_id == project.id)).all()

    def key(release: Release):
        try:
            return (1, Version(release.version))
        except InvalidVersion:
            return (0, release.version)

    for position, release in enumerate(sorted(releases, key=key)):
        release.sort_order = position


def _done(session, commit: bool) -> None:
    if commit:
        session.commit()
    else:
        session.flush()
