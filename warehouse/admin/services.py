"""What admins do, from the web or the CLI alike: each action changes the index, writes one
admin log entry in the same transaction, and journals what mirrors must see.

Callers pass an :class:`Actor` (who, from where) and a :class:`Mailer` (how owners are told);
nothing here knows about requests.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse.accounts.models import Email, RecoveryCode, User, WebAuthnCredential
from warehouse.admin.memo import bump
from warehouse.admin.models import AdminLogEntry, Observation, ObservationKind
from warehouse.cdn.keys import file_key
from warehouse.cdn.tasks import purge_keys
from warehouse.db import utcnow
from warehouse.packaging import journal
from warehouse.packaging.journal import Action, Entry, FileRef
from warehouse.packaging.models import (
    LIFECYCLE_QUARANTINED,
    File,
    ProhibitedProjectName,
    Project,
    Release,
    Role,
    RoleName,
)
from warehouse.settings import Settings

QUARANTINE_VERSION_KEY = "admin:quarantine:version"
# How stale a process's list of quarantined files may be (see warehouse.admin.memo).
BLOCKLIST_CHECK_SECONDS = 1.0
SYSTEM_ACTOR = "(system)"
# A trusted observer's report quarantines a project this young on its own.
YOUNG_PROJECT = datetime.timedelta(hours=24)


class AdminError(ValueError):
    """A refused admin action; the message is one sentence for the admin."""


@dataclasses.dataclass(frozen=True)
class Actor:
    username: str
    source: str  # "web", "cli" or "auto"
    remote_addr: str | None = None


AUTOMATIC = Actor(SYSTEM_ACTOR, "auto")

# (to, template, context) -> None; sends after the commit.
Mailer = Callable[..., None]


def _no_mail(to: str, template: str, **context) -> None:
    return None


def log_action(
    session: orm.Session,
    actor: Actor,
    action: str,
    target_kind: str,
    target: str,
    **details,
) -> AdminLogEntry:
    entry = AdminLogEntry(
        actor=actor.username,
        source=actor.source,
        remote_addr=actor.remote_addr,
        action=action,
        target_kind=target_kind,
        target=target,
        details=details,
        created=utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def recent_log(session: orm.Session, limit: int = 50, target: str | None = None):
    query = sa.select(AdminLogEntry).order_by(AdminLogEntry.id.desc()).limit(limit)
    if target is not None:
        query = query.where(AdminLogEntry.target == target)
    return list(session.scalars(query))


# Users ------------------------------------------------------------------------------------


def find_user(session: orm.Session, username: str) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        raise AdminError(f"There is no user named {username!r}.")
    return user


def set_admin(session: orm.Session, actor: Actor, user: User, admin: bool) -> None:
    if user.is_superuser == admin:
        state = "already" if admin else "not"
        raise AdminError(f"{user.username} is {state} an admin.")
    user.is_superuser = admin
    log_action(session, actor, "grant admin" if admin else "revoke admin", "user", user.username)


def set_frozen(session: orm.Session, actor: Actor, user: User, frozen: bool, reason: str) -> None:
    """A frozen account cannot log in or use its tokens; nothing of it is deleted."""
    if user.is_active == (not frozen):
        state = "already frozen" if frozen else "not frozen"
        raise AdminError(f"{user.username} is {state}.")
    user.is_active = not frozen
    log_action(
        session, actor, "freeze" if frozen else "unfreeze", "user", user.username, reason=reason
    )


def set_trusted_observer(session: orm.Session, actor: Actor, user: User, trusted: bool) -> None:
    user.is_trusted_observer = trusted
    log_action(
        session,
        actor,
        "trust observer" if trusted else "distrust observer",
        "user",
        user.username,
    )


def reset_two_factor(session: orm.Session, actor: Actor, user: User, reason: str) -> None:
    """Remove every second factor (for a person who lost them and proved who they are)."""
    if not user.has_two_factor:
        raise AdminError(f"{user.username} has no second factor to reset.")
    removed = {
        "totp": user.totp_secret is not None,
        "security_keys": len(user.webauthn_credentials),
    }
    user.totp_secret = None
    session.execute(sa.delete(WebAuthnCredential).where(WebAuthnCredential.user_id == user.id))
    session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    session.expire(user, ["webauthn_credentials", "recovery_codes"])
    log_action(
        session, actor, "reset two-factor", "user", user.username, reason=reason, removed=removed
    )


def mark_email_verified(session: orm.Session, actor: Actor, user: User, email_id: int) -> Email:
    email = session.get(Email, email_id)
    if email is None or email.user_id != user.id:
        raise AdminError(f"{user.username} has no such email address.")
    if email.verified:
        raise AdminError(f"{email.email} is already verified.")
    email.verified = True
    log_action(session, actor, "mark email verified", "user", user.username, email=email.email)
    return email


# Prohibited names -------------------------------------------------------------------------


def prohibit_name(session: orm.Session, actor: Actor, name: str, reason: str) -> str:
    """Refuse ``name`` (normalized) for new projects; existing projects are not touched."""
    reason = reason.strip()
    if not reason:
        raise AdminError("Give a reason: it is what uploaders are told.")
    normalized = canonicalize_name(name)
    if not normalized:
        raise AdminError(f"{name!r} is not a project name.")
    if session.scalar(
        sa.select(ProhibitedProjectName.id).where(ProhibitedProjectName.name == normalized)
    ):
        raise AdminError(f"{normalized!r} is already prohibited.")
    session.add(ProhibitedProjectName(name=normalized, comment=reason, created=utcnow()))
    log_action(session, actor, "prohibit name", "prohibited-name", normalized, reason=reason)
    return normalized


def allow_name(session: orm.Session, actor: Actor, name: str) -> str:
    normalized = canonicalize_name(name)
    row = session.scalar(
        sa.select(ProhibitedProjectName).where(ProhibitedProjectName.name == normalized)
    )
    if row is None:
        raise AdminError(f"{normalized!r} is not prohibited.")
    session.delete(row)
    log_action(
        session, actor, "allow name", "prohibited-name", normalized, former_reason=row.comment
    )
    return normalized


def prohibited_names(session: orm.Session) -> list[ProhibitedProjectName]:
    return list(
        session.scalars(sa.select(ProhibitedProjectName).order_by(ProhibitedProjectName.name))
    )


# Projects ---------------------------------------------------------------------------------


def find_project_query(name: str):
    return sa.select(Project).where(Project.normalized_name == canonicalize_name(name))


def find_project(session: orm.Session, name: str) -> Project:
    project = session.scalar(find_project_query(name))
    if project is None:
        raise AdminError(f"There is no project named {name!r}.")
    return project


def owners_of(session: orm.Session, project: Project) -> list[User]:
    return list(
        session.scalars(
            sa.select(User)
            .join(Role, Role.user_id == User.id)
            .where(Role.project_id == project.id, Role.role_name == RoleName.owner)
            .options(orm.selectinload(User.emails))
        )
    )


def _mail_owners(session, project: Project, mail: Mailer, template: str, **context) -> None:
    for owner in owners_of(session, project):
        email = owner.primary_email
        if email is not None and email.verified:
            mail(email.email, template, username=owner.username, project=project.name, **context)


def reload_blocklists(redis, settings: Settings, entries: list[Entry]) -> None:
    """A reaction to committed quarantine entries (warehouse.effects): every web process
    reloads the quarantined files, and the files are purged once more after that.

    The first purge (the entries' keys) can race a process that has not reloaded yet: a CDN
    refetch in between would keep the old answer.
    """
    if redis is not None:
        bump(redis, QUARANTINE_VERSION_KEY)
    keys = sorted({file_key(file.filename) for entry in entries for file in entry.files})
    if keys and settings.cdn_backend != "none":
        purge_keys.send_now((keys,), countdown=BLOCKLIST_CHECK_SECONDS + 0.5)


def quarantine(
    session: orm.Session, actor: Actor, project: Project, reason: str, mail: Mailer = _no_mail
) -> None:
    """Take the project out of circulation: hidden from every listing, files 404, owners
    locked out; nothing deleted. The journal entry tells mirrors (and every cache)."""
    reason = reason.strip()
    if not reason:
        raise AdminError("Give a reason: it is what the owners are told.")
    if project.quarantined:
        raise AdminError(f"{project.name} is already in quarantine.")
    _change_lifecycle(session, actor, project, LIFECYCLE_QUARANTINED, reason)
    log_action(session, actor, "quarantine", "project", project.normalized_name, reason=reason)
    _mail_owners(session, project, mail, "project-quarantined", reason=reason)


def unquarantine(
    session: orm.Session, actor: Actor, project: Project, mail: Mailer = _no_mail
) -> None:
    if not project.quarantined:
        raise AdminError(f"{project.name} is not in quarantine.")
    former = project.lifecycle_status_note
    _change_lifecycle(session, actor, project, None, None)
    log_action(session, actor, "unquarantine", "project", project.normalized_name, reason=former)
    _mail_owners(session, project, mail, "project-released")


def _change_lifecycle(
    session: orm.Session, actor: Actor, project: Project, status: str | None, note: str | None
) -> None:
    """Enter (``status``) or leave (None) quarantine, journaled with the project's files: the
    CDN purges them with the entry, and web processes reload their blocklists."""
    project.lifecycle_status = status
    project.lifecycle_status_changed = utcnow()
    project.lifecycle_status_note = note
    journal.record(
        session,
        project.name,
        Action.QUARANTINE_ENTER if status else Action.QUARANTINE_EXIT,
        submitted_by=actor.username,
        files=FileRef.all_of_project(session, project.id),
    )


def quarantined_blob_keys(session: orm.Session) -> frozenset[str]:
    """Every blob key (file and ``.metadata`` sidecar) of every quarantined project, and of
    every release a scan holds (warehouse.scanning.holds)."""
    from warehouse.scanning.holds import held_files_query

    # Two selective queries, not one OR (which would read every file of the index).
    quarantined = (
        sa.select(File.path, File.metadata_sha256)
        .join(Release, File.release_id == Release.id)
        .join(Project, Release.project_id == Project.id)
        .where(Project.lifecycle_status == LIFECYCLE_QUARANTINED)
    )
    rows = session.execute(sa.union(quarantined, held_files_query())).all()
    keys = {row.path for row in rows}
    keys.update(f"{row.path}.metadata" for row in rows if row.metadata_sha256)
    return frozenset(keys)


def set_limits(
    session: orm.Session,
    actor: Actor,
    project: Project,
    upload_limit: int | None,
    total_size_limit: int | None,
) -> None:
    for value in (upload_limit, total_size_limit):
        if value is not None and value <= 0:
            raise AdminError(
                "A limit must be a positive number of bytes, or empty for the default."
            )
    before = {"upload_limit": project.upload_limit, "total_size_limit": project.total_size_limit}
    project.upload_limit = upload_limit
    project.total_size_limit = total_size_limit
    log_action(
        session,
        actor,
        "set limits",
        "project",
        project.normalized_name,
        before=before,
        after={"upload_limit": upload_limit, "total_size_limit": total_size_limit},
    )


# Reports ----------------------------------------------------------------------------------


class ReportError(ValueError):
    """A report that cannot be taken; ``field`` names what is wrong (None: the whole)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


MAX_SUMMARY = 2000


def check_report(kind: str, summary: str, inspector_url: str | None) -> ObservationKind:
    try:
        parsed = ObservationKind(kind)
    except ValueError:
        kinds = ", ".join(repr(k.value) for k in ObservationKind)
        raise ReportError(f"'kind' must be one of {kinds}.", "kind") from None
    if not isinstance(summary, str) or not summary.strip():
        raise ReportError("'summary' must say what is wrong, in a few words at least.", "summary")
    if len(summary) > MAX_SUMMARY:
        raise ReportError(f"'summary' must be at most {MAX_SUMMARY} characters.", "summary")
    if inspector_url is not None and (
        not isinstance(inspector_url, str)
        or not inspector_url.startswith(("http://", "https://"))
        or len(inspector_url) > 2000
    ):
        raise ReportError("'inspector_url' must be an http(s) URL.", "inspector_url")
    return parsed


def report(
    session: orm.Session,
    project: Project,
    reporter: User,
    kind: str,
    summary: str,
    inspector_url: str | None,
    via: str,
    mail: Mailer = _no_mail,
) -> tuple[Observation, bool]:
    """Record a report; returns it and whether it put the project in quarantine.

    A trusted observer's report quarantines a project younger than a day; on an older one
    it takes two reporters of the same kind, one of them trusted.
    """
    parsed = check_report(kind, summary, inspector_url)

    observation = Observation(
        project_name=project.normalized_name,
        project_id=project.id,
        kind=parsed.value,
        summary=summary.strip(),
        inspector_url=inspector_url,
        reporter_id=reporter.id,
        reporter=reporter.username,
        reporter_trusted=reporter.is_trusted_observer,
        via=via,
        created=utcnow(),
    )
    session.add(observation)
    session.flush()
    rule = _automatic_quarantine_rule(session, project, observation)
    if rule is not None and not project.quarantined:
        quarantine(session, AUTOMATIC, project, rule, mail)
        return observation, True
    return observation, False


def _automatic_quarantine_rule(session, project: Project, observation: Observation) -> str | None:
    if observation.reporter_trusted and utcnow() - project.created < YOUNG_PROJECT:
        return (
            f"A trusted observer ({observation.reporter}) reported it as "
            f"{observation.kind} less than 24 hours after it was created."
        )
    reporters = session.execute(
        sa.select(Observation.reporter, sa.func.bool_or(Observation.reporter_trusted))
        .where(
            Observation.project_name == project.normalized_name,
            Observation.kind == observation.kind,
            Observation.resolved.is_(None),
        )
        .group_by(Observation.reporter)
    ).all()
    if len(reporters) >= 2 and any(trusted for _, trusted in reporters):
        names = ", ".join(sorted(name for name, _ in reporters))
        return (
            f"Reporters including a trusted observer agree that it is {observation.kind}: {names}."
        )
    return None


def resolve_report(
    session: orm.Session, actor: Actor, observation_id: int, resolution: str
) -> Observation:
    observation = session.get(Observation, observation_id)
    if observation is None:
        raise AdminError(f"There is no report {observation_id}.")
    if observation.resolved is not None:
        raise AdminError(f"Report {observation_id} is already resolved.")
    observation.resolved = utcnow()
    observation.resolved_by = actor.username
    observation.resolution = resolution.strip() or "resolved"
    log_action(
        session,
        actor,
        "resolve report",
        "observation",
        observation.project_name,
        report=observation_id,
        resolution=observation.resolution,
    )
    return observation


def parse_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None
