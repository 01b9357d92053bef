"""Generation tokens: a value that changes whenever a family of rows changes, shared by every process.

Whatever is derived from those rows (a list's exact total, say) can be kept in the process under the current
token and stays exact: after a change anywhere, the next read sees a new token and recomputes. Tokens live in
Redis as plain strings when it is configured, else in Django's cache. Inside a request, a token the request's
cache batch already holds (incubator.batch: a view's `generations` travel with the rate-limit counters) costs
no round trip of its own.
"""

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.core.cache import cache
from django.db import transaction

from .batch import CACHE_ERRORS, batch_scope
from .cache import redis_enabled, redis_execute, redis_key

logger = logging.getLogger(__name__)

# The family analytics answers hang on: every outbox event that changes what a figure counts bumps it
# (incubator.events.services), and so does a registration, which records no event.
ANALYTICS_GENERATION = "analytics"


def generation_key(name: str) -> str:
    return f"generation:{name}"


def generation_get(name: str) -> str:
    """The current token of `name`: from the request's cache batch when it holds it, else read (or created)."""
    key = generation_key(name)
    batch = batch_scope.get()
    try:
        if batch is not None:
            found, value = batch.read(key)
            if found and value:
                return value
        if not redis_enabled():
            token = str(cache.get_or_set(key, lambda: uuid.uuid4().hex, timeout=None))
        else:
            full_key = redis_key(key)
            # SET NX then GET: whoever comes first after a flush creates the token, everyone reads the same one.
            _, value = redis_execute(("SET", full_key, uuid.uuid4().hex, "NX"), ("GET", full_key))
            token = value.decode()
    except CACHE_ERRORS:
        # Redis is down: a token nobody else has, so what is derived from the rows is derived again (a list's
        # total counted), never taken from before the outage.
        return uuid.uuid4().hex
    if batch is not None:
        batch.remember(key, token)
    return token


def _bump(name: str) -> None:
    key, token = generation_key(name), uuid.uuid4().hex
    if redis_enabled():
        redis_execute(("SET", redis_key(key), token))
    else:
        cache.set(key, token, timeout=None)
    batch = batch_scope.get()
    if batch is not None:
        batch.remember(key, token)


def generation_bump(name: str) -> None:
    """Now, for reads inside the current transaction, and again after commit: a concurrent reader may have
    derived values from the old rows under the first new token before this transaction became visible.

    The first bump failing (the cache is down) fails the write, which is rolled back: the client sees a 503
    and may retry. The second runs after the commit, when nothing may turn a success into an error: a failure
    is logged, and what it leaves possibly stale is bounded by the memo's lifetime (incubator.totals)."""
    _bump(name)
    transaction.on_commit(lambda: _bump_after_commit(name))


def generation_bump_after_commit(name: str) -> None:
    """Only after commit, and never failing the write: for derived values that are allowed a short staleness
    (analytics answers, kept for seconds anyway). A reader keys what it computes by the token it read first, so
    nothing computed from the old rows is ever stored under the new token."""
    transaction.on_commit(lambda: _bump_after_commit(name))


def _bump_after_commit(name: str) -> None:
    try:
        _bump(name)
    except Exception:  # noqa: BLE001 - the write is committed: never fail its response now
        logger.warning("generation %s not bumped after commit", name, exc_info=True)


class LocalMemo:
    """A small thread-safe LRU map in this process, for values keyed by (something, generation token). With
    `max_age` (seconds), an entry older than that is treated as missing."""

    def __init__(self, size: int = 2048, max_age: float | None = None) -> None:
        self.size = size
        self.max_age = max_age
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._data.get(key)
            if entry is None:
                return None
            value, expires = entry
            if expires is not None and expires < time.monotonic():
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def set(self, key: Hashable, value: Any) -> None:
        expires = time.monotonic() + self.max_age if self.max_age is not None else None
        with self._lock:
            self._data[key] = (value, expires)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
