"""The admin area and trust & safety: admin pages, flags, prohibited names, reports,
quarantine and the admin log.

``config.include("warehouse.admin")`` keeps the flags and the quarantined files in every
process's memory (see :mod:`warehouse.admin.memo`), answers writes with 503 while the
``read-only`` flag is on, and adds ``/admin/``, the report form and the reports API.
"""

from __future__ import annotations

from warehouse.admin import flags, quarantine


def includeme(config) -> None:
    registry = config.registry
    redis = registry.get("redis.client")
    session_factory = registry["db.session_factory"]
    registry[flags.REGISTRY_KEY] = flags.FlagReader(redis, session_factory)
    blocklist = quarantine.BlobBlocklist(redis, session_factory)
    # Loaded now, so that the first downloads need no I/O (a forked worker inherits it).
    blocklist.refresh()
    registry[quarantine.REGISTRY_KEY] = blocklist
    config.add_tween("warehouse.admin.readonly.read_only_tween_factory")
    config.include("warehouse.admin.views")
    config.include("warehouse.admin.api")
