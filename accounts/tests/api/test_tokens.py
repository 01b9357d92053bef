"""Refresh, logout and access tokens under hostile input: forged claims, deleted users, reuse and races."""

import threading
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert body["status_code"] == status and body["error_code"] == code, body
    return body


def forged(token_class, **claims):
    """A token signed with the server's key whose claims we choose (as if the key had leaked to a test)."""
    token = token_class()
    token.payload.update(claims)
    return jwt.encode(token.payload, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="HS256")


def refresh(api_client, token):
    return api_client.post("/api/v1/users/token/refresh", {"refresh": token}, format="json")


def test_refresh_rotates_and_the_old_token_is_spent(api_client, user):
    first = str(RefreshToken.for_user(user))
    response = refresh(api_client, first)
    assert response.status_code == 200
    pair = response.json()
    assert set(pair) >= {"access", "refresh"} and pair["refresh"] != first
    assert_error(refresh(api_client, first), 401, "TOKEN_INVALID")
    assert refresh(api_client, pair["refresh"]).status_code == 200


def test_refresh_of_a_deleted_or_deactivated_user_is_refused(api_client):
    gone, inactive = UserFactory(), UserFactory()
    gone_token, inactive_token = str(RefreshToken.for_user(gone)), str(RefreshToken.for_user(inactive))
    gone.delete()
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    assert_error(refresh(api_client, gone_token), 401, "TOKEN_INVALID")
    assert_error(refresh(api_client, inactive_token), 401, "TOKEN_INVALID")


@pytest.mark.parametrize(
    "claims",
    [
        {"user_id": "abc"},
        {"user_id": "١٢"},
        {"user_id": "99999999999999999999999"},
        {"user_id": None},
        {"user_id": [1]},
        {"user_id": 2**70},
        {"exp": 10**30},
        {"exp": "tomorrow"},
        {"exp": -(10**30)},
        {"jti": None},
        {"jti": {"x": 1}},
        {"token_type": "access"},
    ],
    ids=str,
)
def test_refresh_with_forged_claims_is_a_401_never_a_500(api_client, user, claims):
    token = forged(RefreshToken, **{"user_id": user.id, **claims})
    assert_error(refresh(api_client, token), 401, "TOKEN_INVALID")
    assert_error(api_client.post("/api/v1/users/logout", {"refresh": token}, format="json"), 401, "TOKEN_INVALID")


@pytest.mark.parametrize(
    "claims",
    [{"user_id": "abc"}, {"user_id": 2**70}, {"exp": 10**30}, {"exp": "soon"}, {"token_type": "refresh"}],
    ids=str,
)
def test_access_with_forged_claims_is_a_401_never_a_500(api_client, user, claims):
    token = forged(AccessToken, **{"user_id": user.id, **claims})
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert_error(api_client.get("/api/v1/users/me"), 401, "TOKEN_INVALID")


def test_access_token_of_a_deleted_user_is_refused(api_client):
    gone = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(gone)}")
    gone.delete()
    response = api_client.get("/api/v1/users/me")
    assert response.status_code == 401 and response.json()["error_code"] in ("TOKEN_INVALID", "AUTHENTICATION_FAILED")


def test_an_expired_refresh_token_is_refused(api_client, user):
    token = RefreshToken.for_user(user)
    token.set_exp(from_time=timezone.now() - timedelta(days=30))
    assert_error(refresh(api_client, str(token)), 401, "TOKEN_INVALID")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_refreshes_of_one_token_give_exactly_one_new_pair(user):
    """Rotation is an atomic claim: of 20 clients refreshing the same token at once, one wins."""
    from rest_framework.test import APIClient

    token = str(RefreshToken.for_user(user))
    barrier = threading.Barrier(20)
    results = []

    def attempt():
        try:
            barrier.wait()
            response = APIClient().post("/api/v1/users/token/refresh", {"refresh": token}, format="json")
            results.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [body for status, body in results if status == 200]
    assert len(winners) == 1, [status for status, _ in results]
    assert all(body["error_code"] == "TOKEN_INVALID" for status, body in results if status != 200)
    # One login is one chain: the winner's new refresh token works, and it is the only live one.
    assert OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).count() == 1
