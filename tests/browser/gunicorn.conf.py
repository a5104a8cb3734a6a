"""The web app's gunicorn settings, serving tests.browser.wsgi instead."""

from pathlib import Path

exec((Path(__file__).parents[2] / "config" / "gunicorn-web.conf.py").read_text())


def post_fork(server, worker):  # noqa: F811 - replaces the one read above, for our app
    from tests.browser.wsgi import application

    registry = application.registry
    if "db.engine" in registry:
        registry["db.engine"].dispose(close=False)
    if "redis.client" in registry:
        registry["redis.client"].connection_pool.reset()
