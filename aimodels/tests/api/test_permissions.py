"""Who may do what on every training and model endpoint, for anonymous, outsider, member, mentor, maintainer,
owner and admin, in a public and a private project: readers follow the project's visibility (a private
project's jobs and models are a 404 to whoever cannot see it, for every method), the team (owner, maintainers,
members) trains, cancels and retries, the writers (owner, maintainers) curate the registry, any logged-in user
who can see a model may ask it for predictions, and platform admins may do everything. A refused write changes
nothing."""

import pytest

from accounts.tests.factories import UserFactory
from aimodels import services
from aimodels.models import JobLog, JobMetric, Model, ModelVersion, TrainingJob
from aimodels.tests.factories import ready_version, run
from incubator.events.models import Event
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "member", "mentor", "maintainer", "owner", "admin"]
MEMBERS = {"member", "mentor", "maintainer", "owner", "admin"}  # who sees a private project
TRAINERS = {"member", "maintainer", "owner", "admin"}  # job.create, job.cancel
WRITERS = {"maintainer", "owner", "admin"}  # model.create, model.update, model.delete
ERROR_CODES = {400: "INVALID_INPUT", 401: "NOT_AUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}

SPEC = {"algorithm": "logistic_regression", "target": "标签", "seed": 3}
ROW = {"城市": "北京", "x1": 1.5, "x2": 3, "amount": 2.0}


def build_world(visibility, auth_client, api_client, *, with_jobs=True):
    """A project with a ready dataset version, the people of every role and, with `with_jobs`, a job that
    succeeded (making the model 情感模型 v1) and a queued one."""
    owner = UserFactory()
    project = make_project(owner, name=f"{visibility}项目", visibility=visibility)
    users = {"owner": owner, "outsider": UserFactory(), "admin": UserFactory(is_staff=True)}
    for role in ("member", "mentor", "maintainer"):
        users[role] = add_member(project, role)
    version = ready_version(project, owner)
    world = {"project": project, "version": version, "users": users}
    if with_jobs:
        done = run(
            services.job_create(project=project, version=version, actor=owner, data={**SPEC, "model_name": "情感模型"})
        )
        assert done.status == TrainingJob.Status.SUCCEEDED, (done.error_code, done.error_message)
        queued = services.job_create(project=project, version=version, actor=owner, data=SPEC)
        world.update(done=done, queued=queued, model=done.model_version.model)
    clients = {name: auth_client(user) for name, user in users.items()}
    clients["anonymous"] = api_client
    world["clients"] = clients
    return world


@pytest.fixture(params=["public", "private"])
def world(request, auth_client, api_client):
    return build_world(request.param, auth_client, api_client)


def hidden(world, role):
    """The project does not exist for this caller."""
    return world["project"].visibility == "private" and role not in MEMBERS


def read_expectation(world, role):
    return 404 if hidden(world, role) else "ok"


def write_expectation(world, role, allowed):
    if role in allowed:
        return "ok"
    if hidden(world, role):
        return 404  # the project does not exist for them: not even a 401
    return 401 if role == "anonymous" else 403


def predict_expectation(world, role):
    if hidden(world, role):
        return 404
    return 401 if role == "anonymous" else "ok"  # any logged-in user who can see the model


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


def snapshot():
    """Every row a write on jobs or models could touch."""
    return {
        "jobs": sorted(TrainingJob.objects.values_list("id", "status", "attempt", "finished_at")),
        "models": sorted(Model.objects.values_list("id", "name", "description", "version_count", "updated_at")),
        "versions": sorted(ModelVersion.objects.values_list("id", "number", "stage", "stage_changed_at")),
        "metrics": JobMetric.objects.count(),
        "logs": JobLog.objects.count(),
        "events": Event.objects.count(),
    }


# --- jobs ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_job_endpoint(world, role):
    client, done, queued = world["clients"][role], world["done"], world["queued"]
    readable = read_expectation(world, role)
    trainer = write_expectation(world, role, TRAINERS)

    algorithms = client.get("/api/v1/algorithms")
    check(algorithms, "ok", "GET algorithms")
    assert algorithms.json()["algorithms"], "GET algorithms"

    detail = client.get(f"/api/v1/jobs/{done.id}")
    check(detail, readable, "GET job")
    metrics = client.get(f"/api/v1/jobs/{done.id}/metrics")
    check(metrics, readable, "GET metrics")
    logs = client.get(f"/api/v1/jobs/{done.id}/logs")
    check(logs, readable, "GET logs")
    if readable == "ok":
        assert (detail.json()["id"], detail.json()["status"]) == (done.id, "succeeded")
        assert metrics.json()["job"] == done.id and metrics.json()["final"] == done.metrics
        assert logs.json()["pagination"]["total"] == JobLog.objects.filter(job=done).count() > 0

    before = snapshot()
    cancelled = client.post(f"/api/v1/jobs/{queued.id}/cancel", format="json")
    check(cancelled, trainer, "POST cancel")
    retried = client.post(f"/api/v1/jobs/{done.id}/retry", format="json")
    check(retried, trainer, "POST retry")

    queued.refresh_from_db()
    if role in TRAINERS:
        # The writes happened, not just their status codes.
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert queued.status == TrainingJob.Status.CANCELLED
        assert retried.status_code == 201
        body = retried.json()
        assert (body["retry_of"], body["attempt"], body["status"]) == (done.id, 2, "queued")
        assert body["created_by"] == world["users"][role].id
        assert TrainingJob.objects.filter(pk=body["id"], retry_of=done).exists()
    else:
        # Nothing a refused caller sent was applied: no job, no status, no event, no log line.
        assert queued.status == TrainingJob.Status.QUEUED
        assert snapshot() == before


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_create_job(visibility, auth_client, api_client):
    world = build_world(visibility, auth_client, api_client, with_jobs=False)
    project, dataset = world["project"], world["version"].dataset
    for role in ROLES:
        client, name = world["clients"][role], f"模型-{role}"
        before = snapshot()
        data = {"project": project.id, "dataset": dataset.id, **SPEC, "model_name": name}
        response = client.post("/api/v1/jobs", data, format="json")
        if role in TRAINERS:
            check(response, "ok", role)
            assert response.status_code == 201, role
            body = response.json()
            assert (body["project"], body["status"], body["model_name"]) == (project.id, "queued", name), role
            assert body["created_by"] == world["users"][role].id, role
            assert TrainingJob.objects.filter(pk=body["id"], project=project, model_name=name).exists(), role
            continue
        assert snapshot() == before, role
        if role == "anonymous":
            check(response, 401, role)
        elif hidden(world, role):
            # A dataset (and project) the caller cannot see is an invalid field, the same as a dataset that does
            # not exist: never revealed by a 403. The job's project is its dataset's, so the field is `dataset`.
            check(response, 400, role)
            assert response.json()["details"]["field"] == "dataset", role
            unknown = client.post("/api/v1/jobs", {**data, "dataset": 999_999}, format="json")
            assert unknown.status_code == 400 and unknown.json()["details"] == response.json()["details"], role
            without_project = {key: value for key, value in data.items() if key != "project"}
            alone = client.post("/api/v1/jobs", without_project, format="json")
            assert alone.status_code == 400 and alone.json()["details"] == response.json()["details"], role
            assert snapshot() == before, role
        else:
            check(response, 403, role)
    assert TrainingJob.objects.count() == len(TRAINERS)


def test_the_job_list_never_shows_private_jobs_to_those_who_cannot_see_them(auth_client, api_client):
    public = build_world("public", auth_client, api_client)
    private = build_world("private", auth_client, api_client)
    # The same people in both projects, so one client per role sees both.
    users = private["users"]
    for role in ("member", "mentor", "maintainer"):
        add_member(public["project"], role, user=users[role])
    public_jobs = {public["done"].id, public["queued"].id}
    private_jobs = {private["done"].id, private["queued"].id}
    for role in ROLES:
        client = private["clients"][role]
        expected = public_jobs | (private_jobs if role in MEMBERS else set())
        # One job a page: every page counts the same total, and the pages together are the visible jobs.
        first = client.get("/api/v1/jobs", {"page_size": 1})
        check(first, "ok", role)
        pagination = first.json()["pagination"]
        assert (pagination["total"], pagination["total_pages"]) == (len(expected), len(expected)), role
        seen = set()
        for page in range(1, len(expected) + 1):
            body = client.get("/api/v1/jobs", {"page_size": 1, "page": page}).json()
            assert body["pagination"]["total"] == len(expected), role
            seen |= {job["id"] for job in body["jobs"]}
        assert seen == expected, role
        past = client.get("/api/v1/jobs", {"page_size": 1, "page": len(expected) + 1})
        check(past, 404, role)

        # Asking for the private project by id, or filtering, shows nothing more, totals included.
        filtered = client.get("/api/v1/jobs", {"project": private["project"].id}).json()
        shown = len(private_jobs) if role in MEMBERS else 0
        assert (len(filtered["jobs"]), filtered["pagination"]["total"]) == (shown, shown), role
        succeeded = client.get("/api/v1/jobs", {"status": "succeeded"}).json()
        assert succeeded["pagination"]["total"] == len(succeeded["jobs"]) == (2 if role in MEMBERS else 1), role
        by_dataset = client.get("/api/v1/jobs", {"dataset": private["version"].dataset_id}).json()
        assert by_dataset["pagination"]["total"] == len(by_dataset["jobs"]) == shown, role


def test_an_unknown_job_is_the_same_404_as_a_private_one(auth_client, api_client):
    world = build_world("private", auth_client, api_client)
    outsider, job = world["clients"]["outsider"], world["done"]
    for suffix, method in [("", "get"), ("/metrics", "get"), ("/logs", "get"), ("/cancel", "post"), ("/retry", "post")]:
        hidden_response = getattr(outsider, method)(f"/api/v1/jobs/{job.id}{suffix}", format="json")
        missing = getattr(outsider, method)(f"/api/v1/jobs/999999{suffix}", format="json")
        assert hidden_response.status_code == missing.status_code == 404, suffix
        assert hidden_response.json() == missing.json(), suffix


# --- models ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_every_model_endpoint(world, role):
    client, model = world["clients"][role], world["model"]
    base = f"/api/v1/models/{model.id}"
    readable = read_expectation(world, role)
    writable = write_expectation(world, role, WRITERS)

    detail = client.get(base)
    check(detail, readable, "GET model")
    versions = client.get(f"{base}/versions")
    check(versions, readable, "GET versions")
    version = client.get(f"{base}/versions/1")
    check(version, readable, "GET version")
    if readable == "ok":
        assert (detail.json()["id"], detail.json()["version_count"]) == (model.id, 1)
        assert [v["number"] for v in versions.json()["versions"]] == [1]
        assert (version.json()["number"], version.json()["job"]) == (1, world["done"].id)

    before = snapshot()
    predicted = client.post(f"{base}/versions/1/predict", {"rows": [ROW]}, format="json")
    check(predicted, predict_expectation(world, role), "POST predict")
    if predict_expectation(world, role) == "ok":
        assert predicted.status_code == 200
        assert len(predicted.json()["predictions"]) == 1
    assert snapshot() == before  # a prediction writes nothing

    patched = client.patch(base, {"description": "改过的描述"}, format="json")
    check(patched, writable, "PATCH model")
    staged = client.patch(f"{base}/versions/1", {"stage": "staging"}, format="json")
    check(staged, writable, "PATCH version")
    if role in WRITERS:
        assert patched.json()["description"] == "改过的描述"
        assert staged.json()["stage"] == "staging"
        assert ModelVersion.objects.get(model=model, number=1).stage == "staging"
    deleted_version = client.delete(f"{base}/versions/1")
    check(deleted_version, writable, "DELETE version")

    if role in WRITERS:
        assert deleted_version.status_code == 204
        model.refresh_from_db()
        assert model.description == "改过的描述"
        assert not model.versions.exists() and model.version_count == 0 and model.latest_version is None
    else:
        # Nothing a refused caller sent was applied.
        assert snapshot() == before
        model.refresh_from_db()
        assert model.description == ""
        assert list(model.versions.values_list("number", "stage")) == [(1, "none")]

    deleted = client.delete(base)
    check(deleted, writable, "DELETE model")
    assert Model.objects.filter(pk=model.pk).exists() is (role not in WRITERS)
    if role not in WRITERS:
        assert snapshot() == before


@pytest.mark.parametrize("visibility", ["public", "private"])
def test_create_model(visibility, auth_client, api_client):
    world = build_world(visibility, auth_client, api_client, with_jobs=False)
    project = world["project"]
    for role in ROLES:
        client, name = world["clients"][role], f"新模型-{role}"
        before = snapshot()
        data = {"project": project.id, "name": name, "task": "classification"}
        response = client.post("/api/v1/models", data, format="json")
        if role in WRITERS:
            check(response, "ok", role)
            assert response.status_code == 201, role
            body = response.json()
            assert (body["name"], body["version_count"], body["latest_version"]) == (name, 0, None), role
            assert Model.objects.filter(pk=body["id"], project=project, created_by=world["users"][role]).exists()
            continue
        assert snapshot() == before, role
        assert not Model.objects.filter(name=name).exists(), role
        if role == "anonymous":
            check(response, 401, role)
        elif hidden(world, role):
            check(response, 400, role)
            assert response.json()["details"]["field"] == "project", role
            unknown = client.post("/api/v1/models", {**data, "project": 999_999}, format="json")
            assert unknown.status_code == 400 and unknown.json()["details"] == response.json()["details"], role
        else:
            check(response, 403, role)
    assert Model.objects.count() == len(WRITERS)


def test_the_model_list_never_shows_private_models_to_those_who_cannot_see_them(auth_client, api_client):
    public = build_world("public", auth_client, api_client)
    private = build_world("private", auth_client, api_client)
    users = private["users"]
    for role in ("member", "mentor", "maintainer"):
        add_member(public["project"], role, user=users[role])
    Model.objects.create(project=private["project"], name="空模型", task="regression")
    public_models = {public["model"].id}
    private_models = set(Model.objects.filter(project=private["project"]).values_list("id", flat=True))
    assert len(private_models) == 2
    for role in ROLES:
        client = private["clients"][role]
        expected = public_models | (private_models if role in MEMBERS else set())
        body = client.get("/api/v1/models", {"page_size": 1}).json()
        assert body["pagination"]["total"] == len(expected), role
        seen = set()
        for page in range(1, len(expected) + 1):
            seen |= {m["id"] for m in client.get("/api/v1/models", {"page_size": 1, "page": page}).json()["models"]}
        assert seen == expected, role

        filtered = client.get("/api/v1/models", {"project": private["project"].id}).json()
        shown = len(private_models) if role in MEMBERS else 0
        assert (len(filtered["models"]), filtered["pagination"]["total"]) == (shown, shown), role
        searched = client.get("/api/v1/models", {"search": "模型"}).json()
        assert searched["pagination"]["total"] == len(searched["models"]) == len(expected), role
        regression = client.get("/api/v1/models", {"task": "regression"}).json()
        assert regression["pagination"]["total"] == len(regression["models"]) == (1 if role in MEMBERS else 0), role


def test_an_unknown_model_is_the_same_404_as_a_private_one(auth_client, api_client):
    world = build_world("private", auth_client, api_client)
    outsider, model = world["clients"]["outsider"], world["model"]
    requests = [
        ("get", "", None),
        ("patch", "", {"description": "x"}),
        ("delete", "", None),
        ("get", "/versions", None),
        ("get", "/versions/1", None),
        ("patch", "/versions/1", {"stage": "staging"}),
        ("delete", "/versions/1", None),
        ("post", "/versions/1/predict", {"rows": [ROW]}),
    ]
    for method, suffix, data in requests:
        hidden_response = getattr(outsider, method)(f"/api/v1/models/{model.id}{suffix}", data, format="json")
        missing = getattr(outsider, method)(f"/api/v1/models/999999{suffix}", data, format="json")
        assert hidden_response.status_code == missing.status_code == 404, (method, suffix)
        assert hidden_response.json() == missing.json(), (method, suffix)
    # A visible model's unknown version is a 404 too, for a reader.
    member = world["clients"]["member"]
    check(member.get(f"/api/v1/models/{model.id}/versions/9"), 404, "unknown version")
    check(member.post(f"/api/v1/models/{model.id}/versions/9/predict", {"rows": [ROW]}, format="json"), 404)
