"""One Redis client per process, shared by every request."""

from __future__ import annotations

import redis


def includeme(config) -> None:
    settings = config.registry.settings["warehouse"]
    if "redis.client" not in config.registry:
        config.registry["redis.client"] = redis.Redis.from_url(
            settings.redis_url, socket_timeout=5, health_check_interval=30
        )
    config.add_request_method(lambda request: request.registry["redis.client"], "redis", reify=True)
