"""The registry's services against the database: versions, validation of project `extra` on write, and document
migrations (dry run, run, failures under and over the abort threshold, rollback, resume after a crash)."""

import pytest

from accounts.tests.factories import UserFactory
from incubator.errors import InvalidInput
from incubator.events.models import Event
from projects import services as project_services
from projects.models import Project
from projects.tests.factories import make_project
from schema_registry import services
from schema_registry.errors import (
    MigrationActive,
    MigrationNotRollbackable,
    PlanInvalid,
    SchemaIncompatible,
    SchemaInvalid,
    SchemaVersionInUse,
    SchemaVersionLast,
    SubjectHasNoDocuments,
    SubjectManaged,
)
from schema_registry.models import DocumentBackup, DocumentMigration, MigrationLogEntry, SchemaVersion, Subject
from schema_registry.selectors import registry_bundle, subject_get

pytestmark = pytest.mark.django_db

V2 = {
    "type": "object",
    "properties": {
        "budget": {"type": "number", "minimum": 0},
        "stage": {"enum": ["idea", "prototype", "pilot"]},
        "联系人": {"type": "object", "properties": {"电话": {"type": "string"}}},
    },
}
PLAN = [
    {"op": "rename_field", "path": "预算", "to": "budget"},
    {"op": "change_type", "path": "budget", "to": "number"},
    {"op": "add_field", "path": "stage", "default": "idea"},
]


@pytest.fixture
def admin():
    return UserFactory(is_staff=True)


@pytest.fixture
def extra():
    return subject_get(name="project.extra")


def _open(subject: Subject, admin) -> Subject:
    return services.subject_update(subject=subject, actor=admin, data={"compatibility": "NONE"})


def _projects(n: int, **extra) -> list[Project]:
    owner = UserFactory()
    return [make_project(owner, name=f"项目{i}", extra=dict(extra, 序号=i)) for i in range(n)]


def _register_v2(extra_subject, admin) -> SchemaVersion:
    version, created = services.schema_version_register(subject=_open(extra_subject, admin), schema=V2, actor=admin)
    assert created and version.number == 2
    return version


# --- subjects and versions ----------------------------------------------------------------------------------


def test_declared_subjects_exist_with_their_first_version_after_migrate(extra):
    names = set(Subject.objects.values_list("name", flat=True))
    assert {"project.extra", "dataset.metadata", "user.profile"} <= names
    assert "algorithm.random_forest_classifier.hyperparameters" in names
    assert extra.current_number == 1 and extra.versions.get().schema["type"] == "object"
    managed = Subject.objects.get(name="algorithm.random_forest_classifier.hyperparameters")
    assert managed.managed and managed.versions.get().schema["additionalProperties"] is False


def test_a_managed_subject_refuses_versions_from_people(admin):
    managed = Subject.objects.get(name="algorithm.ridge.hyperparameters")
    with pytest.raises(SubjectManaged):
        services.schema_version_register(subject=managed, schema={"type": "object"}, actor=admin)


def test_registering_the_same_schema_again_returns_the_existing_version(extra, admin):
    first = _register_v2(extra, admin)
    again, created = services.schema_version_register(subject=extra, schema=dict(V2), actor=admin)
    assert (again.pk, created) == (first.pk, False)
    assert extra.versions.count() == 2


def test_an_incompatible_schema_is_refused_with_every_problem_and_nothing_registered(extra, admin):
    _register_v2(extra, admin)
    # Under the default BACKWARD mode, a reader on the new schema must accept what the previous one allowed.
    extra = services.subject_update(subject=extra, actor=admin, data={"compatibility": "BACKWARD"})
    narrower = {**V2, "required": ["budget"], "additionalProperties": False}
    with pytest.raises(SchemaIncompatible) as caught:
        services.schema_version_register(subject=extra, schema=narrower, actor=admin)
    problems = caught.value.details["incompatibilities"]
    assert caught.value.details["compatibility"] == "BACKWARD"
    assert {(p["path"], p["reason"]) for p in problems} >= {("$.budget", "property_now_required")}
    assert extra.versions.count() == 2
    extra.refresh_from_db()
    assert extra.current_number == 2


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "objekt"}, "schema.type"),
        ({"properties": {"a": {"minimum": "zero"}}}, "schema.properties.a.minimum"),
        ({"properties": {"a": {"$ref": "https://example.com/remote.json"}}}, "schema.properties.a.$ref"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "schema.properties.a.$ref"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "schema.$schema"),
        ([], "schema"),
    ],
)
def test_an_invalid_schema_names_the_path_of_the_meta_schema_error(extra, admin, schema, field):
    with pytest.raises(SchemaInvalid) as caught:
        services.schema_version_register(subject=extra, schema=schema, actor=admin)
    assert caught.value.details["field"] == field
    assert caught.value.details["message"]
    assert extra.versions.count() == 1


def test_the_bundle_changes_its_etag_with_a_new_version(extra, admin):
    body, etag = registry_bundle()
    assert registry_bundle()[1] == etag
    _register_v2(extra, admin)
    body2, etag2 = registry_bundle()
    assert etag2 != etag
    shown = {row["subject"]: row for row in body2["subjects"]}
    assert shown["project.extra"]["version"] == 2 and shown["project.extra"]["schema"] == V2


def test_a_version_with_documents_cannot_be_deleted_and_the_count_is_named(extra, admin):
    _projects(3)
    _register_v2(extra, admin)
    with pytest.raises(SchemaVersionInUse) as caught:
        services.schema_version_delete(version=extra.versions.get(number=1), actor=admin)
    assert caught.value.details["documents"] == 3
    services.schema_version_delete(version=extra.versions.get(number=2), actor=admin)  # unused: deleted
    extra.refresh_from_db()
    assert extra.current_number == 1
    with pytest.raises(SchemaVersionLast):
        services.schema_version_delete(version=extra.versions.get(number=1), actor=admin)


# --- validation on write ------------------------------------------------------------------------------------


def test_project_extra_is_validated_on_write_and_stamped_with_the_version(extra, admin):
    owner = UserFactory()
    project = make_project(owner, extra={"预算": "12"})
    assert project.schema_version == 1
    _register_v2(extra, admin)
    with pytest.raises(InvalidInput) as caught:
        project_services.project_update(project=project, actor=owner, data={"extra": {"budget": -1, "stage": "x"}})
    assert caught.value.details["field"] == "extra.budget"
    assert set(caught.value.details["errors"]) == {"extra.budget", "extra.stage"}
    project.refresh_from_db()
    assert project.extra == {"预算": "12"} and project.schema_version == 1
    updated = project_services.project_update(project=project, actor=owner, data={"extra": {"budget": 3.5}})
    assert updated.schema_version == 2
    with pytest.raises(InvalidInput) as caught:
        make_project(owner, extra=[1])
    assert caught.value.details["field"] == "extra"


def test_a_nested_error_names_its_whole_path(extra, admin):
    _register_v2(extra, admin)
    with pytest.raises(InvalidInput) as caught:
        make_project(UserFactory(), extra={"联系人": {"电话": 138}})
    assert caught.value.details["field"] == "extra.联系人.电话"


# --- migrations: dry run ------------------------------------------------------------------------------------


def test_a_dry_run_reports_changes_samples_and_failures_and_writes_nothing(extra, admin):
    projects = _projects(4, 预算="100")
    Project.objects.filter(pk=projects[3].pk).update(extra={"预算": "很多"})  # cannot become a number
    _register_v2(extra, admin)
    before = list(Project.objects.order_by("pk").values_list("extra", "schema_version"))
    events = Event.objects.count()
    report = services.migration_dry_run(subject=extra, from_number=1, to_number=2, plan=PLAN)
    assert (report["total"], report["changed"], report["failed"]) == (4, 3, 1)
    assert report["failures"][0]["document_id"] == projects[3].pk
    assert report["failures"][0]["path"] == "$.budget"
    sample = report["samples"][0]
    assert sample["after"] == {"budget": 100, "stage": "idea", "序号": 0}
    assert {"op": "add", "path": "/stage", "value": "idea"} in sample["diff"]
    assert list(Project.objects.order_by("pk").values_list("extra", "schema_version")) == before
    assert Event.objects.count() == events
    assert not DocumentMigration.objects.exists() and not DocumentBackup.objects.exists()


def test_a_plan_that_is_not_valid_is_refused_with_its_index(extra, admin):
    _register_v2(extra, admin)
    with pytest.raises(PlanInvalid) as caught:
        services.migration_dry_run(subject=extra, from_number=1, to_number=2, plan=[*PLAN, {"op": "explode"}])
    assert caught.value.details["field"].startswith("plan.3")
    with pytest.raises(InvalidInput):
        services.migration_dry_run(subject=extra, from_number=1, to_number=9, plan=PLAN)
    with pytest.raises(SubjectHasNoDocuments):
        services.migration_dry_run(
            subject=Subject.objects.get(name="algorithm.ridge.hyperparameters"), from_number=1, to_number=1, plan=[]
        )


def test_the_proposed_plan_is_used_when_none_is_given(extra, admin):
    _projects(2)
    _register_v2(extra, admin)
    report = services.migration_dry_run(subject=extra, from_number=1, to_number=2, plan=None)
    assert report["plan"] == services.migration_plan_propose(subject=extra, from_number=1, to_number=2)


# --- migrations: runs ---------------------------------------------------------------------------------------


def _migrate(extra, admin, **options) -> DocumentMigration:
    migration = services.migration_create(
        subject=extra, from_number=1, to_number=2, plan=options.pop("plan", PLAN), actor=admin, **options
    )
    migration.refresh_from_db()  # eager tasks ran it on commit
    return migration


def test_a_run_migrates_every_document_keeps_backups_and_reports_progress(
    extra, admin, django_capture_on_commit_callbacks
):
    projects = _projects(5, 预算="7")
    _register_v2(extra, admin)
    with django_capture_on_commit_callbacks(execute=True):
        migration = _migrate(extra, admin, batch_size=2)
    migration.refresh_from_db()
    assert migration.status == "succeeded"
    assert (migration.total, migration.processed, migration.changed, migration.failed) == (5, 5, 5, 0)
    rows = dict(Project.objects.values_list("pk", "extra"))
    assert rows[projects[2].pk] == {"budget": 7, "stage": "idea", "序号": 2}
    assert set(Project.objects.values_list("schema_version", flat=True)) == {2}
    assert DocumentBackup.objects.filter(migration=migration).count() == 5
    progress = Event.objects.filter(topic=f"schema_migration:{migration.id}", type="schema_migration.progress")
    assert progress.count() == 3  # batches of 2, 2 and 1
    statuses = Event.objects.filter(topic=f"schema_migration:{migration.id}", type="schema_migration.status")
    assert [event.payload["status"] for event in statuses.order_by("id")] == ["pending", "running", "succeeded"]


def test_failures_under_the_threshold_are_logged_and_left_as_they_were(
    extra, admin, django_capture_on_commit_callbacks
):
    projects = _projects(10, 预算="1")
    Project.objects.filter(pk=projects[4].pk).update(extra={"预算": "很多"})
    _register_v2(extra, admin)
    with django_capture_on_commit_callbacks(execute=True):
        migration = _migrate(extra, admin, abort_threshold=10, batch_size=3)
    migration.refresh_from_db()
    assert migration.status == "succeeded" and (migration.changed, migration.failed) == (9, 1)
    failed = Project.objects.get(pk=projects[4].pk)
    assert (failed.extra, failed.schema_version) == ({"预算": "很多"}, 1)
    entry = MigrationLogEntry.objects.get(migration=migration, level="error")
    assert (entry.document_id, entry.path) == (projects[4].pk, "$.budget")


def test_failures_over_the_threshold_abort_and_restore_everything(extra, admin, django_capture_on_commit_callbacks):
    projects = _projects(10, 预算="1")
    Project.objects.filter(pk__in=[p.pk for p in projects[7:]]).update(extra={"预算": "很多"})  # 30% fail
    before = dict(Project.objects.values_list("pk", "extra"))
    _register_v2(extra, admin)
    with django_capture_on_commit_callbacks(execute=True):
        migration = _migrate(extra, admin, abort_threshold=20, batch_size=3)
    migration.refresh_from_db()
    assert migration.status == "aborted" and migration.error_code == "ABORT_THRESHOLD"
    assert dict(Project.objects.values_list("pk", "extra")) == before
    assert set(Project.objects.values_list("schema_version", flat=True)) == {1}
    assert migration.restored == 7


def test_a_rollback_restores_documents_exactly_and_leaves_later_changes(
    extra, admin, django_capture_on_commit_callbacks
):
    projects = _projects(4, 预算="3")
    Project.objects.filter(pk=projects[0].pk).update(extra={"预算": "3", "nested": {"a": [1, {"b": None}]}})
    before = dict(Project.objects.values_list("pk", "extra"))
    _register_v2(extra, admin)
    with django_capture_on_commit_callbacks(execute=True):
        migration = _migrate(extra, admin)
    owner = projects[1].owner
    project_services.project_update(project=projects[1], actor=owner, data={"extra": {"budget": 99}})
    with django_capture_on_commit_callbacks(execute=True):
        services.migration_rollback(migration=migration, actor=admin)
    migration.refresh_from_db()
    assert migration.status == "rolled_back" and migration.restored == 3
    after = dict(Project.objects.values_list("pk", "extra"))
    for project in projects:
        expected = {"budget": 99} if project is projects[1] else before[project.pk]
        assert after[project.pk] == expected
    assert Project.objects.get(pk=projects[0].pk).schema_version == 1
    skipped = MigrationLogEntry.objects.get(migration=migration, level="warning")
    assert skipped.document_id == projects[1].pk
    with pytest.raises(MigrationNotRollbackable):
        services.migration_rollback(migration=migration, actor=admin)


class Crash(BaseException):
    """A worker killed mid-batch: not an Exception, so nothing marks the migration failed."""


def test_a_run_killed_mid_batch_resumes_after_its_last_whole_batch_and_never_repeats_one(
    extra, admin, monkeypatch, django_capture_on_commit_callbacks
):
    _projects(7, 预算="5")
    _register_v2(extra, admin)
    # Not idempotent: applied twice, "a" would become "c".
    plan = [{"op": "map_values", "path": "序号", "mapping": [{"from": i, "to": i + 1} for i in range(10)]}]
    migration = services.migration_create(
        subject=extra, from_number=1, to_number=2, plan=plan, actor=admin, batch_size=3, defer=True
    )
    real = services._migrate_one
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:  # the second document of the second batch
            raise Crash()
        return real(*args, **kwargs)

    monkeypatch.setattr(services, "_migrate_one", dying)
    with pytest.raises(Crash):
        services.migration_run(migration_id=migration.id)
    migration.refresh_from_db()
    assert migration.status == "running" and migration.processed == 3
    assert DocumentBackup.objects.filter(migration=migration).count() == 3
    monkeypatch.setattr(services, "_migrate_one", real)
    # The sweeper finds it silent and sends it again.
    with django_capture_on_commit_callbacks(execute=True):
        assert services.migrations_sweep(stale_after_seconds=0) == {"runs": 1, "rollbacks": 0}
    migration.refresh_from_db()
    assert migration.status == "succeeded" and migration.processed == 7
    assert sorted(Project.objects.values_list("extra__序号", flat=True)) == [1, 2, 3, 4, 5, 6, 7]
    assert DocumentBackup.objects.filter(migration=migration).count() == 7
    # The resumption is logged (a warning about no document), in the worker's language.
    assert MigrationLogEntry.objects.filter(migration=migration, level="warning", document_id=None).count() == 1


def test_one_migration_of_a_subject_at_a_time(extra, admin):
    _projects(1)
    _register_v2(extra, admin)
    first = services.migration_create(subject=extra, from_number=1, to_number=2, plan=PLAN, actor=admin, defer=True)
    with pytest.raises(MigrationActive) as caught:
        services.migration_create(subject=extra, from_number=1, to_number=2, plan=PLAN, actor=admin)
    assert caught.value.details["migration_id"] == first.id


def test_an_unexpected_error_fails_the_migration_with_its_message(extra, admin, monkeypatch):
    _projects(2)
    _register_v2(extra, admin)
    migration = services.migration_create(subject=extra, from_number=1, to_number=2, plan=PLAN, actor=admin, defer=True)

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_migrate_one", broken)
    services.migration_run(migration_id=migration.id)
    migration.refresh_from_db()
    assert migration.status == "failed" and "disk on fire" in migration.error_message
    assert not DocumentBackup.objects.filter(migration=migration).exists()


def test_documents_keep_large_numbers_and_unicode_through_a_run_and_a_rollback(
    extra, admin, django_capture_on_commit_callbacks
):
    kept = {"预算": "1", "大数": 2**62, "说明": "中文 \u2028 emoji 🚀", "nested": [{"x": -(2**63)}]}
    project = make_project(UserFactory(), extra=kept)
    # Stored before any check existed: a number no response can render. The run must not write it again.
    beyond = make_project(UserFactory(), extra={"预算": "2"})
    Project.objects.filter(pk=beyond.pk).update(extra={"预算": "2", "大数": 2**70})
    _register_v2(extra, admin)
    with django_capture_on_commit_callbacks(execute=True):
        migration = _migrate(extra, admin, abort_threshold=50)
    migration.refresh_from_db()
    assert migration.status == "succeeded" and migration.failed == 1
    project.refresh_from_db()
    assert project.extra == {**{k: v for k, v in kept.items() if k != "预算"}, "budget": 1, "stage": "idea"}
    beyond.refresh_from_db()
    assert beyond.schema_version == 1 and beyond.extra["大数"] == 2**70
    with django_capture_on_commit_callbacks(execute=True):
        services.migration_rollback(migration=migration, actor=admin)
    project.refresh_from_db()
    assert project.extra == kept and project.schema_version == 1


def test_a_write_that_changes_only_a_json_type_is_a_change_and_an_unchanged_one_keeps_its_stamp(extra, admin):
    owner = UserFactory()
    project = make_project(owner, extra={"a": 1})
    _register_v2(extra, admin)
    kept = project_services.project_update(project=project, actor=owner, data={"extra": {"a": 1}})
    assert kept.schema_version == 1  # unchanged: not validated again, not restamped
    changed = project_services.project_update(project=project, actor=owner, data={"extra": {"a": True}})
    assert changed.extra == {"a": True} and changed.schema_version == 2


def test_a_migrations_log_is_written_in_the_language_of_the_admin_who_created_it(
    extra, django_capture_on_commit_callbacks
):
    english = UserFactory(is_staff=True, locale="en")
    _projects(2)
    _register_v2(extra, english)
    with django_capture_on_commit_callbacks(execute=True):
        migration = services.migration_create(subject=extra, from_number=1, to_number=2, plan=PLAN, actor=english)
    messages = list(MigrationLogEntry.objects.filter(migration=migration).values_list("message", flat=True))
    assert messages[-1] == "Finished: 2 changed, 0 failed of 2."
