"""Typed readers for environment variables: the only way settings read configuration."""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


# Redis addresses a parallel test run (pytest-xdist) gives each of its workers a database of its own: a test that
# flushes the cache or a real Celery worker taking tasks from the broker would otherwise meet the other worker's.
_PER_TEST_WORKER = frozenset({"REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"})


def _test_worker_url(value: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    scheme, _, rest = value.partition("://")
    host, slash, db = rest.rpartition("/")
    if not index or not scheme.startswith("redis") or not slash or not db.isdigit():
        return value
    return f"{scheme}://{host}/{(int(db) - 8 * index) % 16}"


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value and name in _PER_TEST_WORKER:
        value = _test_worker_url(value)
    return default if value is None or value == "" else value


def env_required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise ImproperlyConfigured(f"The environment variable {name} is required in production.")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}.") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]
