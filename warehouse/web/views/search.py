"""``/search/?q=&c=&o=&page=``: full-text search with classifier filters and ordering."""

from __future__ import annotations

import functools

from pyramid.view import view_config

from warehouse.search.interfaces import ISearchService
from warehouse.upstreams.pages import upstreams_of
from warehouse.web.views.classifiers import current_classifiers

PER_PAGE = 20
ORDER_CHOICES = (("", "Relevance"), ("-created", "Date last updated"), ("created", "Oldest first"))
# Offered as checkboxes beside the results; every classifier is on /classifiers/.
FILTER_GROUPS = (
    "Development Status",
    "Framework",
    "Environment",
    "Intended Audience",
    "Operating System",
    "Programming Language :: Python",
    "Topic",
)


@functools.cache
def filter_choices() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(group, classifiers one level below it) for each of FILTER_GROUPS; prefix matching
    makes each one cover everything beneath it."""
    groups = []
    for group in FILTER_GROUPS:
        depth = group.count(" :: ") + 2
        children = sorted(
            {
                " :: ".join(c.split(" :: ")[:depth])
                for c in current_classifiers()
                if c.startswith(group + " :: ")
            }
        )
        groups.append((group, tuple(children)))
    return tuple(groups)


def _page_number(text: str | None) -> int:
    try:
        return max(1, int(text or 1))
    except ValueError:
        return 1


@view_config(route_name="search", renderer="search.html", request_method="GET")
def search(request):
    query = request.GET.get("q", "").strip()
    classifiers = [c for c in request.GET.getall("c") if c.strip()]
    order = request.GET.get("o", "")
    if order not in dict(ORDER_CHOICES):
        order = ""
    results = request.find_service(ISearchService).search(
        query,
        classifiers=classifiers,
        order=order or "relevance",
        page=_page_number(request.GET.get("page")),
        per_page=PER_PAGE,
    )

    def page_url(page: int) -> str:
        params = [("q", query), *(("c", c) for c in classifiers)]
        if order:
            params.append(("o", order))
        params.append(("page", str(page)))
        return request.route_path("search", _query=params)

    return {
        "query": query,
        "classifiers": classifiers,
        "order": order,
        "order_choices": ORDER_CHOICES,
        "filter_groups": filter_choices(),
        "results": results,
        # Mirrored results say which upstream they come from (one query per page).
        "upstreams": upstreams_of(request.db, [item.normalized_name for item in results.items]),
        "page_url": page_url,
    }


def includeme(config) -> None:
    config.add_route("search", "/search/")
    config.scan(__name__)
