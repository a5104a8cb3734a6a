import pytest
import sqlalchemy as sa

from warehouse.accounts.services import USERNAME_RE
from warehouse.packaging.models import (
    PROJECT_NAME_RE,
    JournalEntry,
    ProhibitedProjectName,
    Release,
    Role,
)
from warehouse.packaging.services import (
    DatabaseProjectService,
    ProjectNameError,
    ultranormalize_name,
)


@pytest.fixture
def projects(db_session):
    return DatabaseProjectService(db_session)


def test_create_makes_the_creator_owner_and_journals_it(projects, user, db_session):
    project = projects.create("My.Project", user)
    db_session.commit()
    assert project.normalized_name == "my-project"
    assert projects.role_of(user, project) == "Owner"
    actions = db_session.scalars(sa.select(JournalEntry.action).order_by(JournalEntry.id)).all()
    assert actions == ["create", "add Owner alice"]
    assert project.last_serial == 2
    assert projects.find("MY_PROJECT").id == project.id


def test_creating_an_existing_project_returns_none(projects, user, db_session):
    projects.create("demo", user)
    db_session.commit()
    assert projects.create("Demo", user) is None
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Role)) == 1


@pytest.mark.parametrize("name", ["-leading", "trailing-", "sp ace", "ünïcode", "a" * 101, ""])
def test_invalid_names_are_refused(projects, name):
    with pytest.raises(ProjectNameError):
        projects.check_new_name(name)


@pytest.mark.parametrize("name", ["os", "json", "pypi", "Asyncio"])
def test_reserved_names_are_refused(projects, name):
    with pytest.raises(ProjectNameError, match="isn't allowed"):
        projects.check_new_name(name)


def test_prohibited_names_table_is_honoured(projects, db_session):
    db_session.add(ProhibitedProjectName(name="evil-pkg", comment="malware"))
    db_session.flush()
    with pytest.raises(ProjectNameError, match="isn't allowed"):
        projects.check_new_name("Evil_Pkg")


def test_confusable_names_are_refused_but_the_same_project_is_not(projects, user, db_session):
    projects.create("requests", user)
    db_session.commit()
    for confusable in ["r-e-q-u-e-s-t-s", "req_uests", "REQ.UESTS"]:
        with pytest.raises(ProjectNameError, match="too similar"):
            projects.check_new_name(confusable)
    projects.check_new_name("requests2")  # different enough
    projects.check_new_name("requests")  # the same normalized name is the same project
    assert ultranormalize_name("Hello_W0rld.1") == ultranormalize_name("hellowor1d-l")


def test_reorder_releases_sorts_by_version_not_text(projects, user, db_session):
    project = projects.create("demo", user)
    for version in ["1.10", "1.9", "2.0rc1", "1.9.1", "2.0"]:
        db_session.add(
            Release(
                project=project, version=version, canonical_version=version, metadata_version="2.1"
            )
        )
    db_session.flush()
    projects.reorder_releases(project)
    db_session.flush()
    ordered = db_session.scalars(
        sa.select(Release.version)
        .where(Release.project_id == project.id)
        .order_by(Release.sort_order)
    ).all()
    assert ordered == ["1.9", "1.9.1", "1.10", "2.0rc1", "2.0"]


def _ranked(db_session, project) -> list[tuple[str, int]]:
    return db_session.execute(
        sa.select(Release.version, Release.sort_order)
        .where(Release.project_id == project.id)
        .order_by(Release.sort_order)
    ).all()


def test_a_new_release_is_slotted_in_among_ranked_ones(projects, user, db_session):
    project = projects.create("demo", user)
    for version in ["1.0", "1.10", "2.0"]:
        db_session.add(
            Release(
                project=project, version=version, canonical_version=version, metadata_version="2.1"
            )
        )
    db_session.flush()
    projects.reorder_releases(project)
    for version in ["1.9", "0.1", "3.0"]:
        added = Release(
            project=project, version=version, canonical_version=version, metadata_version="2.1"
        )
        db_session.add(added)
        db_session.flush()
        projects.reorder_releases(project, added=added)
    db_session.flush()
    db_session.expire_all()
    assert [tuple(row) for row in _ranked(db_session, project)] == [
        ("0.1", 0),
        ("1.0", 1),
        ("1.9", 2),
        ("1.10", 3),
        ("2.0", 4),
        ("3.0", 5),
    ]


def test_slotting_in_falls_back_to_a_full_ranking_when_the_others_are_not_ranked(
    projects, user, db_session
):
    project = projects.create("demo", user)
    for version in ["2.0", "1.0", "1.5"]:  # inserted with sort_order 0, never ranked
        db_session.add(
            Release(
                project=project, version=version, canonical_version=version, metadata_version="2.1"
            )
        )
    db_session.flush()
    added = Release(project=project, version="1.2", canonical_version="1.2", metadata_version="2.1")
    db_session.add(added)
    db_session.flush()
    projects.reorder_releases(project, added=added)
    db_session.flush()
    db_session.expire_all()
    assert [row.version for row in _ranked(db_session, project)] == ["1.0", "1.2", "1.5", "2.0"]
    assert added.sort_order == 1


@pytest.mark.parametrize("name", ["ı", "ſ", "\u212a", "aı", "ıb"])
def test_names_are_ascii_whatever_their_upper_case(name):
    # Each of these upper-cases to ASCII ("I", "S", "K"), which IGNORECASE alone accepted.
    assert PROJECT_NAME_RE.match(name) is None
    assert USERNAME_RE.match(name) is None
