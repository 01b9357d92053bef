"""Every datasets test gets its own storage: a temporary directory unless it asks for `s3_storage`. Also the
people and project most tests start from, and an HTTP client for presigned URLs on the moto server."""

import httpx
import pytest

from accounts.tests.factories import UserFactory
from projects.tests.factories import make_project

pytest_plugins = ["datasets.tests.s3"]


@pytest.fixture(autouse=True)
def _datasets_storage(request):
    """No test writes into the repository's var/: the filesystem storage is a temporary directory, unless the
    test uses the moto S3 server."""
    if "s3_storage" in request.fixturenames:
        yield None
    else:
        yield request.getfixturevalue("fs_storage")


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def project(owner):
    return make_project(owner, name="城市空气", tags=["数据分析"])


@pytest.fixture
def owner_client(owner, auth_client):
    return auth_client(owner)


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """`with run_tasks():` runs what the block commits to do afterwards (conversion, profile, CSV export, file
    deletions), as the worker would after a real commit; tasks are eager in tests."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=30) as client:  # 127.0.0.1 only: no proxy from the environment
        yield client
