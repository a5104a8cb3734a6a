"""ProjectManagement: every change journals in its own transaction, and blobs go only after
that transaction commits."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
import transaction
import zope.sqlalchemy

from tests.support.factories import create_file, create_project, create_release
from warehouse import db as database
from warehouse.accounts.models import User
from warehouse.packaging.management import (
    LastOwnerError,
    ManagementError,
    ProjectManagement,
)
from warehouse.packaging.models import (
    File,
    FilenameRegistry,
    JournalEntry,
    Project,
    Release,
    Role,
)
from warehouse.packaging.services import DatabaseProjectService, ProjectNameError
from warehouse.storage.local import LocalFileStorage

# Fixtures -------------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path):
    return LocalFileStorage(tmp_path / "files", fsync=False)


@pytest.fixture
def tm():
    return transaction.TransactionManager(explicit=True)


@pytest.fixture
def session(task_context, storage, tm):
    """A session joined to ``tm``, as ``request.db`` is joined to ``request.tm``, whose
    commits delete removed files' blobs from ``storage``."""
    session = task_context(storage).session_factory()
    zope.sqlalchemy.register(session, transaction_manager=tm)
    yield session
    if _in_transaction(tm):
        tm.abort()
    session.close()


def _in_transaction(tm) -> bool:
    try:
        tm.get()
    except transaction.interfaces.NoTransaction:
        return False
    return True


@pytest.fixture
def manager(session):
    return ProjectManagement(session, DatabaseProjectService(session))


@pytest.fixture
def users(db_session):
    # Straight to the table: password hashing would only slow these tests down.
    made = {name: User(username=name, password="not-a-hash") for name in ("alice", "bob", "carol")}
    db_session.add_all(made.values())
    db_session.commit()
    return made


def _put_blobs(storage, tmp_path, files) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"bytes")
    for file in files:
        storage.put(file.path, source, content_type="application/octet-stream")
        if file.metadata_sha256:
            storage.put(file.path + ".metadata", source, content_type="text/plain")


@pytest.fixture
def published(db_session, storage, tmp_path, users):
    """Project "Demo" with releases 1.0 and 2.0 (sdist + wheel each), alice its Owner,
    bob a Maintainer, every file in the filename registry and in storage."""
    project = create_project(db_session, "Demo", versions=["1.0", "2.0"])
    files = db_session.scalars(sa.select(File)).all()
    for file in files:
        db_session.add(FilenameRegistry(filename=file.filename))
    project.total_size = sum(f.size for f in files)
    db_session.add(Role(user=users["alice"], project=project, role_name="Owner"))
    db_session.add(Role(user=users["bob"], project=project, role_name="Maintainer"))
    db_session.commit()
    _put_blobs(storage, tmp_path, files)
    return project


def journal(db_session) -> list[tuple]:
    db_session.rollback()  # see what has been committed since
    return [
        (e.id, e.name, e.version, e.action, e.submitted_by)
        for e in db_session.scalars(sa.select(JournalEntry).order_by(JournalEntry.id))
    ]


def last_serial(db_session) -> int:
    db_session.rollback()
    return db_session.scalar(sa.select(sa.func.max(JournalEntry.id)))


def get(session, model, **where):
    # populate_existing: tests read with one session what another one committed.
    return session.scalar(
        sa.select(model).filter_by(**where).execution_options(populate_existing=True)
    )


def assert_gap_free(db_session) -> None:
    ids = [entry[0] for entry in journal(db_session)]
    assert ids == list(range(1, len(ids) + 1))


# Deleting files ---------------------------------------------------------------------------


def test_delete_file_journals_and_removes_blob_and_sidecar_after_commit(
    manager, session, tm, db_session, storage, published, users
):
    before, total = last_serial(db_session), published.total_size
    wheel_name = "demo-1.0-py3-none-any.whl"
    with tm:
        wheel = get(session, File, filename=wheel_name)
        keys = [wheel.path, wheel.path + ".metadata"]
        size = wheel.size
        manager.delete_file(wheel, _user(session, "alice"))
        # Not yet committed: the blob must still be there for everyone reading the old rows.
        assert all(storage.exists(key) for key in keys)

    assert not any(storage.exists(key) for key in keys)
    assert journal(db_session)[-1] == (
        before + 1,
        "Demo",
        "1.0",
        f"remove file {wheel_name}",
        "alice",
    )
    assert_gap_free(db_session)
    project = get(db_session, Project, name="Demo")
    assert project.last_serial == before + 1
    assert project.total_size == total - size
    assert get(db_session, File, filename=wheel_name) is None
    # The name is never free again.
    assert get(db_session, FilenameRegistry, filename=wheel_name) is not None
    # The other files keep their blobs.
    for other in db_session.scalars(sa.select(File)):
        assert storage.exists(other.path)


def test_aborted_delete_keeps_blob_row_and_serial(
    manager, session, tm, db_session, storage, published
):
    before = journal(db_session)
    tm.begin()
    wheel = get(session, File, filename="demo-1.0-py3-none-any.whl")
    manager.delete_file(wheel, None)
    tm.abort()

    assert storage.exists(wheel.path) and storage.exists(wheel.path + ".metadata")
    assert journal(db_session) == before
    assert get(db_session, File, filename="demo-1.0-py3-none-any.whl") is not None


def test_failed_commit_keeps_blobs(manager, session, tm, db_session, storage, published):
    tm.begin()
    sdist = get(session, File, filename="demo-1.0.tar.gz")
    path = sdist.path
    manager.delete_file(sdist, None)
    # Something else in the same transaction breaks at commit time.
    session.add(Project(name="Demo"))  # duplicate normalized name
    with pytest.raises(sa.exc.IntegrityError):
        tm.commit()
    tm.abort()
    assert storage.exists(path)
    assert get(db_session, File, filename="demo-1.0.tar.gz") is not None


class _CheckingStorage(LocalFileStorage):
    """Refuses to delete a blob while a committed row still points at it."""

    def __init__(self, root, engine):
        super().__init__(root, fsync=False)
        self.engine = engine
        self.deleted: list[str] = []

    def delete(self, key: str) -> None:
        path = key.removesuffix(".metadata")
        with self.engine.connect() as connection:
            still_there = connection.scalar(sa.select(File.id).where(File.path == path))
        assert still_there is None, "blob deleted before the row's removal was committed"
        self.deleted.append(key)
        super().delete(key)


def test_blobs_are_deleted_only_once_the_commit_is_visible(
    task_context, tm, db_session, clean_database, published, storage
):
    checking = _CheckingStorage(storage.root, clean_database)
    session = task_context(checking).session_factory()
    zope.sqlalchemy.register(session, transaction_manager=tm)
    manager = ProjectManagement(session, DatabaseProjectService(session))
    with tm:
        manager.delete_release(get(session, Release, version="1.0"), None)
    assert len(checking.deleted) == 3  # sdist, wheel, wheel's metadata


def test_storage_failure_after_commit_does_not_undo_the_commit(
    task_context, tm, db_session, published, storage
):
    class Broken(LocalFileStorage):
        def delete(self, key):
            raise OSError("disk on fire")

    session = task_context(Broken(storage.root, fsync=False)).session_factory()
    zope.sqlalchemy.register(session, transaction_manager=tm)
    manager = ProjectManagement(session, DatabaseProjectService(session))
    with tm:
        manager.delete_file(get(session, File, filename="demo-1.0.tar.gz"), None)
    assert get(db_session, File, filename="demo-1.0.tar.gz") is None
    assert journal(db_session)[-1][3] == "remove file demo-1.0.tar.gz"


# Releases and projects ----------------------------------------------------------------


def test_delete_release_journals_removes_its_blobs_and_keeps_the_rest(
    manager, session, tm, db_session, storage, published, users
):
    files = {f.filename: f.path for f in db_session.scalars(sa.select(File))}
    before = last_serial(db_session)
    with tm:
        manager.delete_release(get(session, Release, version="1.0"), _user(session, "bob"))

    assert journal(db_session)[-1] == (before + 1, "Demo", "1.0", "remove release", "bob")
    assert_gap_free(db_session)
    for filename, path in files.items():
        assert storage.exists(path) == filename.startswith("demo-2.0")
    project = get(db_session, Project, name="Demo")
    remaining = db_session.scalars(sa.select(File)).all()
    assert project.total_size == sum(f.size for f in remaining)
    assert [(r.version, r.sort_order) for r in db_session.scalars(sa.select(Release))] == [
        ("2.0", 0)
    ]
    registry = set(db_session.scalars(sa.select(FilenameRegistry.filename)))
    assert registry == set(files)


def test_delete_project_journals_and_removes_everything_but_the_registry(
    manager, session, tm, db_session, storage, published
):
    paths = list(db_session.scalars(sa.select(File.path)))
    before = last_serial(db_session)
    with tm:
        manager.delete_project(get(session, Project, name="Demo"), None)

    assert journal(db_session)[-1] == (before + 1, "Demo", None, "remove project", None)
    assert_gap_free(db_session)
    for model in (Project, Release, File, Role):
        assert db_session.scalar(sa.select(sa.func.count()).select_from(model)) == 0
    assert storage.keys() == []
    assert len(paths) == 4
    assert db_session.scalar(sa.select(sa.func.count()).select_from(FilenameRegistry)) == 4


def test_delete_project_aborted_keeps_all_blobs(
    manager, session, tm, db_session, storage, published
):
    keys = storage.keys()
    tm.begin()
    manager.delete_project(get(session, Project, name="Demo"), None)
    tm.abort()
    assert storage.keys() == keys
    assert get(db_session, Project, name="Demo") is not None


# Yanking ----------------------------------------------------------------------------------


def test_yank_and_unyank_journal_each_change_once(manager, session, tm, db_session, published):
    before = last_serial(db_session)
    with tm:
        manager.yank_release(get(session, Release, version="2.0"), "broken", None)
    with tm:  # the same again changes nothing and announces nothing
        manager.yank_release(get(session, Release, version="2.0"), "broken", None)
    release = get(db_session, Release, version="2.0")
    assert (release.yanked, release.yanked_reason) == (True, "broken")
    with tm:
        manager.unyank_release(get(session, Release, version="2.0"), None)
    with tm:
        manager.unyank_release(get(session, Release, version="2.0"), None)

    entries = journal(db_session)[before:]
    assert [(e[0], e[2], e[3]) for e in entries] == [
        (before + 1, "2.0", "yank release"),
        (before + 2, "2.0", "unyank release"),
    ]
    release = get(db_session, Release, version="2.0")
    assert (release.yanked, release.yanked_reason) == (False, "")
    assert get(db_session, Project, name="Demo").last_serial == before + 2


# Roles ----------------------------------------------------------------------------------


def _user(session, name):
    return get(session, User, username=name)


def test_add_and_remove_roles_journal(manager, session, tm, db_session, published):
    before = last_serial(db_session)
    with tm:
        project = get(session, Project, name="Demo")
        manager.add_role(project, _user(session, "carol"), "Owner", _user(session, "alice"))
    with tm:
        project = get(session, Project, name="Demo")
        assert manager.remove_role(project, _user(session, "bob"), _user(session, "alice")) == (
            "Maintainer"
        )

    assert journal(db_session)[before:] == [
        (before + 1, "Demo", None, "add Owner carol", "alice"),
        (before + 2, "Demo", None, "remove Maintainer bob", "alice"),
    ]
    roles = {(r.user.username, r.role_name) for r in db_session.scalars(sa.select(Role))}
    assert roles == {("alice", "Owner"), ("carol", "Owner")}


def test_change_role_journals_a_removal_and_an_addition(
    manager, session, tm, db_session, published
):
    before = last_serial(db_session)
    with tm:
        project = get(session, Project, name="Demo")
        previous = manager.change_role(
            project, _user(session, "bob"), "Owner", _user(session, "alice")
        )
    assert previous == "Maintainer"
    assert journal(db_session)[before:] == [
        (before + 1, "Demo", None, "remove Maintainer bob", "alice"),
        (before + 2, "Demo", None, "add Owner bob", "alice"),
    ]
    with tm, pytest.raises(ManagementError, match="already has the Owner role"):
        manager.change_role(
            get(session, Project, name="Demo"), _user(session, "bob"), "Owner", None
        )


def test_the_last_owner_cannot_be_removed(manager, session, tm, db_session, published):
    before = journal(db_session)
    tm.begin()
    with pytest.raises(LastOwnerError, match="last Owner of Demo"):
        manager.remove_role(get(session, Project, name="Demo"), _user(session, "alice"), None)
    tm.abort()
    assert journal(db_session) == before

    # With a second Owner, either one may go, but not both.
    with tm:
        manager.add_role(get(session, Project, name="Demo"), _user(session, "carol"), "Owner", None)
    with tm:
        manager.remove_role(get(session, Project, name="Demo"), _user(session, "alice"), None)
    tm.begin()
    with pytest.raises(LastOwnerError):
        manager.remove_role(get(session, Project, name="Demo"), _user(session, "carol"), None)
    tm.abort()


def test_concurrent_owner_removals_leave_one_owner(clean_database, db_session, storage, published):
    carol = _user(db_session, "carol")
    db_session.add(
        Role(user=carol, project=get(db_session, Project, name="Demo"), role_name="Owner")
    )
    db_session.commit()
    factory = database.make_session_factory(clean_database)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def remove(username: str) -> None:
        tm = transaction.TransactionManager(explicit=True)
        session = factory()
        zope.sqlalchemy.register(session, transaction_manager=tm)
        try:
            tm.begin()
            manager = ProjectManagement(session, DatabaseProjectService(session))
            project, user = get(session, Project, name="Demo"), _user(session, username)
            barrier.wait()
            manager.remove_role(project, user, None)
            tm.commit()
            outcomes.append("removed")
        except LastOwnerError:
            tm.abort()
            outcomes.append("refused")
        finally:
            session.close()

    threads = [threading.Thread(target=remove, args=(n,)) for n in ("alice", "carol")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "removed"]
    db_session.rollback()
    owners = db_session.scalar(
        sa.select(sa.func.count()).select_from(Role).where(Role.role_name == "Owner")
    )
    assert owners == 1


def test_role_errors(manager, session, tm, published):
    tm.begin()
    project = get(session, Project, name="Demo")
    with pytest.raises(ManagementError, match="already has the Maintainer role"):
        manager.add_role(project, _user(session, "bob"), "Owner", None)
    with pytest.raises(ManagementError, match="not a role"):
        manager.add_role(project, _user(session, "carol"), "Emperor", None)
    with pytest.raises(ManagementError, match="carol has no role"):
        manager.remove_role(project, _user(session, "carol"), None)
    tm.abort()


# Renaming -------------------------------------------------------------------------------


def test_rename_journals_under_both_names(manager, session, tm, db_session, published):
    before = last_serial(db_session)
    with tm:
        manager.rename_project(
            get(session, Project, name="Demo"), "Showcase", _user(session, "alice")
        )

    assert journal(db_session)[before:] == [
        (before + 1, "Demo", None, "rename to Showcase", "alice"),
        (before + 2, "Showcase", None, "rename from Demo", "alice"),
    ]
    assert_gap_free(db_session)
    project = get(db_session, Project, normalized_name="showcase")
    assert project.name == "Showcase"
    assert project.last_serial == before + 2
    assert get(db_session, Project, normalized_name="demo") is None


def test_rename_that_only_changes_spelling_journals_once(
    manager, session, tm, db_session, published
):
    before = last_serial(db_session)
    with tm:
        manager.rename_project(get(session, Project, name="Demo"), "DEMO", None)
    assert [e[1:4] for e in journal(db_session)[before:]] == [("DEMO", None, "rename from Demo")]
    assert get(db_session, Project, normalized_name="demo").name == "DEMO"


def test_rename_to_a_name_only_similar_to_itself_is_allowed(
    manager, session, tm, db_session, published
):
    with tm:
        manager.rename_project(get(session, Project, name="Demo"), "Dem0", None)
    assert get(db_session, Project, normalized_name="dem0").name == "Dem0"


@pytest.mark.parametrize(
    ("new_name", "message"),
    [
        ("Other", "already used by another project"),
        ("0ther", "too similar to an existing project"),
        ("-bad-", "is invalid"),
        ("pypi", "isn't allowed"),
    ],
)
def test_rename_refusals_change_nothing(
    manager, session, tm, db_session, published, new_name, message
):
    create_project(db_session, "Other", versions=[])
    before = journal(db_session)
    tm.begin()
    project = get(session, Project, name="Demo")
    with pytest.raises(ProjectNameError, match=message):
        manager.rename_project(project, new_name, None)
    # The savepoint was rolled back: the project still has its name in this transaction.
    assert project.name == "Demo"
    tm.abort()
    assert journal(db_session) == before
    assert get(db_session, Project, normalized_name="demo") is not None


def test_rename_to_the_same_name_is_refused(manager, session, tm, published):
    tm.begin()
    with pytest.raises(ManagementError, match="already named"):
        manager.rename_project(get(session, Project, name="Demo"), "Demo", None)
    tm.abort()


# The serial across everything -------------------------------------------------------------


def test_a_sequence_of_changes_gets_consecutive_serials(
    manager, session, tm, db_session, published, storage, tmp_path
):
    release = create_release(db_session, get(db_session, Project, name="Demo"), "3.0", files=())
    extra = create_file(db_session, release, kind="sdist")
    _put_blobs(storage, tmp_path, [extra])
    extra_name = extra.filename
    start = last_serial(db_session)

    with tm:
        manager.yank_release(get(session, Release, version="1.0"), "", None)
        manager.delete_file(get(session, File, filename=extra_name), None)
    with tm:
        manager.add_role(
            get(session, Project, name="Demo"), _user(session, "carol"), "Maintainer", None
        )
        manager.delete_release(get(session, Release, version="3.0"), None)
    with tm:
        manager.rename_project(get(session, Project, name="Demo"), "Demo2", None)
    with tm:
        manager.delete_project(get(session, Project, name="Demo2"), None)

    entries = journal(db_session)[start:]
    assert [e[0] for e in entries] == list(range(start + 1, start + 8))
    assert [e[3] for e in entries] == [
        "yank release",
        f"remove file {extra_name}",
        "add Maintainer carol",
        "remove release",
        "rename to Demo2",
        "rename from Demo",
        "remove project",
    ]
    assert_gap_free(db_session)
    assert storage.keys() == []
