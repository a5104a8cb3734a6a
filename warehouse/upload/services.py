"""The upload pipeline: checked form and artifact in, project / release / file rows out.

Each step is a small method with its own errors; :meth:`UploadService.upload` only sequences
them. Ordering matters in three places:

* everything that can refuse the upload runs before any blob is written;
* rows are flushed before the blob is stored, so a clash with a concurrent upload of the
  same filename surfaces as a clear 400 while nothing is in the store yet;
* a blob written by a transaction that then fails to commit is removed after the rollback,
  unless a committed row already points at it (the same bytes uploaded twice at once).
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
import structlog
from sqlalchemy import orm
from sqlalchemy.dialects.postgresql import insert

from warehouse import db
from warehouse.accounts.security import Identity
from warehouse.admin.flags import Flag
from warehouse.db import utcnow
from warehouse.packaging import journal
from warehouse.packaging.interfaces import IProjectService
from warehouse.packaging.journal import Action, FileRef
from warehouse.packaging.models import (
    ONE_SDIST_PER_RELEASE,
    DependencyKind,
    File,
    FilenameRegistry,
    PackageType,
    Project,
    Release,
)
from warehouse.packaging.services import ProjectNameError
from warehouse.ratelimit import RateLimiter
from warehouse.settings import MiB, Settings
from warehouse.storage.interfaces import IFileStorage
from warehouse.storage.keys import content_key, content_type_for
from warehouse.tokens.caveats import UPLOAD
from warehouse.upload.artifacts import (
    Artifact,
    Digests,
    check_digests,
    check_filename_matches,
    check_metadata_agrees,
    hash_stream,
    inspect_artifact,
)
from warehouse.upload.errors import UploadError
from warehouse.upload.metadata import UploadForm, render_description

log = structlog.get_logger(__name__)

HELP = "See https://pypi.org/help/#{} for more information."
ONE_SDIST_MESSAGE = "Only one sdist may be uploaded per release."


def _violated_constraint(exc: sa.exc.IntegrityError) -> str | None:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", None)


def _metadata_digests(data: bytes) -> Digests:
    return Digests(
        md5=hashlib.md5(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        blake2_256=hashlib.blake2b(data, digest_size=32).hexdigest(),
        size=len(data),
    )


@dataclasses.dataclass(frozen=True)
class UploadOutcome:
    file: File | None
    # A byte-identical file was already there: nothing changed.
    duplicate: bool = False


@dataclasses.dataclass
class UploadRequest:
    identity: Identity | None
    form: UploadForm
    content: BinaryIO
    filename: str
    uploaded_via: str | None = None


_RELEASE_TEXT_FIELDS = (
    "summary",
    "description",
    "description_content_type",
    "keywords",
    "author",
    "author_email",
    "maintainer",
    "maintainer_email",
    "license",
    "license_expression",
    "home_page",
    "download_url",
    "requires_python",
)
_RELEASE_LIST_FIELDS = (
    "license_files",
    "platform",
    "supported_platform",
    "provides_extra",
    "dynamic",
)

# A new release's dependencies, URLs and classifiers. Classifiers seen for the first time
# are added; should a concurrent upload add the same one first, DO UPDATE still returns its
# id (DO NOTHING would return nothing, and our snapshot could not see the other's row).
_ADD_RELEASE_DETAILS = sa.text(
    """
WITH dependencies AS (
    INSERT INTO release_dependencies (release_id, kind, specifier)
    SELECT CAST(:release_id AS integer), kind, specifier
    FROM unnest(CAST(:kinds AS smallint[]), CAST(:specifiers AS text[])) AS d(kind, specifier)
),
urls AS (
    INSERT INTO release_urls (release_id, label, url)
    SELECT CAST(:release_id AS integer), label, url
    FROM unnest(CAST(:labels AS text[]), CAST(:urls AS text[])) AS u(label, url)
),
wanted AS (SELECT DISTINCT unnest(CAST(:classifiers AS text[])) AS classifier),
added AS (
    INSERT INTO trove_classifiers (classifier)
    SELECT classifier FROM wanted
    WHERE NOT EXISTS (SELECT 1 FROM trove_classifiers t WHERE t.classifier = wanted.classifier)
    ON CONFLICT (classifier) DO UPDATE SET classifier = EXCLUDED.classifier
    RETURNING id
)
INSERT INTO release_classifiers (release_id, trove_id)
SELECT CAST(:release_id AS integer), id FROM added
UNION
SELECT CAST(:release_id AS integer), t.id FROM trove_classifiers t JOIN wanted USING (classifier)
"""
)


class UploadService:
    def __init__(
        self,
        session: orm.Session,
        settings: Settings,
        storage: IFileStorage,
        projects: IProjectService,
        upload_limiter: RateLimiter,
        new_project_limiter: RateLimiter,
        refusal: Callable[[Flag], str | None] | None = None,
        scan: Callable[[Project, Release, File, Path], None] | None = None,
    ):
        self.db = session
        # The message of an admin flag that is on (warehouse.admin.flags), else None.
        self.refusal = refusal or (lambda flag: None)
        self.settings = settings
        self.storage = storage
        self.projects = projects
        self.upload_limiter = upload_limiter
        self.new_project_limiter = new_project_limiter
        # Scans the stored file before the commit and holds its release if it is malicious
        # (warehouse.scanning.uploads); None: uploads are not scanned.
        self.scan = scan

    # The pipeline --------------------------------------------------------------------

    def upload(self, request: UploadRequest, *, workdir: Path | None = None) -> UploadOutcome:
        self._check_flags()
        identity = self._require_uploader(request.identity)
        form = request.form
        check_filename_matches(request.filename, form.filetype, form.name, form.version)
        self._check_rate(identity)
        project, role, release = self.projects.find_for_upload(
            form.name, identity.user, form.canonical_version
        )
        if project is not None:
            if role is None:
                role = self._claim_from_upstream(project, identity)
            self._check_may_upload(identity, project, role)
        elif message := self.refusal(Flag.DISALLOW_NEW_PROJECT_REGISTRATION):
            raise UploadError(message, status=403)
        else:
            self._check_not_upstream_name(form.name)

        with tempfile.TemporaryDirectory(prefix="upload-", dir=workdir) as scratch:
            artifact_path = Path(scratch) / "artifact"
            digests = self._receive(request.content, artifact_path, form.name, project)
            check_digests(form, digests)
            if self._is_identical_reupload(request.filename, digests):
                return UploadOutcome(file=None, duplicate=True)
            artifact = inspect_artifact(artifact_path, request.filename, form.filetype)
            check_metadata_agrees(artifact, form)

            if project is None:
                project = self._create_project(identity, form.name)
            self._check_project_size(project, digests.size)
            new_release = False
            if release is None:
                release, new_release = self._create_release(project, form, identity)
            if not new_release:  # a release made just now has no sdist yet
                self._check_one_sdist(release, form)
            file = self._add_file(project, release, form, request, digests, artifact, identity)
            self._store_blobs(file, artifact_path, artifact)
            if self.scan is not None:
                self.scan(project, release, file, artifact_path)
        log.info(
            "upload accepted",
            project=project.name,
            version=release.version,
            filename=file.filename,
            size=file.size,
            user=identity.user.username,
        )
        return UploadOutcome(file=file)

    # Who may upload ------------------------------------------------------------------

    def _require_uploader(self, identity: Identity | None) -> Identity:
        if identity is None:
            raise UploadError(
                "Invalid or non-existent authentication information. "
                + HELP.format("invalid-auth"),
                status=403,
            )
        if not identity.may(UPLOAD):
            raise UploadError(
                "Invalid API Token: this token may not upload (its scope is management only).",
                status=403,
            )
        user = identity.user
        if self.settings.require_verified_email and not user.has_verified_email:
            raise UploadError(
                f"User {user.username!r} does not have a verified primary email address. "
                "Please add a verified primary email before attempting to upload. "
                + HELP.format("verified-email")
            )
        if self.settings.require_2fa and not user.has_two_factor:
            raise UploadError(
                f"User {user.username!r} does not have two-factor authentication enabled. "
                "Please enable two-factor authentication before attempting to upload. "
                + HELP.format("two-factor-authentication")
            )
        return identity

    def _check_rate(self, identity: Identity) -> None:
        if not self.upload_limiter.hit(str(identity.user.id)):
            raise UploadError(
                "Too many uploads in a short time; try again in "
                f"{self.upload_limiter.retry_after()} seconds.",
                status=429,
            )

    def _check_flags(self) -> None:
        if message := self.refusal(Flag.READ_ONLY):
            raise UploadError(message, status=503)
        if message := self.refusal(Flag.DISALLOW_NEW_UPLOAD):
            raise UploadError(message, status=403)

    def _check_may_upload(self, identity: Identity, project: Project, role: str | None) -> None:
        if role is None or not identity.may_act_on(project.normalized_name):
            raise UploadError(
                f"The user {identity.user.username!r} isn't allowed to upload to project "
                f"{project.name!r}. " + HELP.format("project-name"),
                status=403,
            )
        if project.quarantined:
            raise UploadError(
                f"The project {project.name!r} is in quarantine: uploads are refused until "
                "the index's administrators release it.",
                status=403,
            )

    def _claim_from_upstream(self, project: Project, identity: Identity) -> str | None:
        # A name mirrored from an upstream is the upstream's unless an admin allowed it here
        # (dependency confusion; see warehouse.upstreams).
        from warehouse.upstreams.services import UpstreamNameRefused, claim_mirrored_project

        try:
            return claim_mirrored_project(self.db, project, identity.user)
        except UpstreamNameRefused as exc:
            raise UploadError(str(exc), status=403) from None

    def _check_not_upstream_name(self, name: str) -> None:
        from warehouse.upstreams.services import UpstreamNameRefused, check_new_name_upstream

        try:
            check_new_name_upstream(self.db, self.settings, name)
        except UpstreamNameRefused as exc:
            raise UploadError(str(exc), status=403) from None

    def _create_project(self, identity: Identity, name: str) -> Project:
        if not identity.may_act_on(None):
            raise UploadError(
                f"Invalid API Token: the token is scoped to projects and cannot create the "
                f"new project {name!r}.",
                status=403,
            )
        try:
            self.projects.check_new_name(name)
        except ProjectNameError as exc:
            raise UploadError(str(exc)) from None
        if not self.new_project_limiter.hit(str(identity.user.id)):
            raise UploadError(
                "Too many new projects created in a short time; try again in "
                f"{self.new_project_limiter.retry_after()} seconds.",
                status=429,
            )
        project = self.projects.create(name, identity.user)
        if project is None:
            # Created by a concurrent upload that has committed since we looked.
            project, role, _ = self.projects.find_for_upload(name, identity.user)
            self._check_may_upload(identity, project, role)
        return project

    # Bytes ---------------------------------------------------------------------------

    def _file_size_limit(self, project: Project | None) -> int:
        if project is not None and project.upload_limit:
            return max(project.upload_limit, self.settings.max_file_size)
        return self.settings.max_file_size

    def _receive(
        self, content: BinaryIO, path: Path, name: str, project: Project | None
    ) -> Digests:
        limit = self._file_size_limit(project)
        with path.open("wb") as out:
            return hash_stream(content, out, limit=limit, project_name=name)

    def _is_identical_reupload(self, filename: str, digests: Digests) -> bool:
        """True for the same bytes under a filename we have; refuses any other reuse.

        One query answers both questions: is there a file by that name, and was the name
        ever used (the registry keeps names of deleted files forever).
        """
        used = self.db.execute(
            sa.select(File.sha256_digest, File.blake2_256_digest)
            .select_from(FilenameRegistry)
            .outerjoin(File, File.filename == FilenameRegistry.filename)
            .where(FilenameRegistry.filename == filename)
        ).first()
        if used is None:
            return False
        if used.sha256_digest is None:
            raise UploadError(
                "This filename has already been used, use a different version. "
                + HELP.format("file-name-reuse")
            )
        if used.sha256_digest == digests.sha256 and used.blake2_256_digest == digests.blake2_256:
            return True
        raise UploadError(
            f"File already exists ({filename!r}, with blake2_256 hash "
            f"{used.blake2_256_digest!r}). " + HELP.format("file-name-reuse")
        )

    def _check_project_size(self, project: Project, size: int) -> None:
        limit = max(project.total_size_limit or 0, self.settings.max_project_size)
        if project.total_size + size > limit:
            raise UploadError(
                f"Project size too large. Limit for project {project.name!r} total size is "
                f"{limit // (1024 * MiB)} GB. " + HELP.format("project-size-limit")
            )

    # Rows ----------------------------------------------------------------------------

    def _create_release(
        self, project: Project, form: UploadForm, identity: Identity
    ) -> tuple[Release, bool]:
        """The new release the file belongs to, and False if another upload made it first."""
        # The whole row in one INSERT, returned as the entity: no SELECT, no UPDATE after.
        release = self.db.scalar(
            insert(Release)
            .values(
                project_id=project.id,
                version=form.version,
                canonical_version=form.canonical_version,
                is_prerelease=form.is_prerelease,
                metadata_version=form.metadata_version,
                created=utcnow(),
                sort_order=0,
                yanked=False,
                yanked_reason="",
                uploader_id=identity.user.id,
                description_html=render_description(
                    form.description, form.description_content_type
                ),
                **{attribute: getattr(form, attribute) for attribute in _RELEASE_TEXT_FIELDS},
                **{
                    attribute: list(getattr(form, attribute)) or None
                    for attribute in _RELEASE_LIST_FIELDS
                },
            )
            .on_conflict_do_nothing()
            .returning(Release)
        )
        if release is None:  # a concurrent upload made it first
            return self._find_release(project, form.canonical_version), False
        self._add_release_details(release, form)
        self.projects.reorder_releases(project, added=release)
        journal.record(
            self.db,
            project.name,
            Action.NEW_RELEASE,
            version=release.version,
            submitted_by=identity.user.username,
        )
        return release, True

    def _find_release(self, project: Project, canonical_version: str) -> Release | None:
        return self.db.scalar(
            sa.select(Release).where(
                Release.project_id == project.id, Release.canonical_version == canonical_version
            )
        )

    def _add_release_details(self, release: Release, form: UploadForm) -> None:
        """Dependencies, project URLs and classifiers, in one statement."""
        dependencies = [
            (int(kind), specifier)
            for kind in DependencyKind
            for specifier in getattr(form, kind.name)
        ]
        if not (dependencies or form.project_urls or form.classifiers):
            return
        self.db.execute(
            _ADD_RELEASE_DETAILS,
            {
                "release_id": release.id,
                "kinds": [kind for kind, _ in dependencies],
                "specifiers": [specifier for _, specifier in dependencies],
                "labels": [label for label, _ in form.project_urls],
                "urls": [url for _, url in form.project_urls],
                "classifiers": list(form.classifiers),
            },
        )

    def _check_one_sdist(self, release: Release, form: UploadForm) -> None:
        if form.filetype != PackageType.sdist:
            return
        has_sdist = self.db.scalar(
            sa.select(File.id).where(
                File.release_id == release.id, File.packagetype == PackageType.sdist
            )
        )
        if has_sdist is not None:
            raise UploadError(ONE_SDIST_MESSAGE)

    def _add_file(
        self,
        project: Project,
        release: Release,
        form: UploadForm,
        request: UploadRequest,
        digests: Digests,
        artifact: Artifact,
        identity: Identity,
    ) -> File:
        metadata_digests = (
            _metadata_digests(artifact.metadata_bytes)
            if form.filetype == PackageType.bdist_wheel
            else None
        )
        file = File(
            release_id=release.id,
            filename=request.filename,
            packagetype=form.filetype,
            python_version=form.pyversion,
            requires_python=release.requires_python,
            size=digests.size,
            md5_digest=digests.md5,
            sha256_digest=digests.sha256,
            blake2_256_digest=digests.blake2_256,
            path=content_key(digests.blake2_256, request.filename),
            uploaded_via=request.uploaded_via,
            metadata_sha256=metadata_digests.sha256 if metadata_digests else None,
            metadata_blake2_256=metadata_digests.blake2_256 if metadata_digests else None,
        )
        self.db.add(file)
        self.db.add(FilenameRegistry(filename=request.filename))
        project.total_size = Project.total_size + digests.size
        try:
            self.db.flush()
        except sa.exc.IntegrityError as exc:
            # Another upload committed between our checks and now: an sdist of this release
            # (held by the database, see File), or this filename.
            if _violated_constraint(exc) == ONE_SDIST_PER_RELEASE:
                raise UploadError(ONE_SDIST_MESSAGE) from None
            raise UploadError(
                f"File already exists ({request.filename!r}). " + HELP.format("file-name-reuse")
            ) from None
        journal.record(
            self.db,
            project.name,
            Action.ADD_FILE,
            version=release.version,
            submitted_by=identity.user.username,
            files=(FileRef.of(file),),
            packagetype=form.filetype,
            filename=request.filename,
        )
        return file

    # Blobs ---------------------------------------------------------------------------

    def _store_blobs(self, file: File, artifact_path: Path, artifact: Artifact) -> None:
        stored: list[str] = []
        db.after_rollback(self.db, lambda: self._remove_uncommitted_blobs(stored))
        # Noted before each write: a put that failed may still have landed (a store that went
        # down before it answered), and must go with the rest.
        stored.append(file.path)
        self.storage.put(file.path, artifact_path, content_type=content_type_for(file.filename))
        if file.metadata_path:
            metadata_file = artifact_path.with_suffix(".metadata")
            metadata_file.write_bytes(artifact.metadata_bytes)
            stored.append(file.metadata_path)
            self.storage.put(
                file.metadata_path, metadata_file, content_type=content_type_for(file.metadata_path)
            )

    def _remove_uncommitted_blobs(self, keys: list[str]) -> None:
        if not keys:
            return
        file_key = keys[0]
        # The same bytes under the same filename may have been committed by a concurrent
        # upload: its row owns the blob then, and we must leave it.
        try:
            with orm.Session(bind=self.db.get_bind()) as session:
                owned = session.scalar(sa.select(File.id).where(File.path == file_key))
        except sa.exc.SQLAlchemyError:
            # The database is down (which is likely why the commit failed): a task asks
            # again, and removes the blobs, once it is back.
            self._remove_later(file_key, keys)
            return
        if owned is not None:
            return
        left = []
        for key in keys:
            try:
                self.storage.delete(key)
            except Exception:  # noqa: BLE001 - never mask the failure that got us here
                log.exception("could not remove blob of a failed upload", key=key)
                left.append(key)
        if left:
            # The store is down (likely why the upload failed): a task tries until it is back.
            self._remove_later(file_key, left)

    @staticmethod
    def _remove_later(file_key: str, keys: list[str]) -> None:
        from warehouse.upload.tasks import remove_unowned_blobs

        try:
            remove_unowned_blobs.send_now((file_key, list(keys)))
        except Exception:  # noqa: BLE001 - the broker is down too: storage verify finds the orphan
            log.exception("could not schedule the removal of a failed upload's blobs", keys=keys)
        else:
            log.warning("a task removes the failed upload's blobs", keys=keys)
