"""Read APIs: simple (PEP 503/691), JSON."""


def includeme(config) -> None:
    pass
