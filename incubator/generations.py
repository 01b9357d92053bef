"""Generation tokens: a value that changes whenever a family of rows changes, shared by every process.

Whatever is derived from those rows (a list's exact total, say) can be kept in the process under the current
token and stays exact: after a change anywhere, the next read sees a new token and recomputes. Tokens live in
Redis as plain strings when it is configured, else in Django's cache. A view that declares `generations`
gets its tokens read in the same round trip as its rate limits (incubator.throttling), so a warm list total
costs no extra request to Redis.
"""

import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from typing import Any

from django.core.cache import cache
from django.db import transaction

from .cache import redis_enabled, redis_execute, redis_key


def generation_key(name: str) -> str:
    return f"generation:{name}"


def generation_get(name: str, known: Mapping[str, str] | None = None) -> str:
    """The current token of `name`; `known` holds tokens already read for this request."""
    if known and (token := known.get(name)):
        return token
    key = generation_key(name)
    if not redis_enabled():
        return str(cache.get_or_set(key, lambda: uuid.uuid4().hex, timeout=None))
    full_key = redis_key(key)
    # SET NX then GET: whoever comes first after a flush creates the token, everyone reads the same one.
    _, value = redis_execute(("SET", full_key, uuid.uuid4().hex, "NX"), ("GET", full_key))
    return value.decode()


def _bump(name: str) -> None:
    key = generation_key(name)
    if redis_enabled():
        redis_execute(("SET", redis_key(key), uuid.uuid4().hex))
    else:
        cache.set(key, uuid.uuid4().hex, timeout=None)


def generation_bump(name: str) -> None:
    """Now, for reads inside the current transaction, and again after commit: a concurrent reader may have
    derived values from the old rows under the first new token before this transaction became visible."""
    _bump(name)
    transaction.on_commit(lambda: _bump(name))


class LocalMemo:
    """A small thread-safe LRU map in this process, for values keyed by (something, generation token)."""

    def __init__(self, size: int = 2048) -> None:
        self.size = size
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def set(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
