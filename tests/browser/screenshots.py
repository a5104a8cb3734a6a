"""``make screenshots``: PNGs of the main pages at a phone's and a desktop's width.

Starts a throwaway PostgreSQL, Redis and the site under gunicorn (as the browser tests do),
publishes a sample project, logs in with chromium and saves ``screenshots/<page>-<width>.png``
(the folder is git-ignored). Run: ``.venv/bin/python -m tests.browser.screenshots``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from devstack.services import Postgres, free_port
from tests.browser.conftest import CHROMIUM, launch_chromium, start_site, stop_site
from tests.interop.builder import build_project
from tests.interop.clients import Clients
from tests.support.mail import SMTPTestServer
from warehouse.settings import REPO_ROOT

OUT = REPO_ROOT / "screenshots"
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}
README = """# Sample project

A project for screenshots, with **bold** text, a list and code:

- one
- two

```python
import sample_project
```
"""

# (file stem, path, needs login)
PAGES = [
    ("home", "/", False),
    ("search", "/search/?q=sample", False),
    ("project", "/project/sample-project/", False),
    ("release", "/project/sample-project/1.0/", False),
    ("login", "/account/login/", False),
    ("register", "/account/register/", False),
    ("manage-projects", "/manage/projects/", True),
    ("manage-release", "/manage/project/sample-project/release/1.0/", True),
    ("token", "/manage/account/token/", True),
]


def main() -> int:
    if not CHROMIUM.exists():
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    root = Path(tempfile.mkdtemp(prefix="warehouse-screenshots-"))
    root.chmod(0o755)  # PostgreSQL runs as its own user
    postgres = Postgres(root / "postgres", free_port(), fast_and_unsafe=True)
    smtp = SMTPTestServer()
    server = redis = None
    try:
        postgres.start()
        smtp.start()
        server, redis = start_site(postgres, root / "site", smtp, database="warehouse")
        password = server.create_user("sampler")
        token = server.create_token("sampler")
        clients = Clients.for_server(server, root / "clients")
        for version in ("0.9", "1.0"):
            built = build_project(root, "sample-project", version, readme=README)
            clients.twine_upload(token, built.files)
        OUT.mkdir(exist_ok=True)
        with sync_playwright() as playwright:
            browser = launch_chromium(playwright, root / "chromium-home")
            for size_name, (width, height) in SIZES.items():
                context = browser.new_context(viewport={"width": width, "height": height})
                page = context.new_page()
                logged_in = False
                for stem, path, needs_login in PAGES:
                    if needs_login and not logged_in:
                        page.goto(server.url + "/account/login/")
                        page.fill("#username", "sampler")
                        page.fill("#password", password)
                        page.get_by_role("button", name="Log in").click()
                        page.wait_for_load_state()
                        logged_in = True
                    page.goto(server.url + path)
                    target = OUT / f"{stem}-{size_name}.png"
                    page.screenshot(path=str(target), full_page=True)
                    print(target.relative_to(REPO_ROOT))
                context.close()
            browser.close()
    finally:
        if server is not None:
            stop_site(server, redis)
        smtp.stop()
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
