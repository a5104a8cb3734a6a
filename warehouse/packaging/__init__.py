"""Projects, releases, files, and the journal."""

import warehouse.packaging.journal  # noqa: F401  (installs the commit hook)


def includeme(config) -> None:
    pass
