"""Callers of the schema registry's API tests: a platform admin, an ordinary user."""

import pytest

from accounts.tests.factories import UserFactory


@pytest.fixture
def admin():
    return UserFactory(is_staff=True)


@pytest.fixture
def admin_client(admin, auth_client):
    return auth_client(admin)


@pytest.fixture
def user_client(auth_client):
    return auth_client(UserFactory())
