"""Every method on every route of the API (projects, accounts, datasets, training and models), for every kind
of caller: never a 5xx, always the contract's error body when it is an error."""

from datetime import timedelta

import pytest
from django.urls import get_resolver
from django.utils import timezone

from accounts.tests.factories import UserFactory
from aimodels.tests.factories import trained_houses
from analytics.services import export_create
from datasets.models import DatasetUpload
from datasets.tests.factories import make_dataset
from projects import services
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db

METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]


def _api_routes():
    """The route templates under /api/v1/, with their converters' names: 'projects/<int:project_id>/...'."""
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return sorted({route for route in found if route.startswith("api/v1/")})


@pytest.fixture
def world(auth_client):
    owner, member, outsider, admin = UserFactory(), UserFactory(), UserFactory(), UserFactory(is_staff=True)
    project = make_project(owner, name="全路由", tags=["机器学习"])
    services.member_add(project=project, actor=owner, user_id=member.id, role="member")
    application = services.application_submit(project=project, applicant=outsider, message="请让我加入")
    dataset = make_dataset(project, owner)
    upload = DatasetUpload.objects.create(
        dataset=dataset,
        file_name="d.csv",
        format="csv",
        content_type="text/csv",
        size=10,
        sha256="0" * 64,
        object_name="versions/x/original.csv",
        upload_id="u",
        part_size=10,
        part_count=1,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    model_version = trained_houses(project, owner)
    from schema_registry import services as registry
    from schema_registry.selectors import subject_get

    extra = registry.subject_update(
        subject=subject_get(name="project.extra"), actor=admin, data={"compatibility": "NONE"}
    )
    registry.schema_version_register(subject=extra, schema={"type": "object", "required": ["stage"]}, actor=admin)
    migration = registry.migration_create(subject=extra, from_number=1, to_number=2, plan=[], actor=admin, defer=True)
    ids = {
        "migration_id": migration.id,
        "job_id": model_version.job_id,
        "model_id": model_version.model_id,
        "project_id": project.id,
        "user_id": member.id,
        "application_id": application.id,
        "dataset_id": dataset.id,
        "number": 1,
        "upload_id": upload.id,
        "export_id": export_create(user=owner, report="projects", params={}, format="json").id,
    }
    callers = {"anonymous": None, "owner": owner, "member": member, "outsider": outsider, "admin": admin}
    return ids, {name: auth_client(user) if user else None for name, user in callers.items()}


def test_no_method_on_any_route_answers_5xx(world, api_client):
    ids, clients = world
    routes = _api_routes()
    assert any("applications/<int:application_id>/approve" in route for route in routes)
    failures = []
    # Method by method, DELETE last: every route is tried on live objects before the deletes remove them.
    for method in METHODS:
        for route in routes:
            path = "/" + route
            for name, value in ids.items():
                path = path.replace(f"<int:{name}>", str(value))
            path = path.replace("<str:subject>", "project.extra").replace("<uuid:export_id>", str(ids["export_id"]))
            assert "<" not in path, path
            for caller, client in clients.items():
                client = client or api_client
                response = client.generic(method, path, data="{}", content_type="application/json")
                if response.status_code >= 500:
                    failures.append((method, path, caller, response.status_code))
                elif response.status_code >= 400 and method != "HEAD":
                    body = response.json()
                    assert body["status_code"] == response.status_code, (method, path, caller, body)
    assert failures == []


def test_options_describes_a_project_to_its_owner(world):
    ids, clients = world
    response = clients["owner"].options(f"/api/v1/projects/{ids['project_id']}")
    assert response.status_code == 200
    body = response.json()
    assert set(body["actions"]) == {"PUT"}
    # An outsider may not write: the same request describes no writable fields.
    assert "actions" not in clients["outsider"].options(f"/api/v1/projects/{ids['project_id']}").json()


def test_options_describes_what_a_client_sends_not_what_it_gets_back(world):
    ids, clients = world
    fields = clients["owner"].options(f"/api/v1/projects/{ids['project_id']}").json()["actions"]["PUT"]
    assert set(fields) == {"name", "description", "video_url", "status", "visibility", "tags", "extra"}
    assert fields["name"]["required"] is True and fields["description"]["required"] is False
