"""Redis for the cache API, and one round trip per call on the hot paths (rate limits, generation tokens).

Django keeps cache backends in a context-local store, and every request here runs in a fresh context
(a2wsgi and Django's ASGI handler both copy one per request), so each request built a new RedisCache with
its own connection pool and opened a new TCP connection to Redis: a large share of a list request's CPU
under load (py-spy, bench/projects_list.py). Pools are thread-safe, so one per server and options is
enough. A new
redis.Redis per operation also rebuilt its response-callback table; one client per pool is kept too.

The commands every API request sends (its rate-limit counters, the generation tokens its list totals hang
on) go through `redis_execute` instead: one pipeline on a connection owned by the calling thread. Checking a
connection out of redis-py's pool polls its socket on every command, and a redis-py Pipeline costs more
Python than the round trip itself.
"""

import os
import threading
from typing import Any

import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient
from django.core.signals import setting_changed

from .metrics import redis_round_trip

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


# --- one round trip per call -------------------------------------------------------------------------------


class _Target:
    """Where the default cache's Redis is: a connection factory and the cache's key prefix."""

    def __init__(self, location: str, options: dict[str, Any], key_prefix: str, version: int) -> None:
        pool = redis.ConnectionPool.from_url(location, **options)
        self.connection_class = pool.connection_class
        self.connection_kwargs = pool.connection_kwargs
        # Django's default key function, so these keys are the ones cache.get()/cache.set() see.
        self.prefix = f"{key_prefix}:{version}:"


_target: _Target | None | bool = False  # False: not read from settings yet; None: the cache is not Redis
_local = threading.local()


def _current_target() -> _Target | None:
    global _target
    if _target is False:
        config = settings.CACHES["default"]
        if config["BACKEND"] == f"{__name__}.RedisCache":
            location = config["LOCATION"]
            _target = _Target(
                location[0] if isinstance(location, list | tuple) else location,
                dict(config.get("OPTIONS", {})),
                config.get("KEY_PREFIX", ""),
                config.get("VERSION", 1),
            )
        else:
            _target = None
    return _target  # type: ignore[return-value]


def _reset(*, setting: str, **kwargs: Any) -> None:
    global _target
    if setting == "CACHES":
        _target = False
        _local.__dict__.clear()


setting_changed.connect(_reset)


def redis_enabled() -> bool:
    return _current_target() is not None


def redis_key(key: str) -> str:
    """The full Redis key of a cache key (with the cache's prefix and version)."""
    target = _current_target()
    assert target is not None, "the default cache is not Redis"
    return target.prefix + key


def _connection(target: _Target) -> Any:
    conn = getattr(_local, "connection", None)
    # A forked child (Celery's prefork pool) must not share its parent's socket.
    if conn is None or _local.pid != os.getpid() or _local.target is not target:
        conn = target.connection_class(**target.connection_kwargs)
        _local.connection, _local.pid, _local.target = conn, os.getpid(), target
    return conn


def redis_execute(*commands: tuple[Any, ...]) -> list[Any]:
    """Sends the commands in one pipeline on this thread's own connection and returns their raw replies
    (bytes, int or None). A connection the server dropped while idle is reopened once; any other failure
    closes it and raises (redis.exceptions.ConnectionError / TimeoutError: the handler answers 503)."""
    target = _current_target()
    assert target is not None, "the default cache is not Redis"
    redis_round_trip()
    conn = _connection(target)
    for attempt in (1, 2):
        try:
            conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            return [conn.read_response() for _ in commands]
        except redis.exceptions.ConnectionError:
            conn.disconnect()
            if attempt == 2:
                raise
        except BaseException:
            # A reply left unread would be taken for the next command's: start afresh.
            conn.disconnect()
            raise
    raise AssertionError("unreachable")
