from warehouse.ratelimit import RateLimiter
from warehouse.settings import RateLimit


def test_limit_counts_per_identifier(redis_client):
    limiter = RateLimiter(redis_client, "test", RateLimit(2, 60))
    assert limiter.hit("a") and limiter.hit("a")
    assert not limiter.allowed("a")
    assert not limiter.hit("a")
    assert limiter.hit("b")
    assert 1 <= limiter.retry_after() <= 61
    limiter.clear("a")
    assert limiter.allowed("a")
