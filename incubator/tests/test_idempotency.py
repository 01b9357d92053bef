"""Idempotency-Key on creating POSTs: a retry with the same key and body returns the first answer, creates
nothing, and races resolve to one create."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import UserFactory
from incubator.idempotency.models import IdempotentRequest
from projects.models import Application, Membership, Project
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db


def create(client, key, body=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post("/api/v1/projects", body or {"name": "幂等项目", "tags": ["深度学习"]}, format="json", **headers)


def test_a_retry_with_the_same_key_and_body_returns_the_first_answer(auth_client):
    client = auth_client(UserFactory())
    first = create(client, "7c6f0a4e-retry")
    again = create(client, "7c6f0a4e-retry")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Project.objects.filter(name="幂等项目").count() == 1


def test_without_a_key_every_post_creates(auth_client):
    client = auth_client(UserFactory())
    create(client, None)
    create(client, None)
    assert Project.objects.filter(name="幂等项目").count() == 2


def test_the_same_key_with_another_body_is_a_409(auth_client):
    client = auth_client(UserFactory())
    create(client, "k-1")
    response = create(client, "k-1", {"name": "另一个项目"})
    assert response.status_code == 409 and response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert not Project.objects.filter(name="另一个项目").exists()


def test_keys_belong_to_their_caller(auth_client):
    first, second = auth_client(UserFactory()), auth_client(UserFactory())
    assert create(first, "shared").json()["owner"]["id"] != create(second, "shared").json()["owner"]["id"]
    assert Project.objects.filter(name="幂等项目").count() == 2


def test_errors_are_not_remembered(auth_client):
    client = auth_client(UserFactory())
    refused = create(client, "k-2", {"name": ""})
    assert refused.status_code == 400 and refused.json()["error_code"] == "INVALID_INPUT"
    assert not IdempotentRequest.objects.exists()
    assert create(client, "k-2").status_code == 201


@pytest.mark.parametrize("key", ["", "with space", "x" * 256, "中文"])
def test_a_malformed_key_is_a_400(auth_client, key):
    response = create(auth_client(UserFactory()), key)
    assert response.status_code == 400 and response.json()["details"]["field"] == "Idempotency-Key"
    assert not Project.objects.exists()


def test_a_key_expires_after_a_day(auth_client):
    client = auth_client(UserFactory())
    create(client, "k-3")
    IdempotentRequest.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert "Idempotent-Replayed" not in create(client, "k-3")
    assert Project.objects.filter(name="幂等项目").count() == 2


def test_registration_member_add_and_applications_are_idempotent(api_client, auth_client):
    body = {"email": "retry@example.com", "username": "retry", "password": "Zhong-Guo-2026!"}
    first = api_client.post("/api/v1/users/register", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    again = api_client.post("/api/v1/users/register", body, format="json", HTTP_IDEMPOTENCY_KEY="reg-1")
    assert first.status_code == again.status_code == 201 and again.content == first.content

    owner, newcomer, applicant = UserFactory(), UserFactory(), UserFactory()
    project = make_project(owner)
    for _ in range(2):
        response = auth_client(owner).post(
            f"/api/v1/projects/{project.id}/members", {"user_id": newcomer.id}, format="json", HTTP_IDEMPOTENCY_KEY="m"
        )
        assert response.status_code == 201
    assert Membership.objects.filter(project=project, user=newcomer).count() == 1
    for _ in range(2):
        response = auth_client(applicant).post(
            f"/api/v1/projects/{project.id}/applications", {"message": "你好"}, format="json", HTTP_IDEMPOTENCY_KEY="a"
        )
        assert response.status_code == 201
    assert Application.objects.filter(project=project, applicant=applicant).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_retries_with_one_key_create_once():
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    user = UserFactory()
    token = str(AccessToken.for_user(user))
    barrier, answers = threading.Barrier(10), []

    def attempt():
        try:
            client = APIClient()
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            response = create(client, "race-key")
            answers.append((response.status_code, response.json()["id"]))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in answers} == {201} and len({pk for _, pk in answers}) == 1
    assert Project.objects.filter(name="幂等项目").count() == 1


def test_the_openapi_document_offers_the_header_on_every_creating_post():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    offered = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if any(parameter["name"] == "Idempotency-Key" for parameter in operation.get("parameters", []))
    }
    assert offered == {
        ("post", "/api/v1/projects"),
        ("post", "/api/v1/projects/{project_id}/members"),
        ("post", "/api/v1/projects/{project_id}/applications"),
        ("post", "/api/v1/users/register"),
        ("post", "/api/v1/datasets"),
        ("post", "/api/v1/datasets/{dataset_id}/versions"),
        ("post", "/api/v1/datasets/{dataset_id}/versions/{number}/preprocess"),
        ("post", "/api/v1/datasets/{dataset_id}/uploads"),
        ("post", "/api/v1/jobs"),
        ("post", "/api/v1/jobs/{job_id}/retry"),
        ("post", "/api/v1/models"),
        ("post", "/api/v1/schemas/{subject}/versions"),
        ("post", "/api/v1/schema-migrations"),
        ("post", "/api/v1/analytics/exports"),
    }


def test_a_body_the_serializer_refuses_is_a_400_with_a_key_too(auth_client):
    """Integers past 64 bits: the fingerprint must not fail before the serializer says what is wrong."""
    owner = UserFactory()
    project = make_project(owner)
    response = auth_client(owner).post(
        f"/api/v1/projects/{project.id}/members",
        {"user_id": 1632237879471937563918336, "role": "member"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="big-int",
    )
    assert response.status_code == 400 and response.json()["details"]["field"] == "user_id"
