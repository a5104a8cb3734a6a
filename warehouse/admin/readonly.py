"""The ``read-only`` flag: every write answers 503 with the flag's message; reads go on.

Exempt: the admin area (so an admin can turn the flag off) and logging in to it.
"""

from __future__ import annotations

from pyramid.renderers import render
from pyramid.response import Response

from warehouse.admin.flags import Flag, flags_of
from warehouse.web.views.errors import wants_html_page

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
EXEMPT_PREFIXES = (
    "/admin/",
    "/account/login/",
    "/account/two-factor/",
    "/account/recovery-code/",
    "/account/logout/",
)


def read_only_tween_factory(handler, registry):
    reader = flags_of(registry)

    def read_only_tween(request):
        if request.method in SAFE_METHODS or request.path_info.startswith(EXEMPT_PREFIXES):
            return handler(request)
        message = reader.refusal(Flag.READ_ONLY)
        if message is None:
            return handler(request)
        # Clients print the reason phrase (twine) or the body (uv); people get the site's page.
        reason = " ".join(message.split()).encode("ascii", "replace").decode()
        response = Response(
            status=f"503 {reason}",
            headers={"Retry-After": "600", "Cache-Control": "no-store"},
            charset="utf-8",
        )
        if wants_html_page(request):
            response.content_type = "text/html"
            response.text = render("errors/read_only.html", {"message": message}, request=request)
        else:
            response.content_type = "text/plain"
            response.text = message + "\n"
        return response

    return read_only_tween
