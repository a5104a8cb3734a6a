"""The upload API (``POST /legacy/``)."""


def includeme(config) -> None:
    pass
