"""What a new user does, in a real browser (Debian's chromium, headless, via playwright).

Find a package, read its page, register, verify the email, turn on TOTP, make an API token,
publish with twine, see the release, invite a collaborator (who accepts), yank the release,
and watch pip stop choosing it.
"""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from tests.interop.builder import build_project
from tests.interop.clients import Clients

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("interop")]

PASSWORD = "violet tractor mountain piano"


def _otp(secret: str) -> str:
    # What the person's authenticator app would show now.
    return pyotp.TOTP(secret).now()


def _pip_picks(clients: Clients, tmp_path, name: str) -> str:
    target = tmp_path / f"dl-{time.monotonic_ns()}"
    clients.pip("download", "--no-deps", "--no-cache-dir", "-d", str(target), name)
    (wheel,) = [p.name for p in target.iterdir()]
    return wheel


def test_new_user_journey(browser_site, mail_sink, browser, tmp_path):
    site = browser_site.url
    clients = Clients.for_server(browser_site, tmp_path)

    # Someone already published a package worth finding.
    seeder_password = browser_site.create_user("seeder")
    seed = build_project(
        tmp_path, "journey-seed", "0.3", readme="Seeds for **gardens**.\n", sdist=False
    )
    clients.twine_upload(browser_site.create_token("seeder"), seed.files)

    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30_000)

    # Find it with the search box and read its page.
    page.goto(site + "/")
    page.locator("#site-search-q").fill("journey seed")  # the header's search box
    page.locator("#site-search-q").press("Enter")
    page.wait_for_url(re.compile(r"/search/\?q="))
    page.get_by_role("link", name="journey-seed").first.click()
    page.wait_for_url(re.compile(r"/project/journey-seed/"))
    assert page.locator("h1").inner_text().startswith("journey-seed")
    assert "pip install journey-seed" in page.content()
    assert page.locator("strong", has_text="gardens").count() == 1  # the rendered README

    # Register and verify the email address.
    page.goto(site + "/account/register/")
    page.fill("#username", "newcomer")
    page.fill("#full_name", "New Comer")
    page.fill("#email", "newcomer@example.test")
    page.fill("#new_password", PASSWORD)
    page.fill("#password_confirm", PASSWORD)
    page.get_by_role("button", name="Create account").click()
    page.wait_for_load_state()
    mail = mail_sink.wait_for_message(to="newcomer@example.test", timeout=30)
    link = re.search(r"https?://\S+/account/verify-email/\S+", mail.text).group(0)
    page.goto(link)
    assert "verified" in page.content().lower()

    # Turn on two-factor authentication with an authenticator app (pyotp here).
    page.goto(site + "/manage/account/two-factor/totp/")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("input[name=totp_value]", _otp(secret))
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.wait_for_load_state()
    assert "recovery" in page.content().lower()

    # Make an API token, and publish with twine.
    page.goto(site + "/manage/account/token/")
    page.fill("#description", "journey upload")
    page.get_by_role("button", name="Create token").click()
    token = page.locator("#new-token").input_value()
    assert token.startswith("pypi-")
    for version in ("1.0", "1.1"):
        built = build_project(tmp_path, "journey-pkg", version, sdist=False)
        clients.twine_upload(token, built.files)

    # The release is on the site, and pip picks the newest.
    page.goto(site + "/project/journey-pkg/")
    assert "1.1" in page.locator("h1").inner_text()
    assert _pip_picks(clients, tmp_path, "journey-pkg").startswith("journey_pkg-1.1-")

    # Invite a collaborator, who accepts in their own browser.
    page.goto(site + "/manage/projects/")
    page.get_by_role("link", name="Manage journey-pkg").click()
    page.get_by_role("link", name="Collaborators").click()
    page.fill("#username", "seeder")
    page.select_option("#role_name", "Maintainer")
    page.get_by_role("button", name="Send invitation").click()
    assert "Invited seeder as Maintainer" in page.content()

    other = browser.new_context().new_page()
    other.goto(site + "/account/login/")
    other.fill("#username", "seeder")
    other.fill("#password", seeder_password)
    other.get_by_role("button", name="Log in").click()
    other.goto(site + "/manage/projects/")
    other.get_by_role("button", name="Accept").click()
    assert "You are now a Maintainer of journey-pkg" in other.content()
    other.context.close()

    # Yank 1.1 with a reason: pip goes back to 1.0.
    page.goto(site + "/manage/project/journey-pkg/release/1.1/")
    page.fill("#reason", "the wheel is missing a module")
    page.get_by_role("button", name="Yank 1.1").click()
    assert "Yanked journey-pkg 1.1" in page.content()
    page.goto(site + "/manage/project/journey-pkg/history/")
    history = page.locator("main").inner_text()
    assert "Release yanked" in history and "newcomer" in history and "127.0.0.1" in history
    assert _pip_picks(clients, tmp_path, "journey-pkg").startswith("journey_pkg-1.0-")
