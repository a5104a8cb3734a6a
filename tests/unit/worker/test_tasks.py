"""The Celery app: configuration, sending only after a commit, retries, Redis and SQS brokers."""

from __future__ import annotations

import secrets

import pytest
import redis as redis_lib
import sqlalchemy as sa
import webtest
from pyramid.response import Response

from tests.support.celery_worker import celery_app_for, embedded_worker, moto_sqs
from tests.support.waiting import wait_for
from warehouse import db, tasks
from warehouse.config import wsgi_app
from warehouse.settings import Settings

__all__ = ["moto_sqs"]  # a fixture, imported to be found

# Broker and worker tests share one Redis and one moto server: one xdist worker runs them.
pytestmark = pytest.mark.xdist_group("celery")


@tasks.app.task(name="tests.worker.count", bind=True)
def count(self, url: str, key: str) -> None:
    redis_lib.Redis.from_url(url).incr(key)


@tasks.app.task(
    name="tests.worker.flaky",
    bind=True,
    retry_backoff=1,
    retry_jitter=False,
    max_retries=3,
)
def flaky(self, url: str, key: str, failures: int) -> None:
    client = redis_lib.Redis.from_url(url)
    if client.incr(key) <= failures:
        raise ConnectionError("the cache store went away")


@tasks.app.task(name="tests.worker.retry_in_session", bind=True, max_retries=2)
def retry_in_session(self, url: str, key: str) -> None:
    client = redis_lib.Redis.from_url(url)
    with self.ctx.session():
        if client.incr(key) == 1:
            # An explicit retry raised inside a session: the rollback must not swallow it.
            raise self.retry(countdown=0)


@pytest.fixture
def broker(redis_server, redis_client):
    """The broker's Redis database (1), empty."""
    client = redis_lib.Redis.from_url(redis_server.url(1))
    client.flushdb()
    yield client
    client.close()


def queued(broker) -> int:
    return broker.llen("celery")


# Configuration ------------------------------------------------------------------------------


def test_the_broker_and_results_default_to_their_own_redis_databases():
    config = tasks.celery_config(Settings(redis_url="redis://cache.internal:6379/0"))
    assert config["broker_url"] == "redis://cache.internal:6379/1"
    assert config["result_backend"] == "redis://cache.internal:6379/2"
    assert config["task_acks_late"] is True
    assert config["accept_content"] == ["json"]


def test_sqs_in_production_takes_the_transport_options():
    settings = Settings.from_env(
        {
            "WAREHOUSE_BROKER_URL": "sqs://",
            "WAREHOUSE_SQS_REGION": "eu-west-1",
            "WAREHOUSE_SQS_QUEUE_PREFIX": "pypi-",
            "WAREHOUSE_RESULT_BACKEND": "redis://results:6379/3",
        }
    )
    config = tasks.celery_config(settings)
    assert config["broker_url"] == "sqs://"
    assert config["result_backend"] == "redis://results:6379/3"
    options = config["broker_transport_options"]
    assert options["region"] == "eu-west-1"
    assert options["queue_name_prefix"] == "pypi-"
    assert options["is_secure"] is True
    assert options["visibility_timeout"] >= 3600


def test_beat_schedule_is_in_code():
    schedule = tasks.celery_config(Settings(cache_reconcile_seconds=30))["beat_schedule"]
    assert schedule["cache-reconcile"]["task"] == "warehouse.storage.tasks.reconcile_cache"
    assert schedule["cache-reconcile"]["schedule"] == 30
    assert schedule["cache-audit"]["task"] == "warehouse.storage.tasks.audit_cache"
    # Registered under those names once the worker imports its task modules.
    for module in tasks.TASK_MODULES:
        __import__(module)
    for entry in schedule.values():
        assert entry["task"] in tasks.app.tasks


def test_tasks_retry_transient_errors_with_exponential_backoff():
    # Imported here, not looked up in the registry: whether another test in this process has
    # already imported the module depends on how xdist shared the tests out.
    from warehouse.storage.tasks import copy_to_cache as task

    assert ConnectionError in task.autoretry_for
    assert task.retry_backoff and task.retry_jitter and task.retry_backoff_max >= 60
    assert task.acks_late and task.max_retries >= 5


# Sending after the commit -------------------------------------------------------------------


@pytest.fixture
def ctx(settings, clean_database, redis_client):
    context = tasks.TaskContext(
        settings=settings,
        engine=clean_database,
        redis=redis_client,
        archive=None,
        cache=None,
        session_factory=db.make_session_factory(clean_database),
    )
    tasks.set_context(context)
    with celery_app_for(settings):
        yield context
    tasks.set_context(None)


def test_a_task_sent_inside_a_session_waits_for_the_commit(ctx, broker, redis_server):
    with ctx.session() as session:
        result = count.delay(redis_server.url(), "k")
        session.execute(sa.text("SELECT 1"))
        assert queued(broker) == 0
    assert queued(broker) == 1
    assert result.id  # the id is known before the message goes


def test_a_task_sent_inside_a_session_that_rolls_back_is_never_sent(ctx, broker, redis_server):
    with pytest.raises(RuntimeError), ctx.session():
        count.delay(redis_server.url(), "k")
        raise RuntimeError("the change failed")
    assert queued(broker) == 0
    # Nothing lingers for the session's next transaction either.
    with ctx.session():
        pass
    assert queued(broker) == 0


def test_a_task_sent_outside_any_transaction_goes_at_once(ctx, broker, redis_server):
    count.delay(redis_server.url(), "k")
    assert queued(broker) == 1


def _app_with_view(app_config, view):
    app_config.add_route("test.send", "/test-send")
    app_config.add_view(view, route_name="test.send")
    return webtest.TestApp(wsgi_app(app_config))


def test_a_task_sent_in_a_request_goes_when_pyramid_tm_commits(
    app_config, settings, broker, redis_server
):
    seen = []

    def view(request):
        count.delay(redis_server.url(), "k")
        seen.append(queued(broker))
        if request.params.get("fail"):
            raise RuntimeError("boom")
        return Response("ok")

    app = _app_with_view(app_config, view)
    with celery_app_for(settings):
        app.get("/test-send")
        assert seen == [0] and queued(broker) == 1
        # The site's error page answers the exception; the transaction is still aborted.
        app.get("/test-send?fail=1", status=500)
        assert queued(broker) == 1  # the failed request's task was dropped


# Real workers ------------------------------------------------------------------------------


def test_a_worker_runs_tasks_from_redis(ctx, broker, redis_server, redis_client):
    with embedded_worker():
        count.delay(redis_server.url(), "ran")
        wait_for(lambda: redis_client.get("ran") == b"1", message="the task never ran")


def test_transient_failures_are_retried_until_they_pass(ctx, broker, redis_server, redis_client):
    with embedded_worker():
        flaky.delay(redis_server.url(), "attempts", 2)
        # Two failures, retried after 1 s and 2 s, then the third attempt passes.
        wait_for(lambda: redis_client.get("attempts") == b"3", timeout=30)


def test_an_explicit_retry_inside_a_session_is_sent(ctx, broker, redis_server, redis_client):
    with embedded_worker():
        retry_in_session.delay(redis_server.url(), "tries")
        wait_for(lambda: redis_client.get("tries") == b"2", timeout=30)


def test_a_worker_runs_tasks_from_sqs(settings, moto_sqs, redis_server, redis_client):
    host = moto_sqs.removeprefix("http://")
    sqs = settings.replace(
        broker_url=f"sqs://testing:testing@{host}",
        sqs_secure=False,
        sqs_queue_prefix=f"test-{secrets.token_hex(4)}-",
    )
    overrides = {
        "broker_transport_options": {
            **tasks.celery_config(sqs)["broker_transport_options"],
            # Short polls: the default long poll would make the test wait.
            "wait_time_seconds": 1,
            "polling_interval": 0.2,
        }
    }
    with celery_app_for(sqs, **overrides), embedded_worker():
        for _ in range(3):
            count.delay(redis_server.url(), "sqs")
        wait_for(lambda: redis_client.get("sqs") == b"3", timeout=60)
