"""The upload API (``POST /legacy/``)."""


def includeme(config) -> None:
    config.include("warehouse.upload.views")
