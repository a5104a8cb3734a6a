"""Error pages that look like the site: 404 and 500 for people browsing it.

Only requests for pages get them. The APIs keep their own error bodies: their paths are
excluded outright, and a client that prefers anything over HTML (``Accept:
application/json``) gets Pyramid's plain response, so these views never swallow an upload
error, a simple-API 404 or a JSON API answer.
"""

from __future__ import annotations

import structlog
from pyramid.httpexceptions import HTTPException
from pyramid.view import exception_view_config, notfound_view_config

log = structlog.get_logger(__name__)

# Paths served to programs rather than people.
API_PREFIXES = (
    "/simple",
    "/pypi",
    "/legacy",
    "/packages",
    "/api/",
    "/rss/",
    "/RPC2",
    "/_health",
    "/static/",
)


def wants_html_page(request) -> bool:
    if request.path_info.startswith(API_PREFIXES):
        return False
    if "Accept" not in request.headers:
        return True
    # Sorted by the client's preference; ties keep our order, so "*/*" means HTML.
    offers = request.accept.acceptable_offers(["text/html", "application/json", "text/plain"])
    return bool(offers) and offers[0][0] == "text/html"


class HtmlPagePredicate:
    """View predicate ``html_page=True``: the request is a person asking for a page."""

    def __init__(self, value, config):
        self.value = bool(value)

    def text(self) -> str:
        return f"html_page = {self.value}"

    phash = text

    def __call__(self, context, request) -> bool:
        return wants_html_page(request) == self.value


@notfound_view_config(renderer="errors/404.html", html_page=True)
def not_found(context, request):
    request.response.status = 404
    return {}


@exception_view_config(Exception, renderer="errors/500.html", html_page=True)
def server_error(context, request):
    if isinstance(context, HTTPException):
        # Redirects, 403s and the like are answers, not failures: send them as they are.
        return context
    log.exception("unhandled error rendering a page", path=request.path, exc_info=context)
    request.response.status = 500
    return {}


def includeme(config) -> None:
    config.add_view_predicate("html_page", HtmlPagePredicate)
    config.scan(__name__)
