"""File storage: the interface and its backends, chosen by WAREHOUSE_FILES_BACKEND."""


def includeme(config) -> None:
    pass
