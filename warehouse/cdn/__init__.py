"""The CDN: surrogate keys (:mod:`.keys`), the purge task and when it is sent (:mod:`.tasks`),
and the purge backends (:mod:`.purge`)."""


def includeme(config) -> None:
    # Purging is a reaction to commits (warehouse.effects); nothing to set up per app.
    pass
