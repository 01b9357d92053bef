"""Document migrations over HTTP (/schema-migrations): the dry run that writes nothing, a run on the worker (tasks
run eagerly once the request's transaction commits: `run_tasks`), its log, the rollback, and every refusal."""

import pytest

from accounts.tests.factories import UserFactory
from projects.models import Project
from projects.tests.factories import make_project
from schema_registry import services
from schema_registry.models import DocumentBackup, DocumentMigration, Subject
from schema_registry.tests.api.contract import error_body as _error

pytestmark = pytest.mark.django_db

URL = "/api/v1/schema-migrations"
EXTRA = "/api/v1/schemas/project.extra"
V2 = {
    "type": "object",
    "properties": {
        "budget": {"type": "number", "minimum": 0},
        "stage": {"enum": ["idea", "prototype", "pilot"]},
    },
}
PLAN = [
    {"op": "rename_field", "path": "预算", "to": "budget"},
    {"op": "change_type", "path": "budget", "to": "number"},
    {"op": "add_field", "path": "stage", "default": "idea"},
]
# The plan as the registry keeps it: every option spelled out.
COMPILED = [PLAN[0], {**PLAN[1], "on_error": "fail"}, PLAN[2]]
BODY = {"subject": "project.extra", "from": 1, "to": 2, "plan": PLAN}
PAGINATION = {"page", "page_size", "total", "total_pages", "next", "previous"}
MIGRATION_FIELDS = {
    "id",
    "subject",
    "from",
    "to",
    "plan",
    "status",
    "abort_threshold",
    "batch_size",
    "total",
    "processed",
    "changed",
    "failed",
    "restored",
    "progress",
    "error",
    "created_by",
    "created_at",
    "started_at",
    "finished_at",
}


@pytest.fixture
def run_tasks(django_capture_on_commit_callbacks):
    """`with run_tasks():` runs what the block's requests committed to do afterwards (the migration's or the
    rollback's task), as the worker would after a real commit: tasks are eager in tests."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def register_v2(admin):
    """register_v2() -> project.extra with a second version (under NONE, as its constraints are new). Called
    after a test made its projects: they were written under version 1."""

    def register() -> Subject:
        extra = Subject.objects.get(name="project.extra")
        extra = services.subject_update(subject=extra, actor=admin, data={"compatibility": "NONE"})
        version, created = services.schema_version_register(subject=extra, schema=V2, actor=admin)
        assert created and version.number == 2
        return extra

    return register


def _projects(n: int, **extra) -> list[Project]:
    owner = UserFactory()
    return [make_project(owner, name=f"项目{i}", extra=dict(extra, 序号=i)) for i in range(n)]


def _documents() -> list[tuple]:
    return list(Project.objects.order_by("pk").values_list("pk", "extra", "schema_version"))


# --- dry runs ------------------------------------------------------------------------------------------------


def test_a_dry_run_reports_and_writes_nothing(admin_client, register_v2, run_tasks):
    projects = _projects(4, 预算="100")
    register_v2()
    Project.objects.filter(pk=projects[3].pk).update(extra={"预算": "很多"})  # cannot become a number
    before = _documents()
    with run_tasks() as callbacks:
        response = admin_client.post(URL, {**BODY, "dry_run": True}, format="json")
    assert response.status_code == 200, response.content
    assert callbacks == []  # nothing sent to a worker
    report = response.json()
    assert set(report) == {
        "subject",
        "from",
        "to",
        "plan",
        "total",
        "changed",
        "unchanged",
        "failed",
        "samples",
        "failures",
        "failures_truncated",
    }
    assert (report["subject"], report["from"], report["to"], report["plan"]) == ("project.extra", 1, 2, COMPILED)
    assert (report["total"], report["changed"], report["unchanged"], report["failed"]) == (4, 3, 0, 1)
    assert report["failures"] == [
        {"document_id": projects[3].pk, "path": "$.budget", "message": report["failures"][0]["message"]}
    ]
    assert report["failures"][0]["message"] and report["failures_truncated"] is False
    sample = report["samples"][0]
    assert set(sample) == {"document_id", "before", "after", "diff"}
    assert (sample["document_id"], sample["before"]) == (projects[0].pk, {"预算": "100", "序号": 0})
    assert sample["after"] == {"budget": 100, "stage": "idea", "序号": 0}
    assert {"op": "add", "path": "/stage", "value": "idea"} in sample["diff"]
    assert _documents() == before
    assert not DocumentMigration.objects.exists() and not DocumentBackup.objects.exists()
    assert admin_client.get(URL).json()["migrations"] == []


def test_a_dry_run_without_a_plan_uses_the_proposed_one(admin_client, register_v2):
    _projects(2)
    register_v2()
    proposed = admin_client.get(f"{EXTRA}/migration-plan", {"from": 1, "to": 2}).json()["plan"]
    report = admin_client.post(
        URL, {"subject": "project.extra", "from": 1, "to": 2, "dry_run": True}, format="json"
    ).json()
    assert report["plan"] == proposed
    null_plan = admin_client.post(URL, {**BODY, "plan": None, "dry_run": True}, format="json").json()
    assert null_plan["plan"] == proposed
    assert not DocumentMigration.objects.exists()


# --- runs ----------------------------------------------------------------------------------------------------


def test_a_run_is_accepted_then_succeeds_with_its_counts(admin, admin_client, register_v2, run_tasks):
    projects = _projects(5, 预算="7")
    register_v2()
    with run_tasks():
        response = admin_client.post(URL, {**BODY, "batch_size": 2}, format="json")
        assert response.status_code == 202, response.content
        accepted = response.json()
        assert set(accepted) == MIGRATION_FIELDS
        assert (accepted["status"], accepted["progress"], accepted["started_at"]) == ("pending", 0.0, None)
        shown = (accepted["subject"], accepted["from"], accepted["to"], accepted["plan"])
        assert shown == ("project.extra", 1, 2, COMPILED)
        assert (accepted["batch_size"], accepted["abort_threshold"], accepted["created_by"]) == (2, 0.0, admin.id)
        assert accepted["created_at"].endswith("Z") and accepted["error"] is None
    migration = admin_client.get(f"{URL}/{accepted['id']}")
    assert migration.status_code == 200
    done = migration.json()
    assert done["status"] == "succeeded"
    assert (done["total"], done["processed"], done["changed"], done["failed"], done["restored"]) == (5, 5, 5, 0, 0)
    assert done["progress"] == 1.0 and done["started_at"] and done["finished_at"] and done["error"] is None
    assert dict(Project.objects.values_list("pk", "extra"))[projects[2].pk] == {"budget": 7, "stage": "idea", "序号": 2}
    assert set(Project.objects.values_list("schema_version", flat=True)) == {2}
    assert api_projects_show_version(admin_client, projects[0].pk) == 2

    listed = admin_client.get(URL).json()
    assert set(listed) == {"migrations", "pagination"} and set(listed["pagination"]) == PAGINATION
    assert [m["id"] for m in listed["migrations"]] == [accepted["id"]] and listed["migrations"][0] == done


def api_projects_show_version(client, project_id: int) -> int:
    return client.get(f"/api/v1/projects/{project_id}").json()["schema_version"]


def test_the_log_lists_the_start_every_failure_and_the_end(admin_client, register_v2, run_tasks):
    projects = _projects(10, 预算="1")
    register_v2()
    Project.objects.filter(pk=projects[4].pk).update(extra={"预算": "很多"})
    with run_tasks():
        created = admin_client.post(URL, {**BODY, "abort_threshold": 10, "batch_size": 3}, format="json").json()
    migration = admin_client.get(f"{URL}/{created['id']}").json()
    assert (migration["status"], migration["changed"], migration["failed"]) == ("succeeded", 9, 1)
    log = admin_client.get(f"{URL}/{created['id']}/log")
    assert log.status_code == 200
    body = log.json()
    assert set(body) == {"entries", "pagination"} and set(body["pagination"]) == PAGINATION
    entries = body["entries"]
    for entry in entries:
        assert set(entry) == {"id", "level", "document_id", "path", "message", "created_at"}
    assert [entry["id"] for entry in entries] == sorted(entry["id"] for entry in entries)  # oldest first
    assert entries[0]["level"] == "info" and entries[-1]["level"] == "info"
    errors = admin_client.get(f"{URL}/{created['id']}/log", {"level": "error"}).json()["entries"]
    assert [(entry["document_id"], entry["path"]) for entry in errors] == [(projects[4].pk, "$.budget")]
    assert errors[0]["message"]
    page = admin_client.get(f"{URL}/{created['id']}/log", {"page_size": 1}).json()
    assert len(page["entries"]) == 1 and page["pagination"]["total"] == len(entries)
    _error(admin_client.get(f"{URL}/{created['id']}/log", {"level": "loud"}), 400, "INVALID_INPUT")
    failed = Project.objects.get(pk=projects[4].pk)
    assert (failed.extra, failed.schema_version) == ({"预算": "很多"}, 1)


def test_failures_over_the_threshold_abort_and_restore(admin_client, register_v2, run_tasks):
    projects = _projects(10, 预算="1")
    register_v2()
    Project.objects.filter(pk__in=[p.pk for p in projects[7:]]).update(extra={"预算": "很多"})
    before = _documents()
    with run_tasks():
        created = admin_client.post(URL, {**BODY, "abort_threshold": 20, "batch_size": 3}, format="json").json()
    migration = admin_client.get(f"{URL}/{created['id']}").json()
    assert migration["status"] == "aborted" and migration["error"]["code"] == "ABORT_THRESHOLD"
    assert migration["error"]["message"] and migration["progress"] == 1.0
    assert _documents() == before
    _error(admin_client.post(f"{URL}/{created['id']}/rollback"), 409, "MIGRATION_NOT_ROLLBACKABLE")


def test_a_rollback_restores_the_documents_and_cannot_be_repeated(admin_client, register_v2, run_tasks):
    _projects(4, 预算="3")
    register_v2()
    before = _documents()
    with run_tasks():
        created = admin_client.post(URL, BODY, format="json").json()
    assert admin_client.get(f"{URL}/{created['id']}").json()["status"] == "succeeded"
    assert _documents() != before
    with run_tasks():
        response = admin_client.post(f"{URL}/{created['id']}/rollback")
        assert response.status_code == 202, response.content
        assert set(response.json()) == MIGRATION_FIELDS and response.json()["status"] == "rolling_back"
    migration = admin_client.get(f"{URL}/{created['id']}").json()
    assert (migration["status"], migration["restored"], migration["progress"]) == ("rolled_back", 4, 1.0)
    assert _documents() == before
    again = admin_client.post(f"{URL}/{created['id']}/rollback")
    _error(again, 409, "MIGRATION_NOT_ROLLBACKABLE")
    assert admin_client.get(f"{URL}/{created['id']}").json()["status"] == "rolled_back"
    messages = [entry["message"] for entry in admin_client.get(f"{URL}/{created['id']}/log").json()["entries"]]
    assert len(messages) >= 4


def test_a_pending_migration_rolled_back_is_cancelled_at_once(admin_client, register_v2):
    _projects(2)
    register_v2()
    before = _documents()
    created = admin_client.post(URL, {**BODY, "defer": True}, format="json").json()
    response = admin_client.post(f"{URL}/{created['id']}/rollback")
    assert response.status_code == 202 and response.json()["status"] == "rolled_back"
    assert _documents() == before
    # The subject is free again.
    assert admin_client.post(URL, {**BODY, "defer": True}, format="json").status_code == 202


def test_rollback_progress_counts_every_backup_not_only_the_changed_documents(admin_client, register_v2, admin):
    """A rollback restores one backup per document the run wrote, changed or not: 3 restored of 10 written is
    0.3, even when only 2 of them had changed."""
    v2 = register_v2()
    migration = DocumentMigration.objects.create(
        subject=v2, from_number=1, to_number=2, plan=[], status="rolling_back", total=10, processed=10, changed=2
    )
    DocumentMigration.objects.filter(pk=migration.pk).update(restored=3)
    assert admin_client.get(f"{URL}/{migration.id}").json()["progress"] == 0.3
    DocumentMigration.objects.filter(pk=migration.pk).update(processed=6, failed=2, restored=2)
    assert admin_client.get(f"{URL}/{migration.id}").json()["progress"] == 0.5


def test_a_deferred_migration_stays_pending(admin_client, register_v2, run_tasks):
    _projects(3, 预算="1")
    register_v2()
    before = _documents()
    with run_tasks() as callbacks:
        response = admin_client.post(URL, {**BODY, "defer": True}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    assert not [callback for callback in callbacks if "migration_run" in repr(callback)]
    assert admin_client.get(f"{URL}/{response.json()['id']}").json()["status"] == "pending"
    assert _documents() == before
    pending = admin_client.get(URL, {"status": "pending"}).json()["migrations"]
    assert [m["id"] for m in pending] == [response.json()["id"]]
    assert admin_client.get(URL, {"status": "succeeded"}).json()["migrations"] == []


def test_a_second_migration_while_one_is_pending_is_a_409(admin_client, register_v2):
    _projects(1)
    register_v2()
    first = admin_client.post(URL, {**BODY, "defer": True}, format="json").json()
    body = _error(admin_client.post(URL, BODY, format="json"), 409, "MIGRATION_ACTIVE")
    assert body["details"]["migration_id"] == first["id"]
    assert DocumentMigration.objects.count() == 1
    # A dry run writes nothing: it is allowed while another migration waits.
    assert admin_client.post(URL, {**BODY, "dry_run": True}, format="json").status_code == 200


def test_a_retry_with_the_same_idempotency_key_returns_the_same_migration(admin_client, register_v2, run_tasks):
    _projects(2, 预算="5")
    register_v2()
    with run_tasks():
        first = admin_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="migrate-extra-1")
    with run_tasks():
        retry = admin_client.post(URL, BODY, format="json", HTTP_IDEMPOTENCY_KEY="migrate-extra-1")
    assert (first.status_code, retry.status_code) == (202, 202)
    assert retry["Idempotent-Replayed"] == "true" and retry.json()["id"] == first.json()["id"]
    assert DocumentMigration.objects.count() == 1
    other = admin_client.post(URL, {**BODY, "batch_size": 7}, format="json", HTTP_IDEMPOTENCY_KEY="migrate-extra-1")
    _error(other, 409, "IDEMPOTENCY_KEY_REUSED")
    assert DocumentMigration.objects.count() == 1


def test_the_list_filters_by_subject_and_status(admin_client, register_v2, run_tasks):
    _projects(1, 预算="1")
    register_v2()
    with run_tasks():
        done = admin_client.post(URL, BODY, format="json").json()
    assert admin_client.get(URL, {"subject": "project.extra"}).json()["migrations"][0]["id"] == done["id"]
    assert admin_client.get(URL, {"subject": "user.profile"}).json()["migrations"] == []
    assert [m["id"] for m in admin_client.get(URL, {"status": "succeeded"}).json()["migrations"]] == [done["id"]]
    _error(admin_client.get(URL, {"status": "finished"}), 400, "INVALID_INPUT")


# --- refusals ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "subject": "no.such.subject"}, "subject"),
        ({**BODY, "subject": ""}, "subject"),
        ({**BODY, "subject": 5}, "subject"),
        ({k: v for k, v in BODY.items() if k != "subject"}, "subject"),
        ({**BODY, "from": "one"}, "from"),
        ({**BODY, "from": 0}, "from"),
        ({**BODY, "from": 2**31}, "from"),
        ({k: v for k, v in BODY.items() if k != "from"}, "from"),
        ({**BODY, "to": 9}, "to"),
        ({**BODY, "to": 1}, "to"),
        ({**BODY, "to": None}, "to"),
        ({**BODY, "abort_threshold": 101}, "abort_threshold"),
        ({**BODY, "abort_threshold": -1}, "abort_threshold"),
        ({**BODY, "batch_size": 0}, "batch_size"),
        ({**BODY, "batch_size": 10**30}, "batch_size"),
        ({**BODY, "dry_run": "perhaps"}, "dry_run"),
        ({**BODY, "defer": [True]}, "defer"),
    ],
)
def test_a_bad_migration_request_is_a_400_naming_its_field(admin_client, register_v2, body, field):
    _projects(1)
    register_v2()
    before = _documents()
    for dry_run in (False, True):
        sent = body if "dry_run" in body else {**body, "dry_run": dry_run}
        response = admin_client.post(URL, sent, format="json")
        assert _error(response, 400, "INVALID_INPUT")["details"]["field"] == field
    assert not DocumentMigration.objects.exists() and _documents() == before


@pytest.mark.parametrize(
    ("plan", "field"),
    [
        ([{"op": "explode"}], "plan.0.op"),
        ([{"path": "a"}], "plan.0.op"),
        ([*PLAN, {"op": "add_field"}], "plan.3.path"),
        ([PLAN[0], "rename"], "plan.1"),
        ({"op": "add_field"}, "plan"),
    ],
)
def test_a_bad_plan_is_a_400_plan_invalid_naming_the_operation(admin_client, register_v2, plan, field):
    _projects(1)
    register_v2()
    for dry_run in (True, False):
        response = admin_client.post(URL, {**BODY, "plan": plan, "dry_run": dry_run}, format="json")
        body = _error(response, 400, "PLAN_INVALID")
        assert body["details"]["field"] == field, body
        assert body["details"]["message"] and body["details"]["errors"][field]
    assert not DocumentMigration.objects.exists()


def test_a_plan_too_deep_to_store_and_answer_back_is_refused(admin_client, register_v2):
    _projects(1)
    register_v2()
    deep = [{"op": "add_field", "path": "x", "default": [[[[[]]]]]}]
    for _ in range(70):
        deep[0]["default"] = [deep[0]["default"]]
    response = admin_client.post(URL, {**BODY, "plan": deep}, format="json")
    assert _error(response, 400, "INVALID_INPUT")["details"]["field"] == "plan"
    assert not DocumentMigration.objects.exists()


def test_a_plan_path_too_deep_to_render_is_refused(admin_client, register_v2):
    _projects(1)
    register_v2()
    admin_client.raise_request_exception = False
    plan = [{"op": "add_field", "path": ".".join(["p"] * 300), "default": 1}]
    response = admin_client.post(URL, {**BODY, "plan": plan, "dry_run": True}, format="json")
    assert response.status_code == 400


def test_a_subject_without_stored_documents_cannot_be_migrated(admin_client):
    body = {"subject": "algorithm.ridge.hyperparameters", "from": 1, "to": 1, "plan": []}
    _error(admin_client.post(URL, body, format="json"), 409, "SUBJECT_HAS_NO_DOCUMENTS")
    assert not DocumentMigration.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", URL),
        ("post", URL),
        ("get", f"{URL}/{{id}}"),
        ("get", f"{URL}/{{id}}/log"),
        ("post", f"{URL}/{{id}}/rollback"),
        ("options", URL),
        ("options", f"{URL}/{{id}}"),
        ("post", f"{EXTRA}/compatibility"),
        ("get", f"{EXTRA}/migration-plan?from=1&to=2"),
    ],
)
def test_admin_only_routes_refuse_users_and_anonymous_callers(
    api_client, user_client, admin, register_v2, method, path
):
    _projects(1)
    v2 = register_v2()
    migration = services.migration_create(subject=v2, from_number=1, to_number=2, plan=PLAN, actor=admin, defer=True)
    path = path.replace("{id}", str(migration.id))
    data = {**BODY, "dry_run": True, "schema": V2}
    _error(getattr(user_client, method)(path, data, format="json"), 403, "PERMISSION_DENIED")
    _error(getattr(api_client, method)(path, data, format="json"), 401, "NOT_AUTHENTICATED")
    migration.refresh_from_db()
    assert migration.status == "pending" and DocumentMigration.objects.count() == 1


def test_an_unknown_migration_is_a_404(admin_client):
    for path in (f"{URL}/999", f"{URL}/999/log"):
        _error(admin_client.get(path), 404, "NOT_FOUND")
    _error(admin_client.post(f"{URL}/999/rollback"), 404, "NOT_FOUND")


def test_options_describes_what_an_admin_sends(admin_client):
    response = admin_client.options(URL)
    assert response.status_code == 200
    fields = response.json()["actions"]["POST"]
    assert {"subject", "from", "to", "plan", "dry_run", "abort_threshold", "batch_size", "defer"} == set(fields)
    assert fields["subject"]["required"] and fields["from"]["required"] and not fields["plan"]["required"]


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_migration_refusals_speak_chinese_to_chinese_clients(admin_client, register_v2):
    _projects(1)
    register_v2()
    zh = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}
    bad_plan = admin_client.post(URL, {**BODY, "plan": [{"op": "explode"}]}, format="json", **zh)
    assert _chinese(_error(bad_plan, 400, "PLAN_INVALID")["message"])
    unknown = admin_client.post(URL, {**BODY, "subject": "no.such"}, format="json", **zh)
    assert _chinese(_error(unknown, 400, "INVALID_INPUT")["message"])
    pending = admin_client.post(URL, {**BODY, "defer": True}, format="json").json()
    active = admin_client.post(URL, BODY, format="json", **zh)
    assert _chinese(_error(active, 409, "MIGRATION_ACTIVE")["message"])
    assert admin_client.post(f"{URL}/{pending['id']}/rollback").status_code == 202
    again = admin_client.post(f"{URL}/{pending['id']}/rollback", **zh)
    assert _chinese(_error(again, 409, "MIGRATION_NOT_ROLLBACKABLE")["message"])
    english = admin_client.post(f"{URL}/{pending['id']}/rollback", HTTP_ACCEPT_LANGUAGE="en")
    assert not _chinese(_error(english, 409, "MIGRATION_NOT_ROLLBACKABLE")["message"])


@pytest.mark.parametrize("field", ["defer", "dry_run"])
def test_migration_flags_are_json_booleans_only(admin_client, register_v2, field):
    register_v2()
    response = admin_client.post(URL, {**BODY, field: 0}, format="json")
    assert _error(response, 400, "INVALID_INPUT")["details"]["field"] == field
    assert not DocumentMigration.objects.exists()


@pytest.mark.parametrize("value", [False, True, "5", None])
def test_the_abort_threshold_is_a_json_number_only(admin_client, register_v2, value):
    register_v2()
    response = admin_client.post(URL, {**BODY, "abort_threshold": value}, format="json")
    assert _error(response, 400, "INVALID_INPUT")["details"]["field"] == "abort_threshold"
