"""Database: DATABASE_URL, or a SQLite file by default; PostgreSQL always goes through a bounded pool."""

import os

import dj_database_url

from .base import BASE_DIR
from .env import env_bool, env_int, env_str

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'var' / 'db.sqlite3'}"

_default = dj_database_url.parse(DATABASE_URL, conn_max_age=0)
if _default["ENGINE"] == "django.db.backends.postgresql":
    # Persistent connections leak under ASGI (each request thread keeps its own); a pool bounded per process
    # keeps the total under PostgreSQL's max_connections: processes x DB_POOL_MAX_SIZE.
    _default["OPTIONS"] = {
        "pool": {
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            "max_size": env_int("DB_POOL_MAX_SIZE", 10),
            "timeout": env_int("DB_POOL_TIMEOUT", 5),
        },
        "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 3),
        # No JIT: a web request's statements are short, and PostgreSQL compiled the analytics ones for 30-110 ms
        # each once their estimated cost passed jit_above_cost, more than it saved (bench/analytics.py).
        "options": env_str("DB_OPTIONS") or "-c jit=off",
    }
    _default["CONN_MAX_AGE"] = 0
    _default["CONN_HEALTH_CHECKS"] = False
    # Behind PgBouncer in transaction mode a server-side cursor (QuerySet.iterator()) may outlive its
    # transaction's server connection: DB_DISABLE_SERVER_SIDE_CURSORS=1 there (docs/deploy.md).
    _default["DISABLE_SERVER_SIDE_CURSORS"] = env_bool("DB_DISABLE_SERVER_SIDE_CURSORS", False)
elif _default["ENGINE"] == "django.db.backends.sqlite3":
    _default["OPTIONS"] = {
        # IMMEDIATE takes the write lock at BEGIN, so concurrent writers wait instead of failing mid-transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not :memory:, so a live server started by a test can open the same test database. One per test
    # run (the first process that reads the settings names it; xdist workers and live servers inherit it), so
    # two runs in one checkout never share a file.
    _test_name = os.environ.setdefault("SQLITE_TEST_DB", str(BASE_DIR / "var" / f"test-db-{os.getpid()}.sqlite3"))
    _default["TEST"] = {"NAME": _test_name}

DATABASES = {"default": _default}

# An index's INCLUDE columns (aimodels' job_duration, for analytics) exist on PostgreSQL only; on the embedded
# SQLite the index is simply built without them, which is correct, so the warning would only be noise.
SILENCED_SYSTEM_CHECKS = ["models.W040"] if _default["ENGINE"] == "django.db.backends.sqlite3" else []
