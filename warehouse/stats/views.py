"""The statistics API (pypistats.org's paths, parameters and JSON), the project's statistics
page with its charts, the CSV download, and a maintainer's view of their projects.

Every answer is tagged ``stats/<project>`` for the CDN, which keeps it until the next counts
of that project land (:func:`warehouse.stats.tasks.purge_stats_pages`). The origin keeps whole
answers too (:class:`warehouse.stats.services.Answers`, in Redis, until the same moment), so a
repeated question costs one Redis round trip: no query, no JSON, no chart drawn.
"""

from __future__ import annotations

import csv
import datetime
import functools
import io
import json
import urllib.parse

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from pyramid.httpexceptions import HTTPMovedPermanently, HTTPNotFound
from pyramid.renderers import render
from pyramid.response import Response
from pyramid.view import view_config

from warehouse.cdn.keys import stats_key
from warehouse.stats import charts
from warehouse.stats.interfaces import IStatsService
from warehouse.stats.models import DIMENSIONS
from warehouse.stats.services import answers_for, recent_of, utc_today

# The browser and pypistats' clients may keep an answer this long; the CDN keeps it until
# the project's next counts purge it.
CACHE_CONTROL = "max-age=300, public"
SURROGATE_CONTROL = "max-age=86400"
CORS = [("Access-Control-Allow-Origin", "*"), ("Access-Control-Allow-Methods", "GET")]
# /api/packages/<p>/<kind>: the query parameter that filters its categories, if any.
API_FILTERS = {
    "python_major": "version",
    "python_minor": "version",
    "system": "os",
    "version": "version",
    "installer": "installer",
    "country": "country",
    "file_type": "type",
    "upstream": "upstream",
}
RANGES = {"30": 30, "180": 180, "all": None}
CSV_SERIES = ("overall", "version", "installer", "python_minor", "system", "country")
PAGE_SERIES = ("version", "installer", "python_minor", "system", "country", "file_type")


def _cdn_headers(project: str) -> list[tuple[str, str]]:
    return [
        ("Cache-Control", CACHE_CONTROL),
        ("Surrogate-Key", f"{stats_key(project)} project/{project}"),
        ("Surrogate-Control", SURROGATE_CONTROL),
    ]


def _json(status: int, data: dict | bytes, headers: list[tuple[str, str]]) -> Response:
    body = data if isinstance(data, bytes) else _encoded(data)
    return Response(
        status=status,
        body=body,
        headerlist=[("Content-Type", "application/json"), *CORS, *headers],
    )


def _variant(request, what: str) -> str:
    """What an answer depends on besides its project: the path's kind and the parameters."""
    return f"{what}?{urllib.parse.urlencode(sorted(request.GET.items()))}"


class _Kept:
    """The origin's copy of an answer: looked up before any query, kept once made."""

    def __init__(self, request, project: str, what: str):
        self.memo = answers_for(request)
        self.body = self.key = None
        if self.memo is not None:
            self.body, self.key = self.memo.get(project, _variant(request, what))

    def keep(self, body: bytes) -> bytes:
        if self.memo is not None:
            self.memo.put(self.key, body)
        return body


def _error(status: int, message: str, headers=()) -> Response:
    return _json(status, {"message": message}, [("Cache-Control", "max-age=60, public"), *headers])


@functools.cache
def _project_named():
    from warehouse.packaging.models import Project

    name = Project.normalized_name
    return sa.select(name).where(name == sa.bindparam("name"))


def _existing_project(request, name: str) -> str | None:
    return request.db.scalar(_project_named(), {"name": canonicalize_name(name)})


def _mirrors_param(request, default: bool | None) -> bool | None:
    value = request.GET.get("mirrors")
    if value is None or value == "":
        return default
    lowered = value.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValueError(f"mirrors must be true or false, not {value!r}")


@view_config(route_name="stats.api", request_method="GET")
def api(request):
    kind = request.matchdict["kind"]
    name = request.matchdict["project"]
    if kind not in {"recent", "overall", *API_FILTERS}:
        return _error(
            404,
            f"Unknown statistics {kind!r}: use recent, overall, " + ", ".join(API_FILTERS) + ".",
        )
    # An answer is kept only for a project that exists; a removed or renamed project's
    # answers are forgotten by warehouse.effects.forget_stats_answers.
    kept = _Kept(request, canonicalize_name(name), f"api/{kind}")
    if kept.body is not None:
        return _json(200, kept.body, _cdn_headers(canonicalize_name(name)))
    project = _existing_project(request, name)
    if project is None:
        # Tagged like the project's answers: the project's first counts purge it.
        return _error(
            404,
            f"No project named {name!r}.",
            [("Surrogate-Key", stats_key(canonicalize_name(name)))],
        )
    stats = request.find_service(IStatsService)
    headers = _cdn_headers(project)
    if kind == "recent":
        recent = stats.recent(project)
        period = request.GET.get("period")
        if period:
            if period not in {"day", "week", "month"}:
                return _error(400, f"period must be day, week or month, not {period!r}.")
            recent = {f"last_{period}": recent[f"last_{period}"]}
        answer = {"data": recent, "package": project, "type": "recent_downloads"}
        return _json(200, kept.keep(_encoded(answer)), headers)
    try:
        mirrors = _mirrors_param(request, None if kind == "overall" else False)
    except ValueError as exc:
        return _error(400, f"{exc}.")
    if kind == "overall":
        texts = stats.answer_items(project, "overall", mirrors=None)
        shown = {
            None: ("with_mirrors", "without_mirrors"),
            True: ("with_mirrors",),
            False: ("without_mirrors",),
        }[mirrors]
        data = [texts[category] for category in shown if category in texts]
        return _json(200, kept.keep(_answer(data, project, "overall_downloads")), headers)
    wanted = request.GET.get(API_FILTERS[kind])
    texts = stats.answer_items(project, kind, mirrors=bool(mirrors))
    data = [text for category, text in texts.items() if wanted is None or category == wanted]
    return _json(200, kept.keep(_answer(data, project, f"{kind}_downloads")), headers)


def _answer(items: list[str], project: str, kind: str) -> bytes:
    """pypistats' answer around its data items, already JSON text (the bytes ``_encoded``
    gives for the same dicts)."""
    tail = _encoded({"package": project, "type": kind})[1:]
    return ('{"data":[' + ",".join(items) + "]," + tail.decode()).encode()


def _encoded(answer: dict) -> bytes:
    return json.dumps(answer, separators=(",", ":")).encode()


def _page_project(request) -> str:
    name = request.matchdict["name"]
    from warehouse.web import queries

    project = queries.find_project(request.db, name)
    if project is None:
        raise HTTPNotFound()
    if project.name != name:
        raise HTTPMovedPermanently(
            request.current_route_path(name=project.name, _query=request.GET)
        )
    return project


PAGE_TEMPLATE = "stats/project.html"


@view_config(route_name="stats.project", request_method="GET")
def project_page(request):
    name = request.matchdict["name"]
    # Kept for anonymous readers only (the page's header shows who is logged in): the CDN's
    # fetches and most readers.
    kept = _Kept(request, canonicalize_name(name), f"page/{name}") if not request.cookies else None
    if kept is not None and kept.body is not None:
        return _page_response(kept.body, canonicalize_name(name))
    project = _page_project(request)
    range_name = request.GET.get("range", "30")
    if range_name not in RANGES:
        range_name = "30"
    try:
        mirrors = bool(_mirrors_param(request, False))
    except ValueError:
        mirrors = False
    days = RANGES[range_name]
    today = utc_today()
    since = today - datetime.timedelta(days=days - 1) if days else None
    stats = request.find_service(IStatsService)
    overall = stats.overall(project.normalized_name, since=since)
    start = since or (overall[0][0] if overall else today)
    overall_chart = charts.stacked_chart(
        start,
        today,
        [
            ("without mirrors", {d: wo for d, _, wo in overall}),
            *([("mirrors", {d: w - wo for d, w, wo in overall})] if mirrors else []),
        ],
        title="Daily downloads",
    )
    series = []
    by_dimension = stats.series_many(
        project.normalized_name, PAGE_SERIES, mirrors=mirrors, since=since
    )
    for dimension, rows in by_dimension.items():
        series.append(
            (
                dimension,
                charts.stacked_chart(
                    start,
                    today,
                    charts.top_categories(rows),
                    title=f"Daily downloads by {dimension.replace('_', ' ')}",
                ),
            )
        )
    page = {
        "project": project,
        # The rows of a range of 30 days or more hold the recent figures: no second query.
        "recent": (
            recent_of(overall, today)
            if days is None or days >= 30
            else stats.recent(project.normalized_name)
        ),
        "range_name": range_name,
        "ranges": list(RANGES),
        "mirrors": mirrors,
        "overall_chart": overall_chart,
        "series": series,
        "csv_series": CSV_SERIES,
    }
    body = render(PAGE_TEMPLATE, page, request=request).encode()
    if kept is not None:
        kept.keep(body)
    return _page_response(body, project.normalized_name)


def _page_response(body: bytes, project: str) -> Response:
    return Response(
        body=body,
        headerlist=[("Content-Type", "text/html; charset=UTF-8"), *_cdn_headers(project)],
    )


@view_config(route_name="stats.csv", request_method="GET")
def project_csv(request):
    project = _page_project(request)
    by = request.GET.get("by", "overall")
    if by not in DIMENSIONS:
        return Response(
            status=400,
            content_type="text/plain",
            charset="utf-8",
            body=f"by must be one of {', '.join(DIMENSIONS)}, not {by!r}.\n".encode(),
        )
    try:
        mirrors = _mirrors_param(request, None if by == "overall" else False)
    except ValueError as exc:
        return Response(
            status=400, content_type="text/plain", charset="utf-8", body=f"{exc}.\n".encode()
        )
    stats = request.find_service(IStatsService)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["date", "category", "downloads"])
    if by == "overall":
        for day, w, wo in stats.overall(project.normalized_name):
            if mirrors in (None, True):
                writer.writerow([day.isoformat(), "with_mirrors", w])
            if mirrors in (None, False):
                writer.writerow([day.isoformat(), "without_mirrors", wo])
    else:
        rows = stats.series(project.normalized_name, by, mirrors=bool(mirrors))
        for day, category, n in sorted(rows):
            writer.writerow([day.isoformat(), category, n])
    response = Response(
        body=out.getvalue().encode(),
        headerlist=[
            ("Content-Type", "text/csv; charset=utf-8"),
            *_cdn_headers(project.normalized_name),
        ],
    )
    response.content_disposition = f'attachment; filename="{project.normalized_name}-{by}.csv"'
    return response


@view_config(
    route_name="stats.mine",
    renderer="stats/mine.html",
    request_method="GET",
    permission="manage:user",
)
def my_projects(request):
    from warehouse.packaging.models import Project, Role

    projects = request.db.scalars(
        sa.select(Project)
        .join(Role, Role.project_id == Project.id)
        .where(Role.user_id == request.user.id)
        .order_by(Project.normalized_name)
    ).all()
    stats = request.find_service(IStatsService)
    recent = stats.recent_many([p.normalized_name for p in projects])
    rows = [(p, recent[p.normalized_name]) for p in projects]
    totals = {
        period: sum(r[period] for _, r in rows)
        for period in ("last_day", "last_week", "last_month")
    }
    request.response.headers["Cache-Control"] = "private, no-store"
    return {"rows": rows, "totals": totals}


def includeme(config) -> None:
    config.add_route("stats.api", "/api/packages/{project}/{kind}")
    # Before /project/{name}/{version}/, which "stats" would otherwise match.
    config.add_route("stats.project", "/project/{name}/stats/")
    config.add_route("stats.csv", "/project/{name}/stats.csv")
    config.add_route("stats.mine", "/manage/stats/")
    config.scan(__name__)
