"""What a careless or malicious client sends gets a contract error, never a 500, and changes nothing."""

import pytest

from projects.models import Project
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db


def assert_client_error(response, status_code=400):
    assert response.status_code == status_code, response.content
    assert response.json()["status_code"] == status_code


def test_deeply_nested_json_is_a_parse_error(auth_client, user):
    body = "[" * 100_000 + "]" * 100_000
    response = auth_client(user).generic("POST", "/api/v1/projects", body, content_type="application/json")
    assert_client_error(response)
    assert response.json()["error_code"] == "PARSE_ERROR"


def test_json_that_is_not_an_object(auth_client, user):
    for body in ('"just a string"', "[1, 2]", "null", "42"):
        response = auth_client(user).generic("POST", "/api/v1/projects", body, content_type="application/json")
        assert_client_error(response)


def test_nul_characters_are_refused(auth_client, user, api_client):
    assert_client_error(auth_client(user).post("/api/v1/projects", {"name": "a\x00b"}, format="json"))
    assert_client_error(auth_client(user).post("/api/v1/projects", {"name": "ok", "tags": ["a\x00"]}, format="json"))
    assert_client_error(api_client.get("/api/v1/projects", {"search": "a\x00b"}))
    assert_client_error(api_client.get("/api/v1/projects", {"tags": "a\x00b"}))
    assert_client_error(api_client.post("/api/v1/users/login", {"username": "a\x00", "password": "x"}, format="json"))
    assert not Project.objects.exists()


def test_a_nul_anywhere_in_a_json_body_is_refused_naming_where(
    auth_client, user, fs_storage, django_capture_on_commit_callbacks
):
    """Free-form JSON (a pipeline's steps, a document, metadata) reached PostgreSQL with its NUL: a 500."""
    from datasets.tests.factories import make_dataset

    project = make_project(user)
    with django_capture_on_commit_callbacks(execute=True):
        dataset = make_dataset(project, user, content=b"a,b\n1,2\n", profile=False)
    client = auth_client(user)
    url = f"/api/v1/datasets/{dataset.id}/versions/1/preprocess"
    for pipeline, field in (
        ([{"type": "rename", "mapping": {"a": "x\x00y"}}], "pipeline.0.mapping.a"),
        ([{"type": "filter", "column": "a", "op": "eq", "value": "x\x00"}], "pipeline.0.value"),
        ([{"type": "rename", "mapping": {"a\x00": "x"}}], "pipeline.0.mapping.a\\u0000"),
    ):
        response = client.post(url, {"pipeline": pipeline}, format="json", HTTP_ACCEPT_LANGUAGE="en")
        assert_client_error(response)
        body = response.json()
        assert body["error_code"] == "INVALID_INPUT" and body["details"]["field"] == field, body
        assert body["details"]["message"] == "Null characters are not allowed."
    # Text that spells a backslash and u0000 is text: nothing refused for it.
    response = client.post(url, {"pipeline": [{"type": "rename", "mapping": {"a": "x\\u0000"}}]}, format="json")
    assert response.status_code == 201, response.content
    assert dataset.versions.count() == 2  # the refused ones made no version


@pytest.mark.parametrize("big", [2**63, 10**30])
def test_out_of_range_ids_are_404_or_400(auth_client, user, api_client, big):
    project = make_project(user)
    assert api_client.get(f"/api/v1/projects/{big}").status_code == 404
    response = auth_client(user).post(f"/api/v1/projects/{project.id}/members", {"user_id": big}, format="json")
    assert response.status_code == 400
    assert api_client.get("/api/v1/projects", {"owner": big}).status_code == 400


def test_huge_page_number_is_404(api_client, user):
    make_project(user)
    assert api_client.get("/api/v1/projects", {"page": 10**18}).status_code == 404


def test_overlong_search_is_400(api_client):
    assert_client_error(api_client.get("/api/v1/projects", {"search": "x" * 101}))


@pytest.mark.django_db
@pytest.mark.parametrize("text", ['"\\ud800"', '"a\\udc00b"', '"\\ud83d"'])
def test_a_lone_surrogate_escape_is_400_and_a_pair_is_text(api_client, text):
    """Valid JSON, but no character: PostgreSQL, UTF-8 files and the idempotency fingerprint cannot encode it
    (a 500 behind an Idempotency-Key, found by the fuzzing gate)."""
    body = '{"email": "a@example.com", "username": "u1", "password": "Zhong-Guo-2026!", "display_name": ' + text + "}"
    response = api_client.post("/api/v1/users/register", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error_code"] == "PARSE_ERROR", response.content
    paired = body.replace(text, '"\\ud83d\\ude0b"')  # an escaped emoji is a character
    response = api_client.post("/api/v1/users/register", paired, content_type="application/json")
    assert response.status_code == 201 and response.json()["display_name"] == "😋", response.content
