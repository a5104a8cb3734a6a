"""Helpers for page tests: parse the HTML a page sent and check what matters about it."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

EXPECTED_CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'self'"
)
# Elements that run code, embed other documents, or change where things load from.
ACTIVE_ELEMENTS = {
    "script",
    "iframe",
    "object",
    "embed",
    "applet",
    "base",
    "meta",
    "frame",
    "svg",
    "math",
}
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "srcset",
    "xlink:href",
    "background",
    "poster",
    "data",
}


class Page(HTMLParser):
    """Every start tag of a document with its attributes, and its text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_parts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())

    def find_all(self, tag: str, **attrs) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.tags
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def hrefs(self) -> list[str]:
        return [a["href"] for t, a in self.tags if t == "a" and a.get("href")]


def assert_inert(html: str, *, allowed_meta: int = 2) -> Page:
    """Fail if the page holds anything a browser would execute or that could restyle it.

    The layout's own ``<meta charset>`` and ``<meta name=viewport>`` are the only active
    elements allowed.
    """
    page = Page(html)
    metas = 0
    for tag, attrs in page.tags:
        if tag == "meta":
            metas += 1
            assert set(attrs) <= {"charset", "name", "content"}, attrs
            continue
        assert tag not in ACTIVE_ELEMENTS, f"<{tag}> on the page: {attrs}"
        assert tag not in {"style", "link"} or (
            tag == "link"
            and attrs.get("rel") in {"stylesheet", "canonical"}
            and (attrs.get("href") or "").startswith(("/static/", "http://localhost/"))
        ), f"<{tag}> {attrs}"
        for name, value in attrs.items():
            assert not name.startswith("on"), f"event handler {name}={value!r} on <{tag}>"
            assert name != "style", f"style attribute on <{tag}>"
            if name in URL_ATTRIBUTES and value:
                scheme = urlsplit(value.strip()).scheme.lower()
                assert scheme in {"", "http", "https", "mailto"}, f"{name}={value!r} on <{tag}>"
        if tag == "form":
            assert (attrs.get("action") or "").startswith("/"), attrs
    assert metas <= allowed_meta
    return page


def assert_security_headers(response, *, https: bool = False) -> None:
    headers = response.headers
    assert headers["Content-Security-Policy"].startswith(EXPECTED_CSP)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "origin-when-cross-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert "camera=()" in headers["Permissions-Policy"]
    if https:
        assert headers["Strict-Transport-Security"].startswith("max-age=")
    else:
        assert "Strict-Transport-Security" not in headers


def assert_looks_like_the_site(page: Page) -> None:
    """The layout is there: landmarks, skip link, search form with a label."""
    tags = {tag for tag, _ in page.tags}
    assert {"header", "nav", "main", "footer"} <= tags
    assert page.find_all("a", class_="skip-link", href="#content")
    assert page.find_all("main", id="content")
    assert page.find_all("label", **{"for": "site-search-q"})
    assert page.find_all("input", id="site-search-q", name="q")
    assert page.find_all("link", rel="stylesheet")
