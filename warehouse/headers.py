"""Security headers on every response the application sends (pages and APIs alike): the
router's, through the tween below, and the read path's (:mod:`warehouse.api.fastpath`).

The policy allows only the site's own scripts, styles and forms; images may come from any
https origin because project descriptions link badges from elsewhere.
"""

from __future__ import annotations

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: https:",
        "style-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
        "base-uri 'self'",
        "object-src 'none'",
    ]
)

# Nothing on the site needs these browser features.
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "origin-when-cross-origin",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
}

# Only sent over https: over plain http the header is ignored and would just be noise.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"


def includeme(config) -> None:
    config.add_tween("warehouse.headers.security_headers_tween_factory")


def security_headers_tween_factory(handler, registry):
    def security_headers_tween(request):
        response = handler(request)
        headers = response.headers
        for name, value in SECURITY_HEADERS.items():
            # A view that needs a different policy for one response may set its own.
            if name not in headers:
                headers[name] = value
        if request.scheme == "https":
            headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
        return response

    return security_headers_tween
