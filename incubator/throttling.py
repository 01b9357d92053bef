"""Rate limits as fixed-window counters, every limit of a request checked in one round trip to Redis.

DRF's throttles keep a sliding window as a pickled list of timestamps, read and rewritten on every request
(two round trips and a pickle), one throttle class after another. Here one class, `RateLimits`, counts every
limit that applies to the request (`anon` by client address or `user` by account, plus the view's
`throttle_scope`) with INCR + EXPIRE NX per limit, in the request's cache batch (incubator.batch): whatever
else the request wants from the cache travels in the same round trip. A fixed window allows up to twice the
rate across a window boundary, which is what most public APIs accept.
"""

import functools
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .batch import batch_count, batch_scope, count_and_read
from .metrics import rate_limit_rejected

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """'100/min' -> (100, 60): requests per window and the window in seconds (DRF's notation)."""
    try:
        count, period = rate.split("/")
        return int(count), _PERIODS[period.strip()[0]]
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(f"Invalid rate {rate!r}: expected '<count>/<s|min|hour|day>'") from None


def incr_window(key: str, ttl: int) -> int:
    """Increment the counter `key`, creating it with `ttl` seconds to live; returns the new count."""
    return count_and_read([(key, ttl)], [])[0][0]


class RateLimits(BaseThrottle):
    """Every limit that applies to the request, from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]: `anon` for
    anonymous callers (by address) or `user` (by account), and the view's `throttle_scope` when it names one."""

    wait_seconds = 0.0

    def _limits(self, request: Any, view: Any, user: Any) -> list[tuple[str, int, int, float, str]]:
        """(counter key, allowed, window length, seconds left in the window, scope) for every limit that applies."""
        rates = api_settings.DEFAULT_THROTTLE_RATES
        authenticated = bool(user and user.is_authenticated)
        ident = user.pk if authenticated else self.get_ident(request)
        scopes = ["user" if authenticated else "anon"]
        if view_scope := getattr(view, "throttle_scope", None):
            if view_scope not in rates:
                raise ImproperlyConfigured(f"No rate set for throttle scope {view_scope!r}")
            scopes.append(view_scope)
        batch = batch_scope.get()
        now = batch.started if batch is not None else time.time()
        limits = []
        for scope in scopes:
            if rates.get(scope) is None:
                continue
            allowed, duration = parse_rate(rates[scope])
            window = int(now // duration)
            key = f"throttle:{scope}:{ident}:{window}"
            limits.append((key, allowed, duration, (window + 1) * duration - now, scope))
        return limits

    def counters(self, request: Any, view: Any, user: Any) -> list[tuple[str, int]]:
        """The counters this request increments, named before authentication has set request.user."""
        return [(key, duration + 1) for key, _, duration, _, _ in self._limits(request, view, user)]

    def allow_request(self, request: Any, view: Any) -> bool:
        limits = self._limits(request, view, request.user)
        batch = batch_scope.get()
        if batch is not None and all(key in batch.counts for key, *_ in limits):
            counts = [batch.counts[key] for key, *_ in limits]  # sent already, with authentication's reads
        else:
            # Sent in the request's one round trip to the cache, with whatever else the request wants from it.
            counts = batch_count([(key, duration + 1) for key, _, duration, _, _ in limits])
        over = [
            (max(1.0, left), scope)
            for (_, allowed, _, left, scope), count in zip(limits, counts, strict=True)
            if count > allowed
        ]
        if over:
            # Counted once per refused request, under the limit that keeps the client waiting longest.
            self.wait_seconds, scope = max(over)
            rate_limit_rejected(scope)
            return False
        return True

    def wait(self) -> float:
        return self.wait_seconds
