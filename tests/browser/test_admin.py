"""The report button and the admin pages in a real browser (Debian's chromium via playwright).

A user reports a project from its page; an admin (who must first turn on two-factor) finds
the report in the queue and quarantines the project with one form; the project's page is
gone for everyone else. A malicious upload is held; the admin reads its finding in the
scanning queue and releases it with one click.
"""

from __future__ import annotations

import re

import pyotp
import pytest

from tests.functional.scanning.conftest import malicious_wheel
from tests.interop.builder import build_project
from tests.interop.clients import Clients

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("interop")]


def _log_in(page, site: str, username: str, password: str) -> None:
    page.goto(site + "/account/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_report_then_quarantine_from_the_admin_pages(browser_site, browser, tmp_path):
    site = browser_site.url
    clients = Clients.for_server(browser_site, tmp_path)
    browser_site.create_user("shady")
    built = build_project(tmp_path, "shady-helper", "0.1", sdist=False)
    clients.twine_upload(browser_site.create_token("shady"), built.files)
    reporter_password = browser_site.create_user("vigilant")
    admin_password = browser_site.create_user("overseer")
    browser_site.cli("user", "admin", "overseer")

    # A logged-in user reports the project from its page.
    reporter = browser.new_context().new_page()
    reporter.set_default_timeout(30_000)
    _log_in(reporter, site, "vigilant", reporter_password)
    reporter.goto(site + "/project/shady-helper/")
    reporter.get_by_text("Report shady-helper").click()  # opens the <details>
    reporter.select_option("#report-kind", "is_malware")
    reporter.fill("#report-summary", "setup.py downloads and runs a remote script")
    reporter.get_by_role("button", name="Send report").click()
    reporter.wait_for_load_state()
    assert "administrators will look at your report" in reporter.content()
    reporter.context.close()

    # The admin is refused until they turn on two-factor.
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(30_000)
    _log_in(page, site, "overseer", admin_password)
    refused = page.goto(site + "/admin/")
    assert refused.status == 403
    assert "turn on two-factor authentication" in page.locator("#admin-refusal").inner_text()
    page.goto(site + "/manage/account/two-factor/totp/")
    secret = page.locator("#totp-secret").inner_text().replace(" ", "")
    page.fill("input[name=totp_value]", pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on two-factor authentication").click()
    page.wait_for_load_state()

    # The report queue shows the report; the project page quarantines in one form.
    page.goto(site + "/admin/")
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Reports").click()
    page.wait_for_url(re.compile(r"/admin/reports/"))
    row = page.locator("tr", has_text="shady-helper")
    assert "downloads and runs a remote script" in row.inner_text()
    row.get_by_role("link", name="shady-helper").click()
    page.wait_for_url(re.compile(r"/admin/projects/shady-helper/"))
    page.fill("#quarantine-reason", "confirmed: runs a remote script at install")
    page.get_by_role("button", name="Quarantine shady-helper").click()
    page.wait_for_load_state()
    assert "shady-helper is in quarantine" in page.content()
    assert page.locator("h1", has_text="quarantined").count() == 1

    # Everyone else: gone.
    anonymous = browser.new_context().new_page()
    assert anonymous.goto(site + "/project/shady-helper/").status == 404
    assert anonymous.goto(site + "/simple/shady-helper/").status == 404
    anonymous.context.close()

    # The admin log says who did it, from where.
    page.goto(site + "/admin/log/")
    log = page.locator("table.admin-log").inner_text()
    assert "overseer" in log and "quarantine" in log and "127.0.0.1" in log

    # A malicious upload is held: the scanning queue shows it; one click gives it back.
    shady_token = browser_site.create_token("shady")
    clients.twine_upload(shady_token, [malicious_wheel(tmp_path, "shady-two", "1.0")])
    page.get_by_role("navigation", name="Admin").get_by_role("link", name="Scanning").click()
    page.wait_for_url(re.compile(r"/admin/scanning/"))
    held = page.locator("tr", has_text="shady-two")
    assert "py-exec-decoded" in held.inner_text()
    held.get_by_role("button", name="Release 1.0").click()
    page.wait_for_load_state()
    assert "shady-two 1.0 is served again." in page.content()
    assert "No release is held." in page.content()

    # The other pages, each from the admin navigation, each with its one-form action.
    nav = page.get_by_role("navigation", name="Admin")
    nav.get_by_role("link", name="Users").click()
    page.fill("#admin-user-q", "vigil")
    page.locator("form.admin-search").get_by_role("button", name="Search").click()
    page.get_by_role("link", name="vigilant").click()
    page.wait_for_url(re.compile(r"/admin/users/vigilant/"))
    page.get_by_role("button", name="Trust as observer").click()
    page.wait_for_load_state()
    assert page.get_by_role("button", name="Stop trusting as observer").count() == 1

    nav.get_by_role("link", name="Prohibited names").click()
    page.fill("#name", "Req_Uests")
    page.fill("#reason", "typosquat of requests")
    page.locator("#content").get_by_role("button", name="Prohibit").click()
    page.wait_for_load_state()
    assert "typosquat of requests" in page.locator("table.admin-table").inner_text()

    nav.get_by_role("link", name="Flags").click()
    page.fill("#message-disallow-new-upload", "Uploads pause for maintenance.")
    flag = page.locator("section", has=page.locator("#flag-disallow-new-upload"))
    flag.get_by_role("button", name="Turn on").click()
    page.wait_for_load_state()
    assert page.locator("#flag-disallow-new-upload").inner_text().endswith("— on")
    # Off again: the site is shared with the other browser tests, which upload.
    flag.get_by_role("button", name="Turn off").click()
    page.wait_for_load_state()
    assert page.locator("#flag-disallow-new-upload").inner_text().endswith("— off")

    nav.get_by_role("link", name="Queues").click()
    page.wait_for_url(re.compile(r"/admin/queues/"))
    assert page.locator("#beat-schedule tr[data-job='cache-reconcile']").count() == 1
    assert page.get_by_role("heading", name="Long jobs").count() == 1

    nav.get_by_role("link", name="Admin log").click()
    log = page.locator("table.admin-log").inner_text()
    for action in ("trust observer", "prohibit name", "flag"):
        assert action in log, log
