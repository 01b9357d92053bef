"""Access tokens stop working at logout (that session) and at a password change (every session), checked in
the request's one round trip to the cache."""

import pytest

from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def login(api_client, user):
    response = api_client.post("/api/v1/users/login", {"username": user.username, "password": PASSWORD}, format="json")
    assert response.status_code == 200
    return response.json()


def me(api_client, access):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    response = api_client.get("/api/v1/users/me")
    api_client.credentials()
    return response


def test_logout_revokes_that_sessions_access_tokens_only(api_client, user):
    phone, laptop = login(api_client, user), login(api_client, user)
    assert me(api_client, phone["access"]).status_code == 200
    assert api_client.post("/api/v1/users/logout", {"refresh": phone["refresh"]}, format="json").status_code == 204
    response = me(api_client, phone["access"])
    assert response.status_code == 401 and response.json()["error_code"] == "TOKEN_INVALID"
    assert me(api_client, laptop["access"]).status_code == 200


def test_a_rotated_session_is_still_one_session(api_client, user):
    """Access tokens made after a refresh belong to the login's session: logging out ends them too."""
    first = login(api_client, user)
    rotated = api_client.post("/api/v1/users/token/refresh", {"refresh": first["refresh"]}, format="json").json()
    assert me(api_client, rotated["access"]).status_code == 200
    api_client.post("/api/v1/users/logout", {"refresh": rotated["refresh"]}, format="json")
    assert me(api_client, first["access"]).json()["error_code"] == "TOKEN_INVALID"
    assert me(api_client, rotated["access"]).json()["error_code"] == "TOKEN_INVALID"


def test_password_change_revokes_every_access_token(api_client, user):
    phone, laptop = login(api_client, user), login(api_client, user)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {phone['access']}")
    changed = api_client.post(
        "/api/v1/users/me/password",
        {"current_password": PASSWORD, "new_password": "Another-Long-Pass-2026"},
        format="json",
    )
    api_client.credentials()
    assert changed.status_code == 204, changed.content
    for session in (phone, laptop):
        response = me(api_client, session["access"])
        assert response.status_code == 401 and response.json()["error_code"] == "TOKEN_INVALID"
    again = api_client.post(
        "/api/v1/users/login", {"username": user.username, "password": "Another-Long-Pass-2026"}, format="json"
    )
    assert me(api_client, again.json()["access"]).status_code == 200


@pytest.mark.redis
def test_an_authenticated_list_request_still_makes_one_round_trip(api_client, user, monkeypatch):
    from incubator import cache as redis_cache

    session = login(api_client, user)
    calls = []
    real = redis_cache.redis_execute

    def counting(*commands):
        calls.append([command[0] for command in commands])
        return real(*commands)

    monkeypatch.setattr("incubator.batch.redis_execute", counting)
    monkeypatch.setattr("incubator.generations.redis_execute", counting)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {session['access']}")
    api_client.get("/api/v1/projects")  # creates the list's token
    calls.clear()
    assert api_client.get("/api/v1/projects").status_code == 200
    # Rate limit, the session's mark, the key that says the marks are intact, the list's token.
    assert calls == [["INCR", "EXPIRE", "GET", "GET", "GET"]]
    calls.clear()
    assert api_client.get("/api/v1/users/me").status_code == 200
    assert calls == [["INCR", "EXPIRE", "GET", "GET"]]
