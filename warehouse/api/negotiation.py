"""Which representation of a simple-API page a client gets (PEP 691 content negotiation)."""

from __future__ import annotations

from typing import NamedTuple

from webob.acceptparse import create_accept_header

HTML = "text/html"
V1_HTML = "application/vnd.pypi.simple.v1+html"
V1_JSON = "application/vnd.pypi.simple.v1+json"
LATEST_HTML = "application/vnd.pypi.simple.latest+html"
LATEST_JSON = "application/vnd.pypi.simple.latest+json"


class Choice(NamedTuple):
    fmt: str  # "html" or "json": what is rendered (and cached)
    content_type: str  # what the response says it is


# In order of preference when a client likes several equally: plain HTML first, so that
# browsers and "*/*" get what they always got. "latest" is answered with the concrete version.
_OFFERS = {
    HTML: Choice("html", "text/html; charset=utf-8"),
    V1_HTML: Choice("html", V1_HTML),
    V1_JSON: Choice("json", V1_JSON),
    LATEST_HTML: Choice("html", V1_HTML),
    LATEST_JSON: Choice("json", V1_JSON),
}
_DEFAULT = _OFFERS[HTML]
MEDIA_TYPES = tuple(_OFFERS)

# Clients send few distinct Accept headers, and parsing one costs more than the rest of a
# cached request: remember the answers (bounded, since the header is client-controlled).
_memo: dict[str, Choice | None] = {}
_MEMO_SIZE = 512


def choose(accept: str | None, format_param: str | None = None) -> Choice | None:
    """The representation for this ``Accept`` header (or ``?format=``); None: 406.

    ``?format=`` names one media type exactly and takes precedence over the header, so that
    a browser can look at the JSON form.
    """
    if format_param is not None:
        return _OFFERS.get(format_param.strip().lower())
    if not accept or accept == "*/*":
        return _DEFAULT
    try:
        return _memo[accept]
    except KeyError:
        pass
    offers = create_accept_header(accept).acceptable_offers(MEDIA_TYPES)
    # acceptable_offers sorts by q-value and keeps our order among equals.
    choice = _OFFERS[offers[0][0]] if offers else None
    if len(_memo) >= _MEMO_SIZE:
        _memo.clear()
    _memo[accept] = choice
    return choice


def not_acceptable_message() -> str:
    return "406 Not Acceptable: the simple API is available as " + ", ".join(MEDIA_TYPES) + "\n"
