"""Rate limits as fixed-window counters: one round trip to Redis per request and limit.

DRF's throttles keep a sliding window as a pickled list of timestamps, read and rewritten on every request
(two round trips and a pickle). A counter per window (INCR + EXPIRE in one pipeline) costs one, at the
price of allowing up to twice the rate across a window boundary, which is what most public APIs accept.
"""

import time
from typing import Any

from django.core.cache import cache
from rest_framework import throttling

from .cache import raw_redis


def incr_window(key: str, ttl: int) -> int:
    """Increment the counter `key`, creating it with `ttl` seconds to live; returns the new count."""
    redis = raw_redis()
    if redis is not None:
        client, make_key = redis
        pipe = client.pipeline(transaction=False)
        full_key = make_key(key)
        pipe.incr(full_key)
        pipe.expire(full_key, ttl, nx=True)
        count, _ = pipe.execute()
        return int(count)
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, ttl)
        return 1


class FixedWindowMixin:
    rate: str | None
    num_requests: int
    duration: int

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if key is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        count = incr_window(f"{key}:{window}", self.duration + 1)
        if count > self.num_requests:
            self.wait_seconds = max(1.0, (window + 1) * self.duration - now)
            return False
        return True

    def wait(self) -> float:
        return getattr(self, "wait_seconds", float(self.duration))


class AnonRateThrottle(FixedWindowMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(FixedWindowMixin, throttling.UserRateThrottle):
    def get_cache_key(self, request: Any, view: Any) -> str | None:
        # DRF falls back to the client address for anonymous callers, counting them a second time beside
        # AnonRateThrottle; here this limit is for logged-in users only.
        if not (request.user and request.user.is_authenticated):
            return None
        return super().get_cache_key(request, view)


class ScopedRateThrottle(FixedWindowMixin, throttling.ScopedRateThrottle):
    def allow_request(self, request: Any, view: Any) -> bool:
        # As DRF's: the rate is known only once the view's scope is.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
