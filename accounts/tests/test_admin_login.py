"""Django admin's login shares the API login's lockout (accounts.backends.LockoutBackend)."""

import pytest
from django.test import Client

from accounts.tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def admin_login(client, username, password):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password})


def test_admin_login_is_locked_out_after_the_account_limit(make_user, settings, api_client):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    for _ in range(3):
        response = admin_login(client, staff.username, "wrong")
        assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated
    response = admin_login(client, staff.username, PASSWORD)  # the right password now waits too
    assert response.status_code == 200 and not response.wsgi_request.user.is_authenticated
    assert [error.code for error in response.context["form"].non_field_errors().as_data()] == ["locked_out"]
    # One counter for both doors: the API login is locked too.
    api = api_client.post("/api/v1/users/login", {"username": staff.username, "password": PASSWORD}, format="json")
    assert api.status_code == 429 and api.json()["error_code"] == "RATE_LIMITED"


def test_admin_login_works_and_resets_the_count(make_user, settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    staff = make_user(is_staff=True, is_superuser=True)
    client = Client()
    admin_login(client, staff.username, "wrong")
    admin_login(client, staff.username, "wrong")
    response = admin_login(client, staff.email, PASSWORD)  # email works at the admin's door too
    assert response.status_code == 302 and response["Location"] == "/admin/"
