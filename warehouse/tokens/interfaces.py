from __future__ import annotations

from zope.interface import Interface


class ITokenService(Interface):
    def create(user, *, projects=None, expires=None, description="", scopes=...) -> tuple:
        """Make a token; returns ``(APIToken, secret_string)``. The string is shown once.

        ``scopes``: what it may do (``warehouse.tokens.caveats.SCOPES``, all by default).
        """

    def verify(token_string):
        """The ``APIToken`` the string stands for; raises ``InvalidToken`` with the reason.

        Its ``restrictions`` are those of the row narrowed by the token's caveats."""

    def list_for(user) -> list:
        """The user's tokens, newest first."""

    def find_for(user, token_id):
        """The user's token with that id, or None."""

    def revoke(token) -> None:
        """Delete the token; it stops working at once."""
