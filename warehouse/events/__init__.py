"""Security and audit events for users and projects.

Record one with :func:`record_event` (inside the request's transaction, so it is written if
and only if the change it describes is), read them back with :func:`events_for`::

    from warehouse.events import EventSource, record_event
    from warehouse.events.tags import ProjectTag

    record_event(request, EventSource.project, project.id, ProjectTag.RELEASE_YANKED,
                 additional={"version": release.version, "reason": reason})
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import orm

from warehouse.db import utcnow
from warehouse.events.models import Event, EventSource

__all__ = ["Event", "EventSource", "client_ip", "events_for", "record_event"]

# Long user agents are truncated: the column is for people reading the log, not a store.
MAX_USER_AGENT_LENGTH = 512


def client_ip(request) -> str | None:
    """The address the request came from: the WSGI server's peer or, when that peer is a
    trusted proxy, the client it names (:mod:`warehouse.proxies` rewrites the address).

    ``X-Forwarded-For`` is deliberately not read here: anyone can send it.
    """
    return request.remote_addr or None


def record_event(
    request_or_session,
    source: EventSource | str,
    source_id,
    tag: str,
    *,
    additional: dict | None = None,
    actor=None,
    ip: str | None = None,
    user_agent: str | None = None,
) -> Event:
    """Add an event to the current transaction and return it.

    Pass a request to have the IP address, user agent and actor (the logged-in user) filled
    in; pass a database session (and those fields, if known) from code without a request.
    ``actor`` may be a user, overriding the request's (e.g. a login, before anyone is
    logged in).
    """
    db = getattr(request_or_session, "db", request_or_session)
    if db is not request_or_session:  # a request
        request = request_or_session
        ip = ip if ip is not None else client_ip(request)
        user_agent = user_agent if user_agent is not None else request.user_agent
        if actor is None:
            actor = getattr(request, "user", None)
    event = Event(
        source=str(source),
        source_id=str(source_id),
        tag=tag,
        time=utcnow(),
        actor_id=getattr(actor, "id", None),
        actor=getattr(actor, "username", None),
        ip=ip,
        user_agent=(user_agent or None) and user_agent[:MAX_USER_AGENT_LENGTH],
        additional=dict(additional or {}),
    )
    db.add(event)
    return event


def events_for(
    db: orm.Session,
    source: EventSource | str,
    source_id,
    *,
    limit: int = 50,
    tag_prefix: str | None = None,
) -> list[Event]:
    """The newest events about one user or project, newest first."""
    query = (
        sa.select(Event)
        .where(Event.source == str(source), Event.source_id == str(source_id))
        .order_by(Event.time.desc(), Event.id.desc())
        .limit(limit)
    )
    if tag_prefix:
        query = query.where(Event.tag.startswith(tag_prefix, autoescape=True))
    return list(db.scalars(query))


def includeme(config) -> None:
    # Nothing to register: importing the model is what puts the table in the metadata.
    pass
