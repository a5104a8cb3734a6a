from __future__ import annotations

from zope.interface import Interface


class IUserService(Interface):
    def create_user(username, password, *, email=None, email_verified=False, name=""):
        """Create and return a user; raises ``AccountError`` when a rule is broken."""

    def find_by_username(username):
        """The user with that username (case-insensitive), or None."""

    def check_password(user, password) -> bool:
        """Whether ``password`` is the user's; rehashes outdated hashes on the way."""
