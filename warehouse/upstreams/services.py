"""Managing upstreams (the CLI and the admin pages share this): add, remove, allow a name."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from sqlalchemy import orm

from warehouse.packaging.models import Project
from warehouse.upstreams import secrets
from warehouse.upstreams.filters import FilterConfigError, Filters
from warehouse.upstreams.models import Policy, Upstream, UpstreamAllowance, UpstreamProject

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class UpstreamError(ValueError):
    """Refused: the message says why, in a sentence a user reads."""


def add_upstream(
    session: orm.Session,
    settings,
    *,
    name: str,
    url: str,
    policy: str = Policy.on_demand.value,
    page_ttl: int = 1800,
    bandersnatch_config: str = "",
    username: str | None = None,
    password: str | None = None,
) -> Upstream:
    import re

    if not re.match(NAME_PATTERN, name):
        raise UpstreamError(
            f"{name!r} is not a valid upstream name (letters, digits, '.', '_', '-')."
        )
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UpstreamError(f"{url!r} is not an http(s) URL of a simple index.")
    if policy not in {p.value for p in Policy}:
        raise UpstreamError(
            f"policy must be one of on_demand, immediate, streamed, not {policy!r}."
        )
    if page_ttl < 0:
        raise UpstreamError("--page-ttl must be zero or more seconds.")
    try:
        Filters.from_config(bandersnatch_config)
    except FilterConfigError as exc:
        raise UpstreamError(f"bandersnatch configuration: {exc}") from exc
    if session.scalar(sa.select(Upstream.id).where(Upstream.name == name)) is not None:
        raise UpstreamError(f"an upstream named {name!r} exists already.")
    upstream = Upstream(
        name=name,
        url=url if url.endswith("/") else url + "/",
        policy=policy,
        page_ttl=page_ttl,
        bandersnatch_config=bandersnatch_config,
        username=username or None,
        password_encrypted=secrets.encrypt(settings, password) if password else None,
        last_serial=0,
        state="idle",
        state_detail="never synced",
    )
    session.add(upstream)
    session.flush()
    return upstream


def find_upstream(session: orm.Session, name: str) -> Upstream:
    upstream = session.scalar(sa.select(Upstream).where(Upstream.name == name))
    if upstream is None:
        raise UpstreamError(f"no upstream named {name!r}.")
    return upstream


def remove_upstream(session: orm.Session, name: str) -> int:
    """Remove the upstream and what was mirrored from it (journaled); projects removed."""
    from warehouse.upstreams.sync import Applied, _remove_mirrored

    upstream = find_upstream(session, name)
    removed = 0
    links = session.scalars(
        sa.select(UpstreamProject).where(UpstreamProject.upstream_id == upstream.id)
    ).all()
    for link in links:
        project = session.get(Project, link.project_id)
        applied = Applied()
        _remove_mirrored(session, upstream, project, link, applied)
        removed += applied.removed
    session.flush()
    session.delete(upstream)
    return removed


def allow(session: orm.Session, name: str, project: str, by: str | None = None) -> bool:
    """Allow ``project`` from upstream ``name`` although it is (or may become) local; False
    when it was allowed already."""
    upstream = find_upstream(session, name)
    normalized = canonicalize_name(project)
    if session.get(UpstreamAllowance, (upstream.id, normalized)) is not None:
        return False
    session.add(
        UpstreamAllowance(upstream_id=upstream.id, normalized_name=normalized, created_by=by)
    )
    session.flush()
    return True


def upstream_claiming(session: orm.Session, normalized: str) -> Upstream | None:
    """The upstream a name is mirrored from, when it is (for the upload check)."""
    return session.scalar(
        sa.select(Upstream)
        .join(UpstreamProject, UpstreamProject.upstream_id == Upstream.id)
        .join(Project, Project.id == UpstreamProject.project_id)
        .where(Project.normalized_name == normalized)
    )


# Uploads and upstream names (dependency confusion) -------------------------------------------


class UpstreamNameRefused(UpstreamError):
    pass


def _refusal(name: str, upstream: Upstream) -> UpstreamNameRefused:
    return UpstreamNameRefused(
        f"The name {name!r} comes from the upstream index {upstream.name!r}: uploading it here "
        "needs an administrator to allow it for that upstream first "
        f"('warehouse upstream allow {upstream.name} {canonicalize_name(name)}')."
    )


def claim_mirrored_project(session: orm.Session, project: Project, user) -> str | None:
    """For an upload by ``user`` (who has no role) to an existing ``project``: None if the
    project is not mirrored; the role granted when an allowance lets the upload in; raises
    :class:`UpstreamNameRefused` otherwise."""
    from warehouse.packaging import journal
    from warehouse.packaging.journal import Action
    from warehouse.packaging.models import Role, RoleName

    link = session.get(UpstreamProject, project.id)
    if link is None:
        return None
    upstream = session.get(Upstream, link.upstream_id)
    if (
        link.shared
        or session.get(UpstreamAllowance, (upstream.id, project.normalized_name)) is None
    ):
        # A shared project has owners of its own: only they upload to it.
        if link.shared:
            return None
        raise _refusal(project.name, upstream)
    link.shared = True
    session.add(Role(user_id=user.id, project_id=project.id, role_name=RoleName.owner))
    journal.record(
        session,
        project.name,
        Action.ADD_ROLE,
        submitted_by=user.username,
        role=RoleName.owner,
        username=user.username,
    )
    session.flush()
    return RoleName.owner.value


def check_new_name_upstream(session: orm.Session, settings, name: str) -> None:
    """Refuse a new local project whose name an upstream without serials has (its pages are
    only fetched on demand, so the name may not be mirrored here yet)."""
    from warehouse.upstreams.client import UpstreamUnavailable
    from warehouse.upstreams.sync import client_for

    normalized = canonicalize_name(name)
    upstreams = session.scalars(
        sa.select(Upstream).where(Upstream.has_serials.is_not(True)).order_by(Upstream.id)
    ).all()
    for upstream in upstreams:
        if session.get(UpstreamAllowance, (upstream.id, normalized)) is not None:
            continue
        client = client_for(settings, upstream)
        try:
            exists = client.project(normalized, with_json_api=False) is not None
        except UpstreamUnavailable:
            # An unreachable upstream must not stop every new project; the sync keeps local
            # names anyway, so nothing is ever served from it under this name unasked.
            continue
        finally:
            client.close()
        if exists:
            raise _refusal(name, upstream)
