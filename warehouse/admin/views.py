"""The admin pages under ``/admin/``, and the report form on project pages.

Views are thin: parse the form, call :mod:`warehouse.admin.services` with the admin as the
actor, flash what happened, redirect. Every admin view goes through
:func:`~warehouse.admin.access.admin_only`.
"""

from __future__ import annotations

import sqlalchemy as sa
from packaging.utils import canonicalize_name
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config
from sqlalchemy import orm

from warehouse.accounts.models import User
from warehouse.admin import services
from warehouse.admin.access import actor_of, admin_only
from warehouse.admin.flags import DESCRIPTIONS, UnknownFlag, load_states, parse_flag, set_flag
from warehouse.admin.mail import request_mailer
from warehouse.admin.models import OBSERVATION_LABELS, AdminLogEntry, Observation, ObservationKind
from warehouse.events import EventSource, events_for
from warehouse.packaging.management import ProjectManagement
from warehouse.packaging.models import JournalEntry, Project, Release, Role
from warehouse.scanning.services import project_scans
from warehouse.settings import MiB
from warehouse.tokens.models import APIToken

T = "warehouse.admin:templates/admin/"
PAGE_SIZE = 50


def _back(request, route: str, message: str, queue: str = "success", **kw) -> HTTPSeeOther:
    request.session.flash(message, queue=queue)
    return HTTPSeeOther(request.route_path(route, **kw))


def _perform(request, route: str, action, success: str, **kw) -> HTTPSeeOther:
    """Run ``action()``; flash its refusal (and write nothing) or ``success``."""
    try:
        action()
    except services.AdminError as exc:
        request.tm.doom()
        return _back(request, route, str(exc), "error", **kw)
    return _back(request, route, success, **kw)


# Dashboard -------------------------------------------------------------------------------


@view_config(route_name="admin.dashboard", renderer=T + "dashboard.html", decorator=admin_only)
def dashboard(request):
    db = request.db
    return {
        "open_reports": db.scalar(
            sa.select(sa.func.count())
            .select_from(Observation)
            .where(Observation.resolved.is_(None))
        ),
        "quarantined": db.scalar(
            sa.select(sa.func.count())
            .select_from(Project)
            .where(Project.lifecycle_status.is_not(None))
        ),
        "flags_on": [state for state in load_states(db).values() if state.enabled],
        "log": services.recent_log(db, 10),
    }


# Projects --------------------------------------------------------------------------------


@view_config(route_name="admin.projects", renderer=T + "projects.html", decorator=admin_only)
def projects(request):
    q = request.GET.get("q", "").strip()
    query = sa.select(Project).order_by(Project.created.desc()).limit(PAGE_SIZE)
    if q:
        query = query.where(Project.normalized_name.like(f"%{_escape_like(canonicalize_name(q))}%"))
    if request.GET.get("quarantined"):
        query = query.where(Project.lifecycle_status.is_not(None))
    return {"q": q, "projects": list(request.db.scalars(query))}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _project(request) -> Project:
    project = request.db.scalar(services.find_project_query(request.matchdict["name"]))
    if project is None:
        raise HTTPNotFound()
    return project


@view_config(
    route_name="admin.project",
    renderer=T + "project.html",
    request_method="GET",
    decorator=admin_only,
)
def project_detail(request):
    db = request.db
    project = _project(request)
    releases = list(
        db.scalars(
            sa.select(Release)
            .where(Release.project_id == project.id)
            .options(orm.selectinload(Release.files))
            .order_by(Release.sort_order.desc())
        )
    )
    return {
        "project": project,
        "releases": releases,
        "owners": db.execute(
            sa.select(User, Role.role_name)
            .join(Role, Role.user_id == User.id)
            .where(Role.project_id == project.id)
            .order_by(Role.role_name.desc(), User.username)
        ).all(),
        "reports": list(
            db.scalars(
                sa.select(Observation)
                .where(Observation.project_name == project.normalized_name)
                .order_by(Observation.id.desc())
            )
        ),
        "journal": list(
            db.scalars(
                sa.select(JournalEntry)
                .where(JournalEntry.name == project.name)
                .order_by(JournalEntry.id.desc())
                .limit(PAGE_SIZE)
            )
        ),
        "log": services.recent_log(db, PAGE_SIZE, target=project.normalized_name),
        # Results, findings and holds (warehouse.scanning), rendered by its own template.
        "scans": project_scans(db, project.normalized_name),
        "mib": MiB,
        "settings": request.registry.settings["warehouse"],
    }


@view_config(route_name="admin.project.quarantine", request_method="POST", decorator=admin_only)
def quarantine(request):
    project = _project(request)
    return _perform(
        request,
        "admin.project",
        lambda: services.quarantine(
            request.db,
            actor_of(request),
            project,
            request.POST.get("reason", ""),
            request_mailer(request),
        ),
        f"{project.name} is in quarantine; its owners have been told.",
        name=project.normalized_name,
    )


@view_config(route_name="admin.project.unquarantine", request_method="POST", decorator=admin_only)
def unquarantine(request):
    project = _project(request)
    return _perform(
        request,
        "admin.project",
        lambda: services.unquarantine(
            request.db, actor_of(request), project, request_mailer(request)
        ),
        f"{project.name} is out of quarantine, listed and installable again.",
        name=project.normalized_name,
    )


def _mib(text: str | None) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise services.AdminError(f"{text!r} is not a number of MiB.") from None
    return int(value * MiB)


@view_config(route_name="admin.project.limits", request_method="POST", decorator=admin_only)
def limits(request):
    project = _project(request)
    return _perform(
        request,
        "admin.project",
        lambda: services.set_limits(
            request.db,
            actor_of(request),
            project,
            _mib(request.POST.get("upload_limit")),
            _mib(request.POST.get("total_size_limit")),
        ),
        f"Saved the limits of {project.name}.",
        name=project.normalized_name,
    )


@view_config(route_name="admin.project.delete", request_method="POST", decorator=admin_only)
def delete_project(request):
    project = _project(request)
    if canonicalize_name(request.POST.get("confirm", "")) != project.normalized_name:
        return _back(
            request,
            "admin.project",
            f"Type the project's name, {project.name}, to delete it.",
            "error",
            name=project.normalized_name,
        )
    name = project.name
    services.log_action(
        request.db,
        actor_of(request),
        "delete project",
        "project",
        project.normalized_name,
        releases=len(project.releases),
        total_size=project.total_size,
    )
    request.find_service(ProjectManagement).delete_project(project, request.user)
    return _back(request, "admin.projects", f"Deleted the project {name}; its reports are kept.")


# Users -----------------------------------------------------------------------------------


@view_config(route_name="admin.users", renderer=T + "users.html", decorator=admin_only)
def users(request):
    q = request.GET.get("q", "").strip()
    query = sa.select(User).order_by(User.date_joined.desc()).limit(PAGE_SIZE)
    if q:
        query = query.where(User.username.ilike(f"%{_escape_like(q)}%"))
    return {"q": q, "users": list(request.db.scalars(query))}


def _user(request) -> User:
    user = request.db.scalar(sa.select(User).where(User.username == request.matchdict["username"]))
    if user is None:
        raise HTTPNotFound()
    return user


@view_config(
    route_name="admin.user", renderer=T + "user.html", request_method="GET", decorator=admin_only
)
def user_detail(request):
    db = request.db
    user = _user(request)
    return {
        "account": user,
        "tokens": list(
            db.scalars(
                sa.select(APIToken)
                .where(APIToken.user_id == user.id)
                .order_by(APIToken.created.desc())
            )
        ),
        "events": events_for(db, EventSource.user, user.id, limit=PAGE_SIZE),
        "log": services.recent_log(db, PAGE_SIZE, target=user.username),
        "reports": list(
            db.scalars(
                sa.select(Observation)
                .where(Observation.reporter == user.username)
                .order_by(Observation.id.desc())
                .limit(PAGE_SIZE)
            )
        ),
    }


def _user_action(request, action, success: str):
    user = _user(request)
    return _perform(
        request,
        "admin.user",
        lambda: action(user),
        success.format(username=user.username),
        username=user.username,
    )


@view_config(route_name="admin.user.freeze", request_method="POST", decorator=admin_only)
def freeze(request):
    frozen = request.POST.get("frozen") == "1"
    reason = request.POST.get("reason", "")
    return _user_action(
        request,
        lambda user: services.set_frozen(request.db, actor_of(request), user, frozen, reason),
        "{username} is frozen: it cannot log in or upload."
        if frozen
        else "{username} is unfrozen.",
    )


@view_config(route_name="admin.user.reset_2fa", request_method="POST", decorator=admin_only)
def reset_two_factor(request):
    reason = request.POST.get("reason", "")
    return _user_action(
        request,
        lambda user: services.reset_two_factor(request.db, actor_of(request), user, reason),
        "Removed every second factor of {username}.",
    )


@view_config(route_name="admin.user.verify_email", request_method="POST", decorator=admin_only)
def verify_email(request):
    try:
        email_id = int(request.POST.get("email_id", ""))
    except ValueError:
        email_id = -1
    return _user_action(
        request,
        lambda user: services.mark_email_verified(request.db, actor_of(request), user, email_id),
        "Marked the address of {username} as verified.",
    )


@view_config(route_name="admin.user.admin", request_method="POST", decorator=admin_only)
def grant_admin(request):
    admin = request.POST.get("admin") == "1"
    return _user_action(
        request,
        lambda user: services.set_admin(request.db, actor_of(request), user, admin),
        "{username} is now an admin." if admin else "{username} is no longer an admin.",
    )


@view_config(route_name="admin.user.trusted", request_method="POST", decorator=admin_only)
def trusted(request):
    value = request.POST.get("trusted") == "1"
    return _user_action(
        request,
        lambda user: services.set_trusted_observer(request.db, actor_of(request), user, value),
        "{username} is now a trusted observer."
        if value
        else "{username} is no longer a trusted observer.",
    )


# Prohibited names ------------------------------------------------------------------------


@view_config(
    route_name="admin.names", renderer=T + "names.html", request_method="GET", decorator=admin_only
)
def names(request):
    return {"names": services.prohibited_names(request.db)}


@view_config(route_name="admin.names", request_method="POST", decorator=admin_only)
def prohibit(request):
    name = request.POST.get("name", "")
    return _perform(
        request,
        "admin.names",
        lambda: services.prohibit_name(
            request.db, actor_of(request), name, request.POST.get("reason", "")
        ),
        f"New projects named {canonicalize_name(name)!r} are now refused.",
    )


@view_config(route_name="admin.names.allow", request_method="POST", decorator=admin_only)
def allow(request):
    name = request.POST.get("name", "")
    return _perform(
        request,
        "admin.names",
        lambda: services.allow_name(request.db, actor_of(request), name),
        f"{canonicalize_name(name)!r} may be registered again.",
    )


# Flags -----------------------------------------------------------------------------------


@view_config(
    route_name="admin.flags", renderer=T + "flags.html", request_method="GET", decorator=admin_only
)
def flags(request):
    return {"states": list(load_states(request.db).values()), "descriptions": DESCRIPTIONS}


@view_config(route_name="admin.flag", request_method="POST", decorator=admin_only)
def set_flag_view(request):
    try:
        flag = parse_flag(request.matchdict["flag"])
    except UnknownFlag:
        raise HTTPNotFound() from None
    enabled = request.POST.get("enabled") == "1"
    message = request.POST.get("message")

    def change():
        before, after = set_flag(request.db, flag, enabled, message, request.user.username)
        services.log_action(
            request.db,
            actor_of(request),
            "set flag",
            "flag",
            flag.value,
            before={"enabled": before.enabled, "message": before.message},
            after={"enabled": after.enabled, "message": after.message},
        )

    return _perform(
        request, "admin.flags", change, f"{flag.value} is {'on' if enabled else 'off'}."
    )


# Reports ---------------------------------------------------------------------------------


@view_config(route_name="admin.reports", renderer=T + "reports.html", decorator=admin_only)
def reports(request):
    show_all = bool(request.GET.get("all"))
    query = sa.select(Observation).order_by(Observation.id.desc()).limit(PAGE_SIZE * 4)
    if not show_all:
        query = query.where(Observation.resolved.is_(None))
    rows = list(request.db.scalars(query))
    existing = {
        name: status
        for name, status in request.db.execute(
            sa.select(Project.normalized_name, Project.lifecycle_status).where(
                Project.normalized_name.in_({row.project_name for row in rows})
            )
        )
    }
    return {
        "reports": rows,
        "show_all": show_all,
        "projects": existing,
        "labels": OBSERVATION_LABELS,
    }


@view_config(route_name="admin.report.resolve", request_method="POST", decorator=admin_only)
def resolve(request):
    try:
        observation_id = int(request.matchdict["id"])
    except ValueError:
        raise HTTPNotFound() from None
    return _perform(
        request,
        "admin.reports",
        lambda: services.resolve_report(
            request.db, actor_of(request), observation_id, request.POST.get("resolution", "")
        ),
        f"Report {observation_id} is resolved.",
    )


# The admin log and the queues ------------------------------------------------------------


@view_config(route_name="admin.log", renderer=T + "log.html", decorator=admin_only)
def log(request):
    query = sa.select(AdminLogEntry).order_by(AdminLogEntry.id.desc()).limit(PAGE_SIZE * 4)
    target = request.GET.get("target", "").strip()
    if target:
        query = query.where(AdminLogEntry.target == target)
    return {"entries": list(request.db.scalars(query)), "target": target}


@view_config(route_name="admin.queues", renderer=T + "queues.html", decorator=admin_only)
def queues(request):
    from warehouse import tasks
    from warehouse.admin.jobs import recent_runs
    from warehouse.metrics.queues import queue_depths, recent_failures, schedule

    try:
        depths, error = queue_depths(tasks.app), None
    except Exception as exc:  # noqa: BLE001 - the page says the broker is unreachable
        depths, error = {}, f"The broker did not answer: {exc}"
    try:
        failures = recent_failures(tasks.app, 20)
    except Exception:  # noqa: BLE001
        failures = []
    runs, run_errors = recent_runs(request.db)
    return {
        "depths": depths,
        "broker_error": error,
        "failures": failures,
        "schedule": schedule(tasks.app, request.redis),
        "runs": runs,
        "run_errors": run_errors,
    }


# Reporting a project (any logged-in user) ------------------------------------------------


@view_config(route_name="admin.report_project", request_method="POST")
def report_project(request):
    name = request.matchdict["name"]
    project = request.db.scalar(services.find_project_query(name))
    if project is None or project.quarantined:
        raise HTTPNotFound()
    target = request.route_path("packaging.project", name=project.name)
    if request.user is None:
        request.session.flash("Log in to report a project.", queue="warning")
        return HTTPSeeOther(request.route_path("accounts.login", _query={"next": target}))
    try:
        services.check_report(request.POST.get("kind", ""), request.POST.get("summary", ""), None)
    except services.ReportError as exc:
        request.session.flash(f"Your report was not sent: {exc}", queue="error")
        return HTTPSeeOther(target)
    limiter = request.ratelimiter("report")
    if not limiter.hit(str(request.user.id)):
        request.session.flash(
            f"You have sent many reports lately; try again in {limiter.retry_after()} seconds.",
            queue="error",
        )
        return HTTPSeeOther(target)
    _, quarantined = services.report(
        request.db,
        project,
        request.user,
        request.POST.get("kind", ""),
        request.POST.get("summary", ""),
        None,
        via="web",
        mail=request_mailer(request),
    )
    if quarantined:
        request.session.flash(
            f"Thank you: your report put {project.name} in quarantine until an administrator "
            "looks at it.",
            queue="success",
        )
        return HTTPSeeOther("/")
    request.session.flash(
        "Thank you: the index's administrators will look at your report.", queue="success"
    )
    return HTTPSeeOther(target)


def report_kinds():
    return [(kind.value, OBSERVATION_LABELS[kind]) for kind in ObservationKind]


def includeme(config) -> None:
    add = config.add_route
    add("admin.dashboard", "/admin/")
    add("admin.projects", "/admin/projects/")
    add("admin.project", "/admin/projects/{name}/")
    add("admin.project.quarantine", "/admin/projects/{name}/quarantine/")
    add("admin.project.unquarantine", "/admin/projects/{name}/unquarantine/")
    add("admin.project.limits", "/admin/projects/{name}/limits/")
    add("admin.project.delete", "/admin/projects/{name}/delete/")
    add("admin.users", "/admin/users/")
    add("admin.user", "/admin/users/{username}/")
    add("admin.user.freeze", "/admin/users/{username}/freeze/")
    add("admin.user.reset_2fa", "/admin/users/{username}/reset-2fa/")
    add("admin.user.verify_email", "/admin/users/{username}/verify-email/")
    add("admin.user.admin", "/admin/users/{username}/admin/")
    add("admin.user.trusted", "/admin/users/{username}/trusted/")
    add("admin.names", "/admin/prohibited-names/")
    add("admin.names.allow", "/admin/prohibited-names/allow/")
    add("admin.flags", "/admin/flags/")
    add("admin.flag", "/admin/flags/{flag}/")
    add("admin.reports", "/admin/reports/")
    add("admin.report.resolve", "/admin/reports/{id}/resolve/")
    add("admin.log", "/admin/log/")
    add("admin.queues", "/admin/queues/")
    add("admin.report_project", "/report/{name}/")
    config.scan(__name__)
