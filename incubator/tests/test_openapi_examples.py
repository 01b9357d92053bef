"""Every request example of the OpenAPI document works: Swagger UI pre-fills a body from the first example, and a
developer who presses Execute against the sandbox must get a 2xx, not a 400 for a placeholder.

The examples are written against the sandbox (manage.py seed_sandbox: users demo, mentor_zhang, admin, password
Incubator-2026). Here each one is sent as it is by the user it is written for, in a small world of the same shape:
demo owns a recruiting public project with a member and a pending application, and an outsider looks on. Only
what cannot be the same in two databases is replaced: path ids, body ids of users (`user_id`: the outsider to
add, the member to transfer to) and refresh tokens (a real one of demo's). Every other value goes as written.
"""

import functools
import io

import pytest
from django.core.management import call_command

from accounts.tests.factories import UserFactory
from aimodels.tests.factories import trained_houses
from datasets.tests.factories import make_dataset
from projects import services
from projects import services as project_services
from projects.management.commands.seed_sandbox import PASSWORD as SANDBOX_PASSWORD
from projects.management.commands.seed_sandbox import USERS as SANDBOX_USERS
from projects.tests.factories import add_member, make_project

from .test_openapi import operations, response_schema, validate_against

pytestmark = pytest.mark.django_db

# Who sends each operation's examples: None is anonymous; the others are users of the world below.

SENDERS = {
    "analytics_exports_create": "owner",
    "users_register_create": None,
    "users_login_create": None,
    "users_token_refresh_create": None,
    "users_logout_create": None,
    "users_me_partial_update": "owner",
    "users_me_password_create": "owner",
    "projects_create": "owner",
    "projects_update": "owner",
    "projects_partial_update": "owner",
    "projects_members_create": "owner",
    "projects_members_partial_update": "owner",
    "projects_transfer_ownership_create": "owner",
    "projects_applications_create": "outsider",
    "projects_applications_approve_create": "owner",
    "projects_applications_reject_create": "owner",
    "datasets_create": "owner",
    "datasets_partial_update": "owner",
    "datasets_versions_preprocess_create": "owner",
    "datasets_uploads_create": "owner",
    "datasets_uploads_complete_create": "owner",
    "jobs_create": "owner",
    "models_create": "owner",
    "models_partial_update": "owner",
    "models_versions_partial_update": "owner",
    "models_versions_predict_create": "member",
    "schemas_partial_update": "admin",
    "schemas_compatibility_create": "admin",
    "schemas_versions_create": "admin",
    "schemas_versions_partial_update": "admin",
    "schema_migrations_create": "admin",
}
# Direct uploads exist only on object storage: their examples run against the moto S3 server (the sandbox's
# filesystem storage answers them with 409 OBJECT_STORAGE_REQUIRED, as documented).
NEEDS_OBJECT_STORAGE = {"datasets_uploads_create", "datasets_uploads_complete_create"}
# Which user of the world a body's `user_id` stands for, per operation.
BODY_USER = {"projects_members_create": "outsider", "projects_transfer_ownership_create": "member"}


@functools.cache
def _schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def _examples(operation: dict) -> dict:
    return operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("examples", {})


def _cases() -> list:
    return [
        pytest.param(path, method, name, id=f"{method.upper()} {path} [{name}]")
        for path, method, operation in operations(_schema())
        for name in _examples(operation)
    ]


def test_every_request_body_has_an_example():
    schema = _schema()
    # A file upload (multipart only) shows a file picker in Swagger UI, not a pre-filled body.
    with_body = [
        (p, m, op)
        for p, m, op in operations(schema)
        if "requestBody" in op and set(op["requestBody"]["content"]) != {"multipart/form-data"}
    ]
    assert len(with_body) >= 15
    missing = [f"{m.upper()} {p}" for p, m, op in with_body if not _examples(op)]
    assert not missing, f"request bodies without an example (Swagger UI would pre-fill 'string'): {missing}"
    for path, method, operation in with_body:
        for name, example in _examples(operation).items():
            assert isinstance(example.get("value"), dict) and example["value"], f"{method} {path} [{name}]"


def test_every_operation_with_examples_names_who_sends_them():
    named = {op["operationId"] for _p, _m, op in operations(_schema()) if _examples(op)}
    assert named == set(SENDERS), "tell SENDERS (and BODY_USER) who sends the examples of a new operation"


def test_the_examples_use_the_sandbox_accounts():
    sandbox = {username for username, *_ in SANDBOX_USERS}
    login = _schema()["paths"]["/api/v1/users/login"]["post"]
    first = next(iter(_examples(login).values()))["value"]
    assert first == {"username": "demo", "password": SANDBOX_PASSWORD} and "demo" in sandbox
    register = _schema()["paths"]["/api/v1/users/register"]["post"]
    for example in _examples(register).values():
        assert example["value"]["username"] not in sandbox  # it registers in the sandbox too


@pytest.fixture
def world(api_client, request):
    owner = UserFactory(username="demo", email="demo@incubator.example", password=SANDBOX_PASSWORD)
    project = make_project(owner, name="城市交通流量预测", status="recruiting", tags=["机器学习"])
    member = add_member(project, role="member")
    applicant, outsider = UserFactory(), UserFactory()
    application = services.application_submit(project=project, applicant=applicant, message="我想加入")
    login = api_client.post("/api/v1/users/login", {"username": "demo", "password": SANDBOX_PASSWORD}, format="json")
    assert login.status_code == 200
    dataset = make_dataset(project, owner)
    model_version = trained_houses(project, owner)
    houses = model_version.dataset_version.dataset
    admin = UserFactory(username="admin", is_staff=True)
    project_services.project_update(project=project, actor=owner, data={"extra": {"预算": "50000"}})
    call_command("seed_schemas", stdout=io.StringIO())  # the sandbox's project.extra v2
    return {
        "admin": admin,
        "dataset": dataset,
        "houses": houses,
        "model_version": model_version,
        "request": request,
        "owner": owner,
        "member": member,
        "outsider": outsider,
        "applicant": applicant,
        "project": project,
        "application": application,
        "refresh": login.json()["refresh"],
    }


def send_example(auth_client, api_client, world: dict, path: str, method: str, body: dict):
    """Send a documented example as its sender would: the path's ids and the body's identity-bound values are the
    world's, everything else as written. Returns the response."""
    operation = _schema()["paths"][path][method]
    operation_id = operation["operationId"]
    assert operation_id in SENDERS, f"who sends the examples of {operation_id}?"
    sender = SENDERS[operation_id]
    client = auth_client(world[sender]) if sender else api_client
    body = dict(body)
    if isinstance(body.get("user_id"), int) and body["user_id"] >= 1 and operation_id in BODY_USER:
        body["user_id"] = world[BODY_USER[operation_id]].id
    if isinstance(body.get("refresh"), str) and body["refresh"]:
        body["refresh"] = world["refresh"]
    if isinstance(body.get("project"), int):
        body["project"] = world["project"].id
    if operation_id == "jobs_create":
        body["dataset"] = world["houses"].id
    upload_id = 0
    if operation_id in NEEDS_OBJECT_STORAGE:
        world["request"].getfixturevalue("s3_storage")
    if operation_id == "datasets_uploads_complete_create":
        upload_id, body["parts"] = _uploaded_parts(world, len(body["parts"]))
    url = (
        path.replace("{project_id}", str(world["project"].id))
        .replace("{dataset_id}", str(world["dataset"].id))
        .replace("{number}", "1")
        .replace("{upload_id}", str(upload_id))
        .replace("{user_id}", str(world["member"].id))
        .replace("{application_id}", str(world["application"].id))
        .replace("{model_id}", str(world["model_version"].model_id))
        .replace("{job_id}", str(world["model_version"].job_id))
        .replace("{subject}", "project.extra")
    )
    assert "{" not in url, f"a path parameter the test does not fill: {url}"
    return getattr(client, method)(url, body, format="json")


def _uploaded_parts(world: dict, count: int) -> tuple[int, list[dict]]:
    """A direct upload of `count` parts, sent to the bucket as a browser would: its id and the parts' ETags, the
    values a client copies from the PUT responses into the `complete` body."""
    import hashlib

    import httpx

    from datasets import services as dataset_services
    from datasets import storage

    part_size = storage.part_size_for(1)[0]  # the smallest part size the service hands out
    row = "北京,52\n".encode()
    data = "城市,AQI\n".encode() + row * ((part_size * (count - 1)) // len(row) + 1)
    upload, urls = dataset_services.dataset_upload_start(
        dataset=world["dataset"],
        actor=world["owner"],
        data={"file_name": "aqi.csv", "size": len(data), "sha256": hashlib.sha256(data).hexdigest()},
    )
    assert upload.part_count == count, "the example's part count must fit a real upload's"
    sizes = [upload.part_size] * (count - 1) + [len(data) - upload.part_size * (count - 1)]
    parts, offset = [], 0
    for number, (url, size) in enumerate(zip(urls, sizes, strict=True), start=1):
        response = httpx.put(url, content=data[offset : offset + size])
        offset += size
        parts.append({"part_number": number, "etag": response.headers["ETag"]})
    return upload.id, parts


@pytest.mark.parametrize(("path", "method", "name"), _cases())
def test_request_example_succeeds(auth_client, api_client, world, path, method, name):
    schema = _schema()
    example = _examples(schema["paths"][path][method])[name]
    response = send_example(auth_client, api_client, world, path, method, example["value"])
    assert 200 <= response.status_code < 300, (response.status_code, response.content.decode()[:500])
    documented = response_schema(schema, path, method, response.status_code)
    if documented is not None:
        validate_against(schema, documented, response.json())
    else:
        assert not response.content


def test_a_broken_example_fails(auth_client, api_client, world):
    """The runner above catches what Swagger UI used to pre-fill: placeholders instead of values."""
    broken = {"name": "医学影像分割", "video_url": "string"}
    assert send_example(auth_client, api_client, world, "/api/v1/projects", "post", broken).status_code == 400
    login = {"email": "string", "username": "demo", "password": SANDBOX_PASSWORD}
    assert send_example(auth_client, api_client, world, "/api/v1/users/login", "post", login).status_code == 401
