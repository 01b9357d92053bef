"""Generation tokens: a value that changes whenever a family of rows changes, shared by every process.

Whatever is derived from those rows (a list's exact total, say) can be kept in the process under the current
token and stays exact: after a change anywhere, the next read sees a new token and recomputes. Tokens live in
Redis as plain strings (one GET, no pickling) when it is configured, else in Django's cache.
"""

import threading
import uuid
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from django.core.cache import cache
from django.db import transaction

from .cache import raw_redis


def generation_get(name: str) -> str:
    key = f"generation:{name}"
    redis = raw_redis()
    if redis is None:
        return str(cache.get_or_set(key, lambda: uuid.uuid4().hex, timeout=None))
    client, make_key = redis
    full_key = make_key(key)
    value = client.get(full_key)
    if value is None:
        client.set(full_key, uuid.uuid4().hex, nx=True)
        value = client.get(full_key)
    return value.decode() if isinstance(value, bytes) else str(value)


def _bump(name: str) -> None:
    key = f"generation:{name}"
    redis = raw_redis()
    if redis is None:
        cache.set(key, uuid.uuid4().hex, timeout=None)
    else:
        client, make_key = redis
        client.set(make_key(key), uuid.uuid4().hex)


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
