from __future__ import annotations

from zope.interface import Interface


class IProjectService(Interface):
    def find(name):
        """The project whose normalized name matches ``name``, or None."""

    def find_for_upload(name, user, canonical_version=None):
        """``(project, user's role, release)`` for an upload, in one query; Nones if absent."""

    def role_of(user, project):
        """The user's role name on the project ("Owner", "Maintainer") or None."""

    def check_new_name(name) -> None:
        """Raise ``ProjectNameError`` unless ``name`` may be registered."""

    def create(name, creator):
        """Create the project owned by ``creator``; None if it already exists."""

    def reorder_releases(project, added=None) -> None:
        """Recompute the releases' order by version (given ``added``, a release just made
        while the others are in order, only place it)."""
