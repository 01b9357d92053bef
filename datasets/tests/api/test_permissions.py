"""Who may do what on every datasets endpoint, for anonymous, outsider, member, mentor, maintainer, owner and
admin, in a public and a private project: readers follow the project's visibility (a private project's
datasets are a 404 to whoever cannot see it, for every method), writers are its owner, maintainers and
platform admins. A refused write changes nothing."""

import hashlib

import pytest

from accounts.tests.factories import UserFactory
from datasets.models import Dataset, DatasetUpload, DatasetVersion
from datasets.tests.factories import CSV, make_dataset, upload
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "member", "mentor", "maintainer", "owner", "admin"]
WRITERS = {"maintainer", "owner", "admin"}
MEMBERS = {"member", "mentor", "maintainer", "owner", "admin"}
ERROR_CODES = {400: "INVALID_INPUT", 401: "NOT_AUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def build_world(visibility, auth_client, api_client, *, with_version=True):
    owner = UserFactory()
    project = make_project(owner, name=f"{visibility}项目", visibility=visibility)
    users = {"owner": owner, "outsider": UserFactory(), "admin": UserFactory(is_staff=True)}
    for role in ("member", "mentor", "maintainer"):
        users[role] = add_member(project, role)
    dataset = make_dataset(project, owner, profile=False, content=CSV if with_version else None)
    clients = {name: auth_client(user) for name, user in users.items()}
    clients["anonymous"] = api_client
    return {"project": project, "dataset": dataset, "users": users, "clients": clients}


@pytest.fixture(params=["public", "private"])
def world(request, auth_client, api_client):
    return build_world(request.param, auth_client, api_client)


def read_expectation(world, role):
    if world["project"].visibility == "public" or role in MEMBERS:
        return "ok"
    return 404


def write_expectation(world, role):
    if role in WRITERS:
        return "ok"
    if world["project"].visibility == "private" and role not in MEMBERS:
        return 404  # the project does not exist for them: not even a 401
    return 401 if role == "anonymous" else 403


def check(response, expected, what=""):
    if expected == "ok":
        assert response.status_code < 300, (what, response.status_code, response.content[:500])
        return
    assert response.status_code == expected, (what, response.status_code, response.content[:500])
    body = response.json()
    assert body["status_code"] == expected, (what, body)
    assert body["error_code"] == ERROR_CODES[expected], (what, body)
    assert isinstance(body["message"], str) and body["message"], (what, body)
    assert isinstance(body["details"], dict), (what, body)


@pytest.mark.parametrize("role", ROLES)
def test_every_dataset_endpoint(world, role, run_tasks):
    client, dataset = world["clients"][role], world["dataset"]
    base = f"/api/v1/datasets/{dataset.id}"
    readable, writable = read_expectation(world, role), write_expectation(world, role)

    check(client.get(base), readable, "GET dataset")
    check(client.get(f"{base}/versions"), readable, "GET versions")
    check(client.get(f"{base}/versions/1"), readable, "GET version")
    check(client.get(f"{base}/versions/1/rows"), readable, "GET rows")
    check(client.get(f"{base}/versions/1/profile"), readable, "GET profile")
    check(client.get(f"{base}/versions/1/download"), readable, "GET download")
    check(client.get(f"{base}/versions/1/download?format=parquet"), readable, "GET download parquet")

    patched = client.patch(base, {"description": "改过的描述"}, format="json")
    check(patched, writable, "PATCH dataset")
    added = client.post(f"{base}/versions", {"file": upload()}, format="multipart")
    check(added, writable, "POST version")
    with run_tasks():  # built, so that version 1 is no longer in use by it
        derived = client.post(f"{base}/versions/1/preprocess", {"pipeline": [{"type": "drop_na"}]}, format="json")
    check(derived, writable, "POST preprocess")
    check(client.delete(f"{base}/versions/1"), writable, "DELETE version")

    if role in WRITERS:
        # The writes happened, not just their status codes.
        assert patched.json()["description"] == "改过的描述"
        assert added.json()["number"] == 2
        assert (derived.json()["number"], derived.json()["lineage"]["parent"]) == (3, 1)
        assert list(dataset.versions.values_list("number", flat=True)) == [2, 3]
    else:
        # Nothing a refused caller sent was applied.
        dataset.refresh_from_db()
        assert dataset.description == ""
        assert list(dataset.versions.values_list("number", flat=True)) == [1]

    check(client.delete(base), writable, "DELETE dataset")
    assert Dataset.objects.filter(pk=dataset.pk).exists() is (role not in WRITERS)


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_create_dataset(visibility, auth_client, api_client):
    world = build_world(visibility, auth_client, api_client, with_version=False)
    project = world["project"]
    for role in ROLES:
        client, name = world["clients"][role], f"新数据集-{role}"
        response = client.post("/api/v1/datasets", {"project": project.id, "name": name, "file": upload()})
        if role in WRITERS:
            check(response, "ok", role)
            assert response.status_code == 201
            assert Dataset.objects.filter(project=project, name=name, versions__number=1).exists()
            continue
        assert not Dataset.objects.filter(name=name).exists(), role
        if role == "anonymous":
            check(response, 401, role)
        elif visibility == "private" and role == "outsider":
            # A private project the caller cannot see is an invalid field, the same as a project that does not
            # exist: never revealed by a 403.
            check(response, 400, role)
            assert response.json()["details"]["field"] == "project"
            unknown = client.post("/api/v1/datasets", {"project": 999_999, "name": name, "file": upload()})
            assert unknown.status_code == 400 and unknown.json()["details"] == response.json()["details"]
        else:
            check(response, 403, role)


def test_the_list_never_shows_private_datasets_to_those_who_cannot_see_them(auth_client, api_client):
    public = build_world("public", auth_client, api_client)
    private = build_world("private", auth_client, api_client)
    # The same people in both projects, so one client per role sees both.
    users = private["users"]
    for role in ("member", "mentor", "maintainer"):
        add_member(public["project"], role, user=users[role])
    for role in ROLES:
        client = private["clients"][role]
        body = client.get("/api/v1/datasets").json()
        expected = {public["dataset"].id} | ({private["dataset"].id} if role in MEMBERS else set())
        assert {item["id"] for item in body["datasets"]} == expected, role
        assert body["pagination"]["total"] == len(expected), role

        # Asking for the private project by id, or searching, shows nothing more, totals included.
        filtered = client.get("/api/v1/datasets", {"project": private["project"].id}).json()
        shown = 1 if role in MEMBERS else 0
        assert (len(filtered["datasets"]), filtered["pagination"]["total"]) == (shown, shown), role
        searched = client.get("/api/v1/datasets", {"search": "空气"}).json()
        assert searched["pagination"]["total"] == len(searched["datasets"]) == len(expected), role


# --- direct uploads to object storage --------------------------------------------------------------------


def _pending_upload(dataset, owner):
    """A pending upload as dataset_upload_start records it, without the bucket: refused callers never reach it."""
    from datetime import timedelta

    from django.utils import timezone

    return DatasetUpload.objects.create(
        dataset=dataset,
        created_by=owner,
        file_name="数据.csv",
        format="csv",
        content_type="text/csv",
        size=len(CSV),
        sha256=hashlib.sha256(CSV).hexdigest(),
        object_name="versions/0123456789abcdef/original.csv",
        upload_id="upload-id",
        part_size=8 * 1024 * 1024,
        part_count=1,
        expires_at=timezone.now() + timedelta(hours=1),
    )


ANNOUNCED = {"file_name": "数据.csv", "size": len(CSV), "sha256": hashlib.sha256(CSV).hexdigest()}


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_direct_upload_endpoints_refused(visibility, auth_client, api_client):
    world = build_world(visibility, auth_client, api_client, with_version=False)
    dataset, owner = world["dataset"], world["users"]["owner"]
    base = f"/api/v1/datasets/{dataset.id}/uploads"
    for role in sorted(set(ROLES) - WRITERS):
        client, expected = world["clients"][role], write_expectation(world, role)
        pending = _pending_upload(dataset, owner)
        check(client.post(base, ANNOUNCED, format="json"), expected, f"{role} POST uploads")
        parts = [{"part_number": 1, "etag": '"0123"'}]
        check(client.post(f"{base}/{pending.id}/complete", {"parts": parts}, format="json"), expected, role)
        check(client.post(f"{base}/{pending.id}/abort", format="json"), expected, f"{role} abort")
        pending.refresh_from_db()
        assert pending.status == "pending"
    assert DatasetUpload.objects.filter(dataset=dataset).count() == len(set(ROLES) - WRITERS)
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_direct_upload_endpoints_allowed(visibility, s3_storage, auth_client, api_client, http):
    world = build_world(visibility, auth_client, api_client, with_version=False)
    dataset = world["dataset"]
    base = f"/api/v1/datasets/{dataset.id}/uploads"
    for role in sorted(WRITERS):
        client = world["clients"][role]
        started = client.post(base, ANNOUNCED, format="json")
        check(started, "ok", f"{role} POST uploads")
        assert started.json()["part_count"] == 1
        put = http.put(started.json()["parts"][0]["url"], content=CSV)
        assert put.status_code == 200
        parts = [{"part_number": 1, "etag": put.headers["ETag"]}]
        check(client.post(f"{base}/{started.json()['id']}/complete", {"parts": parts}, format="json"), "ok", role)
        other = client.post(base, ANNOUNCED, format="json").json()
        check(client.post(f"{base}/{other['id']}/abort", format="json"), "ok", f"{role} abort")
    statuses = sorted(DatasetUpload.objects.filter(dataset=dataset).values_list("status", flat=True))
    assert statuses == ["aborted"] * 3 + ["completed"] * 3
    assert list(dataset.versions.values_list("number", "source")) == [
        (1, "presigned"),
        (2, "presigned"),
        (3, "presigned"),
    ]


def test_unknown_dataset_is_the_same_404_as_a_private_one(auth_client, api_client):
    world = build_world("private", auth_client, api_client)
    outsider = world["clients"]["outsider"]
    hidden = outsider.get(f"/api/v1/datasets/{world['dataset'].id}/versions/1/rows")
    missing = outsider.get("/api/v1/datasets/999999/versions/1/rows")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
