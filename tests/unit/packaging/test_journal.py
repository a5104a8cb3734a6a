"""The journal's serial: gap-free, strictly increasing in commit order, even under load."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from warehouse import db as database
from warehouse.packaging import journal
from warehouse.packaging.models import JournalEntry, Project


def _make_projects(session, names):
    for name in names:
        session.add(Project(name=name))
    session.commit()


def test_entries_get_serials_at_commit_and_update_last_serial(db_session):
    _make_projects(db_session, ["alpha", "beta"])
    journal.record(db_session, "alpha", journal.Action.CREATE_PROJECT, submitted_by="u")
    journal.record(db_session, "Beta", journal.Action.CREATE_PROJECT, submitted_by="u")
    journal.record(db_session, "alpha", journal.Action.NEW_RELEASE, version="1.0")
    assert db_session.scalar(sa.select(sa.func.count()).select_from(JournalEntry)) == 0
    db_session.commit()

    entries = db_session.scalars(sa.select(JournalEntry).order_by(JournalEntry.id)).all()
    assert [(e.id, e.name, e.action) for e in entries] == [
        (1, "alpha", "create"),
        (2, "Beta", "create"),
        (3, "alpha", "new release"),
    ]
    serials = dict(db_session.execute(sa.select(Project.name, Project.last_serial)).all())
    assert serials == {"alpha": 3, "beta": 2}


def test_rolled_back_entries_leave_no_gap(db_session):
    _make_projects(db_session, ["alpha"])
    journal.record(db_session, "alpha", journal.Action.CREATE_PROJECT)
    db_session.commit()
    journal.record(db_session, "alpha", journal.Action.NEW_RELEASE, version="1")
    db_session.rollback()
    journal.record(db_session, "alpha", journal.Action.NEW_RELEASE, version="2")
    db_session.commit()
    assert db_session.scalars(sa.select(JournalEntry.id).order_by(JournalEntry.id)).all() == [1, 2]
    assert journal.pending(db_session) == []


def test_concurrent_writers_get_gap_free_serials_in_commit_order(clean_database):
    """Many threads commit entries across projects; a reader polling all the while must only
    ever see a gap-free prefix of serials, and every entry exactly once."""
    factory = database.make_session_factory(clean_database)
    names = [f"project-{i}" for i in range(8)]
    with factory() as setup:
        _make_projects(setup, names)

    writers, per_writer = 8, 15
    stop = threading.Event()
    reader_problems: list[str] = []

    def write(worker: int) -> None:
        with factory() as session:
            for n in range(per_writer):
                journal.record(
                    session,
                    names[(worker + n) % len(names)],
                    journal.Action.NEW_RELEASE,
                    version=f"w{worker} n{n}",
                )
                # Some other work inside the transaction, so transactions overlap.
                session.execute(sa.select(sa.func.pg_sleep(0.001)))
                session.commit()

    def read() -> None:
        with factory() as session:
            while not stop.is_set():
                ids = session.scalars(sa.select(JournalEntry.id).order_by(JournalEntry.id)).all()
                session.commit()
                if ids != list(range(1, len(ids) + 1)):
                    reader_problems.append(f"reader saw a gap: {ids[-5:]} of {len(ids)}")
                    return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    reader.join()

    assert reader_problems == []
    with factory() as session:
        rows = session.execute(
            sa.select(JournalEntry.id, JournalEntry.version).order_by(JournalEntry.id)
        ).all()
        assert [r.id for r in rows] == list(range(1, writers * per_writer + 1))
        assert len({r.version for r in rows}) == writers * per_writer
        # Within one writer, its entries appear in the order it committed them.
        for worker in range(writers):
            mine = [
                int(r.version.split("n")[1]) for r in rows if r.version.startswith(f"w{worker} ")
            ]
            assert mine == list(range(per_writer))
        # Each project's last_serial is its newest entry.
        newest = dict(
            session.execute(
                sa.select(JournalEntry.name, sa.func.max(JournalEntry.id)).group_by(
                    JournalEntry.name
                )
            ).all()
        )
        assert dict(session.execute(sa.select(Project.name, Project.last_serial)).all()) == newest
