"""People, a project and a ready dataset version for the aimodels tests; an empty model cache per test."""

import pytest

from accounts.tests.factories import UserFactory
from aimodels import inference
from projects.tests.factories import make_project

from .factories import ready_version


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    inference.models_forget()
    yield
    inference.models_forget()


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def project(owner):
    return make_project(owner, name="智能客服", tags=["机器学习"])


@pytest.fixture
def version(project, owner):
    return ready_version(project, owner)


@pytest.fixture
def owner_client(owner, auth_client):
    return auth_client(owner)
