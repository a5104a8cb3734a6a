"""``/help/``: answers, including the ones the upload API's error messages point to."""

from __future__ import annotations

from pyramid.view import view_config


@view_config(route_name="help", renderer="help.html", request_method="GET")
def help_page(request):
    settings = request.registry.settings["warehouse"]
    return {"max_file_size": settings.max_file_size, "max_project_size": settings.max_project_size}


def includeme(config) -> None:
    config.add_route("help", "/help/")
    config.scan(__name__)
