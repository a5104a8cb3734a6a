"""The ``read-only`` flag: every write answers 503 with the flag's message; reads go on.

Exempt: the admin area (so an admin can turn the flag off) and logging in to it.
"""

from __future__ import annotations

from pyramid.response import Response

from warehouse.admin.flags import Flag, flags_of

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
        # Clients print the reason phrase (twine) or the body (uv, browsers): both carry it.
        reason = " ".join(message.split()).encode("ascii", "replace").decode()
        return Response(
            status=f"503 {reason}",
            body=(message + "\n").encode(),
            content_type="text/plain",
            charset="utf-8",
            headers={"Retry-After": "600", "Cache-Control": "no-store"},
        )

    return read_only_tween
