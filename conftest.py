"""Test set-up shared by every app: services detection, markers, API clients."""

import os

import pytest
from django.conf import settings

# The storage fixtures (`fs_storage`, `s3_storage`) of the datasets app, for every test.
pytest_plugins = ["datasets.tests.s3"]

USING_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
USING_REDIS = bool(os.environ.get("REDIS_URL"))
USING_BROKER = bool(os.environ.get("CELERY_BROKER_URL"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    requirements = {
        "postgres": (USING_POSTGRES, "needs DATABASE_URL=postgres://..."),
        "redis": (USING_REDIS, "needs REDIS_URL"),
        "celery_worker": (USING_BROKER, "needs CELERY_BROKER_URL for a real worker"),
    }
    for item in items:
        for marker, (available, reason) in requirements.items():
            if marker in item.keywords and not available:
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config: pytest.Config) -> None:
    # PBKDF2's cost is the point in production and pure waste in tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The datasets engine in the test's own process: hundreds of conversions would each start a process (0.4 s),
    # and tests replace engine functions. datasets/tests/engine/test_isolated.py runs it in its own process, as
    # workers do (and a real worker, in the PostgreSQL run, does for the tests that use one).
    settings.DATASETS_ENGINE_PROCESS = "inline"
    if not USING_BROKER:
        # No broker: run tasks inline in tests (the server starts a worker process beside itself instead).
        from incubator.celery import app

        app.conf.task_always_eager = True
        app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the default language: a request with `Accept-Language: en` leaves English active
    in the thread (LocaleMiddleware activates and never deactivates), which made later tests order-dependent."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _eager_tasks(request):
    """Tasks run inline (after their transaction commits), also when CELERY_BROKER_URL is set: a test's tasks
    would otherwise wait in the broker for a worker that is not there. Tests marked celery_worker use the
    broker and a real worker."""
    from incubator.celery import app

    if request.node.get_closest_marker("celery_worker"):
        # Said plainly, rather than as a real worker's tests timing out while their tasks run in this process.
        assert not app.conf.task_always_eager, "an earlier test of this process left Celery's tasks eager"
        yield
        return
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _datasets_storage(request):
    """No test writes into the repository's var/: dataset files go to a temporary directory, unless the test
    uses the moto S3 server (`s3_storage`)."""
    if "s3_storage" in request.fixturenames:
        yield None
    else:
        yield request.getfixturevalue("fs_storage")


@pytest.fixture
def rate_clock(monkeypatch):
    """The wall clock as rate limits see it, stopped half way through a minute and an hour. Their counters are
    fixed windows of that clock: a test whose requests straddled the end of a minute counted afresh in the
    new one and saw 200 where it expected 429 (CI met it). `rate_clock.now += 60` moves to the next window."""
    import time
    import types

    from incubator import batch, throttling

    started = time.time()
    clock = types.SimpleNamespace(now=started - started % 3600 + 1830, monotonic=time.monotonic)
    clock.time = lambda: clock.now
    monkeypatch.setattr(batch, "time", clock)
    monkeypatch.setattr(throttling, "time", clock)
    return clock


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def make_user(db):
    from accounts.tests.factories import UserFactory

    return UserFactory


@pytest.fixture
def user(make_user):
    return make_user()


@pytest.fixture
def auth_client(api_client):
    """auth_client(user) -> an APIClient sending that user's access token."""
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import RefreshToken

    def _client(user):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
        return client

    return _client
