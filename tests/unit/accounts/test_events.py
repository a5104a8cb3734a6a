"""warehouse.events: recording and reading security events."""

from __future__ import annotations

import datetime
import types
import uuid

from warehouse.events import EventSource, events_for, record_event
from warehouse.events.tags import AccountTag, ProjectTag, describe


def test_record_with_a_session_and_read_back_newest_first(db_session, make_user):
    user = make_user("alice")
    first = record_event(
        db_session, EventSource.user, user.id, AccountTag.LOGIN_SUCCESS, ip="192.0.2.1"
    )
    first.time -= datetime.timedelta(minutes=1)
    record_event(
        db_session,
        EventSource.user,
        user.id,
        AccountTag.API_TOKEN_ADDED,
        actor=user,
        additional={"description": "ci"},
    )
    record_event(db_session, EventSource.project, 7, ProjectTag.RELEASE_YANKED, actor=user)
    db_session.commit()

    events = events_for(db_session, EventSource.user, user.id)
    assert [e.tag for e in events] == ["account:api_token:added", "account:login:success"]
    assert events[0].actor == "alice" and events[0].actor_id == user.id
    assert events[0].additional == {"description": "ci"}
    assert events[1].ip == "192.0.2.1" and events[1].actor is None
    assert [e.tag for e in events_for(db_session, "project", "7")] == ["project:release:yank"]
    assert events_for(db_session, EventSource.user, user.id, tag_prefix="account:login") == [
        events[1]
    ]


def test_record_with_a_request_fills_in_who_and_where(db_session):
    actor = types.SimpleNamespace(id=uuid.uuid4(), username="bob")
    request = types.SimpleNamespace(
        db=db_session, remote_addr="198.51.100.2", user_agent="x" * 600, user=actor
    )
    event = record_event(request, EventSource.project, 1, ProjectTag.ROLE_ADDED)
    assert (event.ip, event.actor, event.actor_id) == ("198.51.100.2", "bob", actor.id)
    assert len(event.user_agent) == 512
    assert event.source == "project" and event.source_id == "1"


def test_descriptions():
    assert describe(AccountTag.LOGIN_FAILURE) == "Failed login"
    assert describe("something:new") == "something:new"
