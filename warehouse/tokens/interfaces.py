from __future__ import annotations

from zope.interface import Interface


class ITokenService(Interface):
    def create(user, *, projects=None, expires=None, description="") -> tuple:
        """Make a token; returns ``(APIToken, secret_string)``. The string is shown once."""

    def verify(token_string):
        """The ``APIToken`` the string stands for; raises ``InvalidToken`` with the reason."""

    def revoke(token) -> None:
        """Delete the token; it stops working at once."""
