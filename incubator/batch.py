"""One round trip to the cache per API request: what the parts of a request need from it, sent together.

Parts of a request that know early what they will read add the keys to the request's batch (`want`); the
first part that must talk to the cache (the rate limiter, with its counters) sends everything at once
(`batch_count`), and later readers find their values in the batch (`read`). No part owns another:
the rate limiter knows nothing of list totals, and a list total read outside a request (a task, a command)
simply makes its own round trip. incubator.middleware.CacheBatchMiddleware opens the batch and wants the
generation tokens of the lists the resolved view declares in `generations` (incubator.totals).

With Redis down, a request still runs if it needs nothing that only Redis knows: its rate-limit counters count
in this process alone (the limits hold per process), and a value it wanted stays unknown. Reading an unknown
value raises the cache's error (a 503 naming `cache`), so a reader that must not guess, such as the token
revocation check, fails closed; a reader that can do without (a list's generation token: the total is counted
again) catches it. Anonymous reads of public data keep working; a logged-in request cannot tell whether its
session was logged out, so it is a 503 until Redis is back.
"""

import logging
import time
from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .cache import redis_enabled, redis_execute, redis_key

logger = logging.getLogger(__name__)
CACHE_ERRORS = (RedisConnectionError, RedisTimeoutError)
# Rate-limit counters while Redis is down: per process, bounded, gone with the outage's windows.
_fallback_counters = LocMemCache("incubator-batch-fallback", {"OPTIONS": {"MAX_ENTRIES": 50_000}})
# After a failure, requests of this process skip Redis for a moment instead of each waiting out a connect
# timeout against a host that stopped answering.
_RETRY_AFTER_SECONDS = 1.0
_down_until = 0.0


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


def _local_incr(key: str, ttl: int, store: Any = cache) -> int:
    store.add(key, 0, ttl)
    try:
        return int(store.incr(key))
    except ValueError:  # expired between add and incr
        store.set(key, 1, ttl)
        return 1


def _count_and_read_or_degrade(
    counters: Sequence[tuple[str, int]], keys: Sequence[str]
) -> tuple[list[int], list[str | None], BaseException | None]:
    """count_and_read, or with Redis down: counts of this process alone, and the error that leaves the keys
    unknown."""
    global _down_until
    error: BaseException
    if time.monotonic() < _down_until:
        error = RedisConnectionError("Redis was unreachable a moment ago")
    else:
        try:
            counts, values = count_and_read(counters, keys)
            return counts, values, None
        except CACHE_ERRORS as exc:
            logger.warning("cache unavailable, counting in this process: %s", exc)
            _down_until = time.monotonic() + _RETRY_AFTER_SECONDS
            error = exc
    return [_local_incr(key, ttl, _fallback_counters) for key, ttl in counters], [None] * len(keys), error


class CacheBatch:
    """The cache reads one request wants, sent with the first counters or on the first read."""

    def __init__(self) -> None:
        self._wanted: list[str] = []
        self._values: dict[str, str | None] = {}
        self.counts: dict[str, int] = {}  # counters already incremented in this request
        self.sent = False
        self.unavailable: BaseException | None = None  # the cache's error, when Redis was down
        self._unknown: set[str] = set()
        # One clock per request: a rate-limit window planned early and checked later is the same window.
        self.started = time.time()

    def want(self, *keys: str) -> None:
        self._wanted += [key for key in keys if key not in self._values and key not in self._wanted]

    def count(self, counters: Sequence[tuple[str, int]]) -> list[int]:
        """Increments the counters and reads every wanted key, in one round trip."""
        keys, self._wanted = self._wanted, []
        counts, values, error = _count_and_read_or_degrade(counters, keys)
        if error is not None:
            self.unavailable = error
            self._unknown.update(keys)
        else:
            self._values.update(zip(keys, values, strict=True))
        self.counts.update(zip((key for key, _ in counters), counts, strict=True))
        self.sent = True
        return counts

    def read(self, key: str) -> tuple[bool, str | None]:
        """(True, value) when the batch holds the key (sending what is pending first), else (False, None).
        Raises the cache's error for a key that Redis was down to answer (callers that can do without catch
        CACHE_ERRORS)."""
        if key in self._wanted:
            self.count([])
        if key in self._values:
            return True, self._values[key]
        if key in self._unknown and self.unavailable is not None:
            raise self.unavailable
        return False, None

    def remember(self, key: str, value: str) -> None:
        """A value this request wrote itself (a generation it bumped): later reads see it."""
        self._values[key] = value
        if key in self._wanted:
            self._wanted.remove(key)


batch_scope: ContextVar[CacheBatch | None] = ContextVar("cache_batch", default=None)


def current_batch() -> CacheBatch | None:
    return batch_scope.get()


def batch_count(counters: Sequence[tuple[str, int]]) -> list[int]:
    """Counters incremented in the request's round trip (or one of their own outside a request)."""
    batch = batch_scope.get()
    if batch is None:
        return count_and_read(counters, [])[0]
    return batch.count(counters)


def batch_send_for(request: Any, view: Any, user: Any) -> None:
    """Send the request's round trip now, once: with the counters of every throttle of the view that can name
    them in advance (`counters(request, view, user)`) and every key wanted so far. Authentication calls this
    when it needs a value (token revocation) before DRF runs the throttles, so they cost no second trip."""
    batch = batch_scope.get()
    if batch is None or batch.sent:
        return
    counters: list[tuple[str, int]] = []
    for throttle in view.get_throttles() if view is not None else ():
        plan = getattr(throttle, "counters", None)
        if plan is not None:
            counters += plan(request, view, user)
    batch.count(counters)


def cache_set_raw(key: str, value: str, ttl: int | None) -> None:
    """Write a plain string that a batch can read back (no pickling), expiring after `ttl` seconds (None: never)."""
    if redis_enabled():
        redis_execute(("SET", redis_key(key), value, *(("EX", ttl) if ttl is not None else ())))
    else:
        cache.set(key, value, ttl)
