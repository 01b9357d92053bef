"""Redis cache backend that shares its connection pools and clients across the whole process.

Django keeps cache backends in a context-local store, and every request here runs in a fresh context
(a2wsgi and Django's ASGI handler both copy one per request), so each request built a new RedisCache with
its own connection pool and opened a new TCP connection to Redis: 31% of a list request's CPU under load
(py-spy, bench/projects_list.py). Pools are thread-safe, so one per server and options is enough. A new
redis.Redis per operation also rebuilt its response-callback table; one client per pool is kept too.
"""

import threading
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

_lock = threading.Lock()
_shared: dict[tuple, tuple[Any, Any]] = {}  # (server, options) -> (pool, client)


class _SharedPoolClient(RedisCacheClient):
    def _shared(self, write: bool) -> tuple[Any, Any]:
        server = self._servers[self._get_connection_pool_index(write)]
        key = (server, tuple(sorted((k, repr(v)) for k, v in self._pool_options.items())))
        found = _shared.get(key)
        if found is None:
            with _lock:
                found = _shared.get(key)
                if found is None:
                    pool = self._pool_class.from_url(server, **self._pool_options)
                    found = _shared[key] = (pool, self._client(connection_pool=pool))
        return found

    def _get_connection_pool(self, write: bool) -> Any:
        return self._shared(write)[0]

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return self._shared(write)[1]


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _SharedPoolClient


def raw_redis() -> tuple[Any, Callable[[str], str]] | None:
    """The default cache's redis.Redis client and its key maker, for commands Django's API lacks (INCR with
    EXPIRE NX, plain strings); None when the cache is not Redis."""
    from django.core.cache import caches

    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend._cache.get_client(write=True), backend.make_and_validate_key
    return None
