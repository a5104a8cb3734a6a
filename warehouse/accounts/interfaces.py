from __future__ import annotations

from zope.interface import Interface


class IUserService(Interface):
    def create_user(username, password, *, email=None, email_verified=False, name=""):
        """Create and return a user; raises ``AccountError`` when a rule is broken."""

    def check_new_username(username) -> None:
        """Raise ``AccountError`` unless someone may register ``username`` (format,
        reserved and prohibited names, case-insensitive collisions)."""

    def find_by_username(username):
        """The user with that username (case-insensitive), or None."""

    def find_by_id(user_id):
        """The user with that id, or None."""

    def find_by_login(username_or_email):
        """The user a login form means: by username, or by one of their addresses."""

    def find_email(address):
        """The ``Email`` row for an address (case-insensitive), or None."""

    def check_password(user, password) -> bool:
        """Whether ``password`` is the user's; rehashes outdated hashes on the way."""

    def set_password(user, password) -> None:
        """Store a new argon2id hash; every other session of the user ends."""

    def record_login(user) -> None:
        """Note a successful login."""

    def add_email(user, address):
        """Add an unverified address; raises ``AccountError`` if invalid or in use."""

    def email_of(user, email_id):
        """One of the user's ``Email`` rows by id; ``AccountError`` if not theirs."""

    def verify_email(email) -> None:
        """Mark the address verified."""

    def set_primary_email(user, email):
        """Make a verified address primary; returns the previous primary ``Email``."""

    def remove_email(user, email) -> None:
        """Remove a non-primary address."""

    def enable_totp(user, secret) -> None:
        """Store the TOTP secret (bytes) once the user has proved their app has it."""

    def disable_totp(user) -> None:
        """Remove TOTP (and the recovery codes, if no second factor remains)."""

    def drop_orphaned_recovery_codes(user) -> None:
        """Delete the recovery codes if the user has no second factor left."""

    def replace_recovery_codes(user) -> list:
        """Generate new recovery codes, replacing the old; returns the plain codes once."""

    def use_recovery_code(user, code) -> bool:
        """Burn an unused recovery code; whether it was one."""

    def projects_blocking_deletion(user) -> list:
        """Names of projects whose only Owner is ``user``."""

    def delete_user(user, *, submitted_by=None) -> None:
        """Delete the account; its username can never be registered again."""
