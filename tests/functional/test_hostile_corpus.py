"""Every sample of tests/corpus/hostile.py is refused with its sentence and leaves nothing."""

from __future__ import annotations

import dataclasses

import celery
import pytest
import redis
import webtest
from sqlalchemy import orm

from tests.conftest import _truncate_all
from tests.corpus.hostile import MAX_FILE_SIZE, Sample, samples
from tests.functional.test_upload import count, make_app, stored_blobs
from tests.support.artifacts import make_wheel
from tests.support.fixtures import basic_auth
from warehouse import db as database
from warehouse.accounts.services import DatabaseUserService
from warehouse.config import configure, wsgi_app
from warehouse.packaging.models import File, JournalEntry, Project, Release
from warehouse.settings import Settings
from warehouse.tokens.services import DatabaseTokenService

__all__ = ["make_app"]  # the fixture, imported to be found


@pytest.fixture
def sent_tasks(monkeypatch) -> list[str]:
    """Every Celery task the app sends (deferred or not), recorded instead of sent."""
    sent: list[str] = []

    def record(task, args=None, kwargs=None, **options):
        sent.append(task.name)

    monkeypatch.setattr(celery.Task, "apply_async", record)
    return sent


@dataclasses.dataclass
class Corpus:
    app: webtest.TestApp
    headers: dict[str, str]
    settings: Settings
    session: orm.Session


@pytest.fixture(scope="module")
def corpus(engine, redis_server, database_url, tmp_path_factory):
    """One app, user and token for every sample: a refused upload leaves nothing to clean."""
    settings = Settings(
        env="test",
        database_url=database_url,
        redis_url=redis_server.url(),
        files_path=str(tmp_path_factory.mktemp("corpus") / "files"),
        log_format="console",
        email_via_worker=False,
        max_file_size=MAX_FILE_SIZE,
    )
    redis_client = redis.Redis.from_url(redis_server.url())
    session = database.make_session_factory(engine)()
    user = DatabaseUserService(session).create_user(
        "corpus", "correct horse battery", email="corpus@example.com", email_verified=True
    )
    _, secret = DatabaseTokenService(session, settings.secret_key).create(user)
    session.commit()
    app = webtest.TestApp(
        wsgi_app(configure(settings, **{"db.engine": engine, "redis.client": redis_client}))
    )
    yield Corpus(app, basic_auth("__token__", secret), settings, session)
    session.close()
    _truncate_all(engine)
    redis_client.flushall()
    redis_client.close()


def upload(app, sample: Sample, headers, status="*") -> webtest.TestResponse:
    content = webtest.Upload(sample.filename, sample.content, "application/octet-stream")
    return app.post(
        "/legacy/", params=[*sample.fields(), ("content", content)], headers=headers, status=status
    )


@pytest.mark.parametrize("sample", samples(), ids=lambda sample: sample.id)
def test_hostile_upload_is_refused_and_leaves_nothing(corpus, sample, sent_tasks):
    response = upload(corpus.app, sample, corpus.headers)
    assert response.status_int == sample.status
    # twine prints the reason phrase; uv the body: both carry the sentence.
    assert sample.message in response.status
    assert sample.message in response.text
    left = {
        model.__name__: count(corpus.session, model)
        for model in (File, Release, Project, JournalEntry)
    }
    corpus.session.rollback()  # hold no lock another test's cleanup would wait for
    assert left == {"File": 0, "Release": 0, "Project": 0, "JournalEntry": 0}
    assert stored_blobs(corpus.settings) == []
    assert sent_tasks == []


def test_the_corpus_is_large_and_its_refusals_are_not_for_want_of_a_valid_form(
    make_app, auth_headers, tmp_path, db_session, sent_tasks
):
    assert len(samples()) >= 60
    # The same form with an honest file is accepted: the samples fail for their bytes.
    honest = make_wheel(tmp_path, "hostile", "1.0")
    sample = Sample("honest", honest.name, honest.read_bytes(), 200, "")
    app = make_app(max_file_size=MAX_FILE_SIZE)
    assert upload(app, sample, auth_headers).status_int == 200
    assert count(db_session, File) == 1
