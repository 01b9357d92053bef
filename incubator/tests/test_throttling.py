"""Rate limits: anonymous, per user and per view scope, in the error format, with one round trip to Redis."""

import pytest

from incubator import throttling
from incubator.tests.test_errors import assert_error

pytestmark = [pytest.mark.django_db, pytest.mark.urls("incubator.tests.urls"), pytest.mark.usefixtures("rate_clock")]


@pytest.fixture
def rates(settings):
    def _set(**overrides):
        current = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
        settings.REST_FRAMEWORK = {
            **settings.REST_FRAMEWORK,
            "DEFAULT_THROTTLE_RATES": {**current, **overrides},
        }

    return _set


def test_anonymous_limit_is_429_with_retry_after(api_client, rates):
    rates(anon="2/min")
    for _ in range(2):
        assert api_client.get("/api/v1/test/users").status_code == 200
    response = api_client.get("/api/v1/test/users")
    body = assert_error(response, 429, "RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert body["details"]["retry_after"] == int(response["Retry-After"])


def test_a_new_window_counts_afresh(api_client, rates, rate_clock):
    rates(anon="1/min")
    assert api_client.get("/api/v1/test/users").status_code == 200
    rate_clock.now += 29  # the last second of the window
    body = assert_error(api_client.get("/api/v1/test/users"), 429, "RATE_LIMITED")
    assert body["details"]["retry_after"] == 1
    rate_clock.now += 1
    assert api_client.get("/api/v1/test/users").status_code == 200


def test_anonymous_callers_are_counted_by_address(api_client, rates):
    rates(anon="1/min")
    assert api_client.get("/api/v1/test/users", REMOTE_ADDR="10.0.0.1").status_code == 200
    assert api_client.get("/api/v1/test/users", REMOTE_ADDR="10.0.0.1").status_code == 429
    assert api_client.get("/api/v1/test/users", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_users_are_limited_per_account_not_by_the_anonymous_rate(auth_client, make_user, rates):
    rates(anon="1/min", user="2/min")
    first, second = auth_client(make_user()), auth_client(make_user())
    assert [first.get("/api/v1/test/users").status_code for _ in range(3)] == [200, 200, 429]
    assert second.get("/api/v1/test/users").status_code == 200


def test_view_scope_adds_its_own_limit(api_client, rates):
    rates(register="2/hour")
    statuses = [
        api_client.post(
            "/api/v1/users/register",
            {"email": f"u{i}@example.com", "username": f"user{i}", "password": "Long-enough-9"},
            format="json",
        ).status_code
        for i in range(3)
    ]
    assert statuses == [201, 201, 429]
    assert api_client.get("/api/v1/test/users").status_code == 200  # the anonymous limit is not spent


def test_a_limit_of_none_is_no_limit(api_client, rates):
    rates(anon=None)
    assert all(api_client.get("/api/v1/test/users").status_code == 200 for _ in range(5))


@pytest.mark.parametrize("rate", ["2", "x/min", "2/fortnight"])
def test_a_malformed_rate_is_a_configuration_error(rate):
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured):
        throttling.parse_rate(rate)


@pytest.fixture
def redis_down(settings):
    """The cache pointed at a port nothing listens on; the process's memory of the outage is forgotten after."""
    from incubator import batch

    def down():
        settings.CACHES = {
            "default": {
                "BACKEND": "incubator.cache.RedisCache",
                "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
                "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            }
        }

    yield down
    batch._down_until = 0.0
    batch._fallback_counters.clear()


def test_with_redis_down_anonymous_reads_work_and_count_the_list_again(api_client, redis_down, make_user):
    from projects.tests.factories import make_project

    owner = make_user()
    make_project(owner, name="公开项目", visibility="public")
    make_project(owner, name="另一个", visibility="public")
    redis_down()
    for _ in range(2):  # the second within the breaker's second: Redis is not even asked
        response = api_client.get("/api/v1/projects")
        assert response.status_code == 200, response.content
        assert response.json()["pagination"]["total"] == 2


def test_with_redis_down_a_logged_in_request_is_503_naming_the_cache(api_client, redis_down, make_user):
    """Whether the session was logged out is known to Redis alone: fail closed, never serve a revoked token."""
    from accounts.tokens import token_pair_for

    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(make_user()).access_token}")
    redis_down()
    body = assert_error(api_client.get("/api/v1/projects"), 503, "SERVICE_UNAVAILABLE")
    assert body["details"]["unavailable"] == ["cache"]


def test_with_redis_down_rate_limits_still_hold_in_the_process(api_client, redis_down, rates):
    rates(anon="2/min")
    redis_down()
    for _ in range(2):
        assert api_client.get("/api/v1/test/users").status_code == 200
    assert_error(api_client.get("/api/v1/test/users"), 429, "RATE_LIMITED")


@pytest.mark.redis
def test_a_list_request_makes_one_round_trip_to_redis(api_client, monkeypatch):
    """Rate-limit counters and the list's generation token travel together (incubator.batch)."""
    from incubator import cache as redis_cache

    calls = []
    real = redis_cache.redis_execute

    def counting(*commands):
        calls.append(commands)
        return real(*commands)

    monkeypatch.setattr("incubator.batch.redis_execute", counting)
    monkeypatch.setattr("incubator.generations.redis_execute", counting)
    api_client.get("/api/v1/projects")  # creates the token
    calls.clear()
    response = api_client.get("/api/v1/projects?page_size=5")
    assert response.status_code == 200
    assert len(calls) == 1
    assert [command[0] for command in calls[0]] == ["INCR", "EXPIRE", "GET"]
    # A view that declares no list reads no token: its round trip carries the counters alone.
    calls.clear()
    assert api_client.get("/api/v1/health/ready").status_code in (200, 503)
    calls.clear()
    assert api_client.get("/api/v1/tags").status_code == 200
    assert [[command[0] for command in call] for call in calls] == [["INCR", "EXPIRE"]]


@pytest.mark.redis
def test_a_list_total_read_outside_a_request_makes_its_own_round_trip(db, make_user, monkeypatch):
    """A task or command that counts a list has no request batch: the token is read on its own, and the
    total is still exact after a write."""
    from projects import selectors, services

    owner = make_user()
    services.project_create(owner=owner, data={"name": "外部读取"})
    queryset = selectors.project_list(user=None, filters={})
    assert selectors.project_list_total(queryset, user=None, filters={}) == 1
    services.project_create(owner=owner, data={"name": "second"})
    assert selectors.project_list_total(selectors.project_list(user=None, filters={}), user=None, filters={}) == 2
