"""Document migrations on a real Celery worker (prefork, on the broker of CELERY_BROKER_URL and the test
database): a run and a rollback end to end, and a pool process killed mid-run, whose task is delivered again
and continues after the last committed batch. Skipped without a broker (CI runs them on Redis)."""

import os
import signal

import pytest

from accounts.tests.factories import UserFactory
from aimodels.tests.test_worker import wait_for, worker  # noqa: F401  (the worker fixture)
from projects.models import Project
from schema_registry import services
from schema_registry.models import DocumentBackup, DocumentMigration
from schema_registry.selectors import subject_get

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}, "v": {"enum": ["b", "c"]}}}
# Not idempotent: a document migrated twice would end with "c".
PLAN = [{"op": "map_values", "path": "v", "mapping": [{"from": "a", "to": "b"}, {"from": "b", "to": "c"}]}]


@pytest.fixture
def documents(worker):  # noqa: F811
    admin, owner = UserFactory(is_staff=True), UserFactory()
    count = 2000
    Project.objects.bulk_create(
        Project(name=f"文档{i}", owner=owner, extra={"n": i, "v": "a"}, schema_version=1) for i in range(count)
    )
    extra = services.subject_update(
        subject=subject_get(name="project.extra"), actor=admin, data={"compatibility": "NONE"}
    )
    services.schema_version_register(subject=extra, schema=SCHEMA, actor=admin)
    return extra, admin, count


def status_of(migration: DocumentMigration) -> str:
    return DocumentMigration.objects.values_list("status", flat=True).get(pk=migration.pk)


def test_a_migration_and_its_rollback_run_on_the_worker(documents):
    extra, admin, count = documents
    migration = services.migration_create(subject=extra, from_number=1, to_number=2, plan=PLAN, actor=admin)
    wait_for(lambda: status_of(migration) == "succeeded", 60, "the migration to succeed")
    assert set(Project.objects.values_list("extra__v", flat=True)) == {"b"}
    services.migration_rollback(migration=DocumentMigration.objects.get(pk=migration.pk), actor=admin)
    wait_for(lambda: status_of(migration) == "rolled_back", 60, "the rollback")
    assert set(Project.objects.values_list("extra__v", flat=True)) == {"a"}
    assert set(Project.objects.values_list("schema_version", flat=True)) == {1}


def test_a_pool_process_killed_mid_run_is_replaced_and_the_run_continues_without_repeating_a_batch(documents):
    from incubator.celery import app

    extra, admin, count = documents
    migration = services.migration_create(
        subject=extra, from_number=1, to_number=2, plan=PLAN, actor=admin, batch_size=5
    )
    wait_for(
        lambda: DocumentMigration.objects.values_list("processed", flat=True).get(pk=migration.pk) >= 100,
        60,
        "a few batches",
    )

    def running_pid():
        active = app.control.inspect(timeout=1).active() or {}
        for tasks in active.values():
            for task in tasks:
                if task["name"] == "schema_registry.migration_run":
                    return task["worker_pid"]
        return None

    pid = wait_for(running_pid, 30, "the task on a pool process")
    os.kill(pid, signal.SIGKILL)  # late acks + reject_on_worker_lost: the broker hands the task out again
    wait_for(lambda: status_of(migration) == "succeeded", 120, "the migration to finish after the kill")
    migration.refresh_from_db()
    assert migration.processed == count and migration.failed == 0
    assert set(Project.objects.values_list("extra__v", flat=True)) == {"b"}
    assert DocumentBackup.objects.filter(migration=migration).count() == count
    assert migration.log.filter(level="warning", document_id=None).exists()  # "resumed after document …"
