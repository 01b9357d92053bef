"""Rate limits as fixed-window counters, every limit of a request checked in one round trip to Redis.

DRF's throttles keep a sliding window as a pickled list of timestamps, read and rewritten on every request
(two round trips and a pickle), one throttle class after another. Here one class, `RateLimits`, counts every
limit that applies to the request (`anon` by client address or `user` by account, plus the view's
`throttle_scope`) with INCR + EXPIRE NX per limit, and reads the generation tokens the view declares in
`generations` (incubator.generations) in the same pipeline: one round trip per request. A fixed window
allows up to twice the rate across a window boundary, which is what most public APIs accept.
"""

import functools
import time
from collections.abc import Sequence
from typing import Any

from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from .cache import redis_enabled, redis_execute, redis_key
from .generations import generation_key

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, int]:
    """'100/min' -> (100, 60): requests per window and the window in seconds (DRF's notation)."""
    try:
        count, period = rate.split("/")
        return int(count), _PERIODS[period.strip()[0]]
    except (ValueError, KeyError, IndexError):
        raise ImproperlyConfigured(f"Invalid rate {rate!r}: expected '<count>/<s|min|hour|day>'") from None


def count_and_read(counters: Sequence[tuple[str, int]], keys: Sequence[str]) -> tuple[list[int], list[str | None]]:
    """Increments each counter (created with its TTL in seconds) and reads each key, in one round trip.
    Returns the new counts and the values read (None where a key is missing)."""
    if redis_enabled():
        commands: list[tuple[Any, ...]] = []
        for key, ttl in counters:
            full_key = redis_key(key)
            commands += [("INCR", full_key), ("EXPIRE", full_key, ttl, "NX")]
        commands += [("GET", redis_key(key)) for key in keys]
        replies = redis_execute(*commands) if commands else []
        split = 2 * len(counters)
        return [int(count) for count in replies[:split:2]], [
            value.decode() if value is not None else None for value in replies[split:]
        ]
    return [_local_incr(key, ttl) for key, ttl in counters], [cache.get(key) for key in keys]


def _local_incr(key: str, ttl: int) -> int:
    cache.add(key, 0, ttl)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, ttl)
        return 1


def incr_window(key: str, ttl: int) -> int:
    """Increment the counter `key`, creating it with `ttl` seconds to live; returns the new count."""
    return count_and_read([(key, ttl)], [])[0][0]


class RateLimits(BaseThrottle):
    """Every limit that applies to the request, from REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]: `anon` for
    anonymous callers (by address) or `user` (by account), and the view's `throttle_scope` when it names one.
    Sets `request.generations` to the tokens of the view's `generations` read alongside."""

    wait_seconds = 0.0

    def allow_request(self, request: Any, view: Any) -> bool:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        user = request.user
        authenticated = bool(user and user.is_authenticated)
        ident = user.pk if authenticated else self.get_ident(request)
        scopes = ["user" if authenticated else "anon"]
        if view_scope := getattr(view, "throttle_scope", None):
            if view_scope not in rates:
                raise ImproperlyConfigured(f"No rate set for throttle scope {view_scope!r}")
            scopes.append(view_scope)
        now = time.time()
        limits = []  # (counter key, allowed, window length, seconds left in the window)
        for scope in scopes:
            if rates.get(scope) is None:
                continue
            allowed, duration = parse_rate(rates[scope])
            window = int(now // duration)
            limits.append((f"throttle:{scope}:{ident}:{window}", allowed, duration, (window + 1) * duration - now))
        names = tuple(getattr(view, "generations", ()))
        counts, tokens = count_and_read(
            [(key, duration + 1) for key, _, duration, _ in limits], [generation_key(name) for name in names]
        )
        request.generations = {name: token for name, token in zip(names, tokens, strict=True) if token}
        over = [max(1.0, left) for (_, allowed, _, left), count in zip(limits, counts, strict=True) if count > allowed]
        if over:
            self.wait_seconds = max(over)
            return False
        return True

    def wait(self) -> float:
        return self.wait_seconds
