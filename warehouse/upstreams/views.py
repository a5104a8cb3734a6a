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
    return {"runs": list(job_runs(request.db))}


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


def includeme(config) -> None:
    add_route = config.add_route
    add_route("admin.upstreams", "/admin/upstreams/")
    add_route("admin.upstream.sync", "/admin/upstreams/{name}/sync/")
    add_route("admin.upstream.remove", "/admin/upstreams/{name}/remove/")
    add_route("admin.upstream.allow", "/admin/upstreams/{name}/allow/")
    config.scan(__name__)
