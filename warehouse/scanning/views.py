"""The admins' scanning pages under ``/admin/scanning/``: the findings queue (held and
suspicious releases), releasing a hold, dismissing a finding, and the global runs.

Thin, like :mod:`warehouse.admin.views`: parse, call :mod:`warehouse.scanning.services` with
the admin as the actor, flash, redirect. Every view goes through ``admin_only``.
"""

from __future__ import annotations

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config

from warehouse.admin.access import actor_of, admin_only
from warehouse.admin.services import AdminError
from warehouse.scanning import services

T = "warehouse.scanning:templates/scanning/"


def _id(request) -> int:
    try:
        return int(request.matchdict["id"])
    except ValueError:
        raise HTTPNotFound() from None


def _back_to(request) -> str:
    """Where the admin came from (a page of ours), else the queue."""
    target = request.POST.get("next", "")
    if target.startswith("/admin/") and "//" not in target:
        return target
    return request.route_path("admin.scanning")


def _perform(request, action, success) -> HTTPSeeOther:
    try:
        done = action()
    except AdminError as exc:
        request.tm.doom()
        request.session.flash(str(exc), queue="error")
    else:
        request.session.flash(success(done), queue="success")
    return HTTPSeeOther(_back_to(request))


@view_config(route_name="admin.scanning", renderer=T + "queue.html", decorator=admin_only)
def queue(request):
    return {"queue": services.findings_queue(request.db)}


@view_config(route_name="admin.scanning.release", request_method="POST", decorator=admin_only)
def release_hold(request):
    return _perform(
        request,
        lambda: services.release_hold(
            request.db, actor_of(request), _id(request), request.POST.get("reason", "")
        ),
        lambda hold: f"{hold.project_name} {hold.version} is served again.",
    )


@view_config(route_name="admin.scanning.dismiss", request_method="POST", decorator=admin_only)
def dismiss(request):
    return _perform(
        request,
        lambda: services.dismiss_finding(
            request.db, actor_of(request), _id(request), request.POST.get("reason", "")
        ),
        lambda dismissal: f"Dismissed the {dismissal.rule} finding of {dismissal.project_name}.",
    )


@view_config(route_name="admin.scanning.runs", renderer=T + "runs.html", decorator=admin_only)
def runs(request):
    from warehouse.scanning.runs import recent_runs

    return {"runs": recent_runs(request.db)}


@view_config(route_name="admin.scanning.run", renderer=T + "run.html", decorator=admin_only)
def run(request):
    from warehouse.scanning.runs import run_report

    report = run_report(request.db, _id(request))
    if report is None:
        raise HTTPNotFound()
    return {"report": report}


def includeme(config) -> None:
    add = config.add_route
    add("admin.scanning", "/admin/scanning/")
    add("admin.scanning.release", "/admin/scanning/holds/{id}/release/")
    add("admin.scanning.dismiss", "/admin/scanning/findings/{id}/dismiss/")
    add("admin.scanning.runs", "/admin/scanning/runs/")
    add("admin.scanning.run", "/admin/scanning/runs/{id}/")
    config.scan(__name__)
