"""People, a project and a ready dataset version for the aimodels tests; an empty model cache per test."""

import pytest
from django.db import transaction

from accounts.tests.factories import UserFactory
from aimodels import inference, services
from aimodels.models import ProjectJobCounts
from projects.tests.factories import make_project

from .factories import ready_version


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    inference.models_forget()
    yield
    inference.models_forget()


def job_counts_disagree() -> dict[int, tuple[dict[str, int], dict[str, int]]]:
    """{project id: (stored counts, counts from its jobs)} for every project whose ProjectJobCounts row is not
    what its jobs say (a missing row counts as zeros)."""
    names = ("queued", "running", "succeeded", "failed", "cancelled", "timed")
    stored = {row["project_id"]: row for row in ProjectJobCounts.objects.values("project_id", *names)}
    with transaction.atomic():  # the recount's rows are not kept
        services.job_counts_rebuild()
        direct = {row["project_id"]: row for row in ProjectJobCounts.objects.values("project_id", *names)}
        transaction.set_rollback(True)
    zeros = dict.fromkeys(names, 0)
    out = {}
    for project_id in stored.keys() | direct.keys():
        a = {name: stored.get(project_id, zeros)[name] for name in names}
        b = {name: direct.get(project_id, zeros)[name] for name in names}
        if a != b:
            out[project_id] = (a, b)
    return out


@pytest.fixture(autouse=True)
def _job_counts_agree(request):
    """After every test of the database: each project's job counts are what its jobs say (the services keep them
    as jobs move; a test that writes a job's status by hand counts them again, as a repair would)."""
    yield
    if request.node.get_closest_marker("django_db") is None:
        return  # pytest-django's database may already be gone at this point
    assert job_counts_disagree() == {}


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
