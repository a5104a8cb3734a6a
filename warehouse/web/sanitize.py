"""Defence in depth for HTML that came from uploaders.

Descriptions are rendered and sanitized once, at upload, by readme_renderer. Pages clean
them again with a narrower allowlist before marking them safe, so that a bug or a looser
policy at upload time (or rows written by older code) cannot put script on a page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3
from markupsafe import Markup

ALLOWED_TAGS = {
    "a", "abbr", "acronym", "b", "blockquote", "br", "caption", "code", "col", "colgroup",
    "dd", "del", "details", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q",
    "s", "samp", "small", "span", "strike", "strong", "sub", "summary", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "tt", "u", "ul", "var",
}  # fmt: skip

# No style, no event handlers, no form or embedding attributes. ``id`` keeps in-page links
# of a README's table of contents working; ``class`` (on code blocks only) keeps
# highlighting without letting a description borrow the site's own classes elsewhere.
_COMMON = {"title", "id", "lang", "dir"}
_CODE = _COMMON | {"class"}
ALLOWED_ATTRIBUTES = {
    "*": _COMMON,
    "code": _CODE,
    "pre": _CODE,
    "span": _CODE,
    "div": _CODE,
    "a": _COMMON | {"href", "name"},
    "img": _COMMON | {"src", "alt", "width", "height", "align"},
    "td": _COMMON | {"colspan", "rowspan", "align"},
    "th": _COMMON | {"colspan", "rowspan", "align", "scope"},
    "col": _COMMON | {"span"},
    "ol": _COMMON | {"start", "type"},
    "abbr": _COMMON,
    "details": _COMMON | {"open"},
}

URL_SCHEMES = {"http", "https", "mailto"}
LINK_SCHEMES = frozenset({"http", "https"})


def clean_description(html: str | None) -> Markup | None:
    """The description HTML, cleaned again, ready to insert into a page."""
    if not html:
        return None
    cleaned = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        # Uploaders' links are not endorsed by the index and must not reach back to it.
        link_rel="nofollow noopener",
        strip_comments=True,
    )
    return Markup(cleaned)  # noqa: S704 - sanitized just above


def safe_link(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL that may become an href, else None."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc:
        return None
    # Control characters and whitespace inside a URL are how scheme checks get fooled.
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in url):
        return None
    return url
