"""A live server for the browser journey, and Debian's chromium driven by playwright.

The server is started like ``tests.support.live_server`` (gunicorn, its own database and
Redis) serving ``warehouse.wsgi`` (the whole site), but sends its mail over SMTP to
an aiosmtpd server in this process, so the test can follow the verification link.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.live_server import LiveServer, start_live_server, stop_live_server
from tests.support.mail import SMTPTestServer

CHROMIUM = Path("/usr/bin/chromium")
# From ../shared/components.md: headless, no sandbox (containers), nothing phoning home.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
DATABASE = "warehouse_browser"


def start_site(postgres, root: Path, smtp: SMTPTestServer, *, database: str = DATABASE):
    """Start gunicorn serving the whole site; returns the LiveServer and its Redis."""
    return start_live_server(
        postgres,
        root,
        database=database,
        extra_env={
            "WAREHOUSE_EMAIL_BACKEND": "smtp",
            # No Celery worker in this fixture: the web process sends the mail itself.
            "WAREHOUSE_EMAIL_VIA_WORKER": "false",
            "WAREHOUSE_SMTP_HOST": smtp.host,
            "WAREHOUSE_SMTP_PORT": str(smtp.port),
            "WAREHOUSE_SMTP_TLS": "none",
        },
    )


stop_site = stop_live_server


def launch_chromium(playwright, home: Path):
    # Chromium writes its profile under HOME and XDG dirs: keep them in the test's tmp.
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True, env=env
    )


@pytest.fixture(scope="session")
def mail_sink():
    server = SMTPTestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser_site(postgres, tmp_path_factory, mail_sink):
    server, redis = start_site(postgres, tmp_path_factory.mktemp("browser-site"), mail_sink)
    yield server
    stop_site(server, redis)


@pytest.fixture
def browser(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium (no browser download)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, tmp_path / "chromium-home")
        yield browser
        browser.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    server = item.funcargs.get("browser_site") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(server, LiveServer):
        report.sections.append(("gunicorn log (tail)", server.log_tail()))
