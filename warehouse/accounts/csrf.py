"""CSRF protection for every state-changing request made with a session cookie.

The token lives in the server-side session and goes out in a hidden ``csrf_token`` field
(or the ``X-CSRF-Token`` header). API paths are exempt: they never honour cookies (see
:mod:`warehouse.accounts.security`), so a forged cross-site request carries no authority
there.
"""

from __future__ import annotations

import secrets

from pyramid.csrf import get_csrf_token
from pyramid.interfaces import ICSRFStoragePolicy
from pyramid.util import strings_differ
from zope.interface import implementer

from warehouse.accounts.security import is_api_request

SESSION_KEY = "_csrft_"
FIELD_NAME = "csrf_token"
HEADER_NAME = "X-CSRF-Token"


@implementer(ICSRFStoragePolicy)
class SessionCSRFStoragePolicy:
    def new_csrf_token(self, request) -> str:
        token = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = token
        return token

    def get_csrf_token(self, request) -> str:
        return request.session.get(SESSION_KEY) or self.new_csrf_token(request)

    def check_csrf_token(self, request, supplied_token) -> bool:
        # A request without a session has no token to match: fail without creating one,
        # so that a rejected request does not leave a session behind.
        expected = request.session.get(SESSION_KEY)
        if not expected or not supplied_token:
            return False
        return not strings_differ(expected.encode(), supplied_token.encode("utf-8", "replace"))


def csrf_check_needed(request) -> bool:
    return not is_api_request(request)


def includeme(config) -> None:
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(
        require_csrf=True, token=FIELD_NAME, header=HEADER_NAME, callback=csrf_check_needed
    )
    # ``request.csrf_token`` for templates: {{ request.csrf_token }}.
    config.add_request_method(get_csrf_token, "csrf_token", property=True)
