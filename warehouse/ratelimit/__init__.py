"""Fixed-window rate limits kept in Redis, shared by every process."""

from __future__ import annotations

import time

from warehouse.settings import RateLimit


class RateLimiter:
    def __init__(self, redis, name: str, limit: RateLimit):
        self.redis = redis
        self.name = name
        self.limit = limit

    def _key(self, identifier: str, now: float) -> str:
        window = int(now // self.limit.seconds)
        return f"ratelimit:{self.name}:{identifier}:{window}"

    def hit(self, identifier: str) -> bool:
        """Count one event; False when the limit for this window is already used up."""
        key = self._key(identifier, time.time())
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, self.limit.seconds, nx=True)
        count, _ = pipe.execute()
        return count <= self.limit.count

    def allowed(self, identifier: str) -> bool:
        """Whether another event would be allowed, without counting one."""
        count = self.redis.get(self._key(identifier, time.time()))
        return int(count or 0) < self.limit.count

    def retry_after(self) -> int:
        now = time.time()
        return int(self.limit.seconds - (now % self.limit.seconds)) + 1

    def clear(self, identifier: str) -> None:
        self.redis.delete(self._key(identifier, time.time()))


def includeme(config) -> None:
    settings = config.registry.settings["warehouse"]
    limits = {
        "upload": settings.upload_ratelimit,
        "new-project": settings.new_project_ratelimit,
        "login": settings.login_ratelimit,
        "report": settings.report_ratelimit,
    }

    def ratelimiter(request, name: str) -> RateLimiter:
        return RateLimiter(request.redis, name, limits[name])

    config.add_request_method(ratelimiter, "ratelimiter")
