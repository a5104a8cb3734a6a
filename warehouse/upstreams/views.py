"""The admin pages for upstreams, under ``/admin/upstreams/`` (admins with 2FA only)."""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from warehouse.admin.access import actor_of, admin_only
from warehouse.admin.services import log_action
from warehouse.upstreams import services
from warehouse.upstreams.status import job_runs

T = "warehouse.upstreams:templates/"


def _back(request, message: str, queue: str = "success") -> HTTPSeeOther:
    request.session.flash(message, queue=queue)
    return HTTPSeeOther(request.route_path("admin.upstreams"))


def _refused(request, exc: Exception) -> HTTPSeeOther:
    request.tm.doom()
    return _back(request, str(exc), "error")


def _upstream(request):
    try:
        return services.find_upstream(request.db, request.matchdict["name"])
    except services.UpstreamError:
        raise HTTPNotFound() from None


@view_config(
    route_name="admin.upstreams",
    renderer=T + "admin_upstreams.html",
    request_method="GET",
    decorator=admin_only,
)
def upstreams(request):
    from warehouse.upstreams import downloads

    runs = list(job_runs(request.db))
    return {"runs": runs, "downloads": downloads.recent(request.db, [r.name for r in runs])}


@view_config(route_name="admin.upstreams", request_method="POST", decorator=admin_only)
def add(request):
    post = request.POST
    settings = request.registry.settings["warehouse"]
    try:
        page_ttl = int(post.get("page_ttl") or 1800)
        upstream = services.add_upstream(
            request.db,
            settings,
            name=post.get("name", "").strip(),
            url=post.get("url", "").strip(),
            policy=post.get("policy", "on_demand"),
            page_ttl=page_ttl,
            bandersnatch_config=post.get("bandersnatch_config", ""),
            username=post.get("username") or None,
            password=post.get("password") or None,
        )
    except ValueError as exc:
        return _refused(request, exc)
    log_action(
        request.db,
        actor_of(request),
        "add upstream",
        "upstream",
        upstream.name,
        url=upstream.url,
        policy=upstream.policy,
    )
    return _back(request, f"Upstream {upstream.name!r} added; its first sync runs within minutes.")


@view_config(route_name="admin.upstream.sync", request_method="POST", decorator=admin_only)
def sync(request):
    from warehouse.upstreams.tasks import sync_upstream

    upstream = _upstream(request)
    sync_upstream.delay(upstream.id)
    log_action(request.db, actor_of(request), "sync upstream", "upstream", upstream.name)
    return _back(request, f"A sync of {upstream.name!r} was sent to the workers.")


@view_config(route_name="admin.upstream.remove", request_method="POST", decorator=admin_only)
def remove(request):
    upstream = _upstream(request)
    name = upstream.name
    removed = services.remove_upstream(request.db, name)
    log_action(request.db, actor_of(request), "remove upstream", "upstream", name, projects=removed)
    return _back(request, f"Upstream {name!r} removed, with {removed} projects mirrored from it.")


@view_config(route_name="admin.upstream.allow", request_method="POST", decorator=admin_only)
def allow(request):
    upstream = _upstream(request)
    project = request.POST.get("project", "").strip()
    if not project:
        return _back(request, "Name the project to allow.", "error")
    added = services.allow(request.db, upstream.name, project, by=request.user.username)
    if added:
        log_action(
            request.db,
            actor_of(request),
            "allow from upstream",
            "upstream",
            upstream.name,
            project=project,
        )
    return _back(
        request,
        f"{project!r} is allowed from {upstream.name!r}."
        if added
        else f"{project!r} was allowed from {upstream.name!r} already.",
    )


# The statistics API of an upstream: pypistats' shapes, summed over the projects it mirrors.
STATS_KINDS = ("recent", "overall")


@view_config(route_name="upstreams.stats_api", request_method="GET")
def stats_api(request):
    import json

    from pyramid.response import Response

    from warehouse.upstreams import downloads

    def answer(status: int, data: dict) -> Response:
        return Response(
            status=status,
            body=json.dumps(data, separators=(",", ":")).encode(),
            headerlist=[
                ("Content-Type", "application/json"),
                ("Access-Control-Allow-Origin", "*"),
                ("Cache-Control", "max-age=300, public"),
            ],
        )

    kind, name = request.matchdict["kind"], request.matchdict["name"]
    if kind not in STATS_KINDS:
        return answer(404, {"message": f"Unknown statistics {kind!r}: use recent or overall."})
    try:
        upstream = services.find_upstream(request.db, name)
    except services.UpstreamError:
        return answer(404, {"message": f"No upstream named {name!r}."})
    if kind == "recent":
        data = downloads.recent(request.db, [upstream.name])[upstream.name]
        return answer(200, {"data": data, "upstream": upstream.name, "type": "recent_downloads"})
    rows = downloads.daily(request.db, upstream.name)
    data = [
        {"category": "with_mirrors", "date": day.isoformat(), "downloads": w} for day, w, _ in rows
    ] + [
        {"category": "without_mirrors", "date": day.isoformat(), "downloads": wo}
        for day, _, wo in rows
    ]
    return answer(200, {"data": data, "upstream": upstream.name, "type": "overall_downloads"})


def includeme(config) -> None:
    add_route = config.add_route
    add_route("upstreams.stats_api", "/api/upstreams/{name}/{kind}")
    add_route("admin.upstreams", "/admin/upstreams/")
    add_route("admin.upstream.sync", "/admin/upstreams/{name}/sync/")
    add_route("admin.upstream.remove", "/admin/upstreams/{name}/remove/")
    add_route("admin.upstream.allow", "/admin/upstreams/{name}/allow/")
    config.scan(__name__)
