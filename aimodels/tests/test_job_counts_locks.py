"""The order of row locks around each project's job counts, on PostgreSQL: a status move holds its job's row when
it reaches the counts row, so no other transaction may hold the counts row while it waits for a job row. Each test
holds a cancel between the two (after the job's row, before the counts) while another transaction runs, then lets
it go: with the locks taken the other way round, PostgreSQL answers one of them "deadlock detected" (seen on the
first version: a project's deletion, and a new job dispatching the user's waiting ones)."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from aimodels import services
from projects import services as project_services

from .factories import spec

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _recorded(out: dict[str, str], name: str, action: Callable[[], Any]) -> None:
    """Runs `action` (in a thread of its own) and records in `out[name]` what its transaction got."""
    try:
        action()
        out[name] = "ok"
    except Exception as exc:  # noqa: BLE001 - what each transaction got is what the test inspects
        out[name] = f"{type(exc).__name__}: {exc}"
    finally:
        connection.close()


def _held_cancel_beside(job: Any, owner: Any, other: Callable[[], Any], monkeypatch: Any) -> dict[str, str]:
    """Cancels `job` in one thread, held after it has locked the job's row, while `other` runs in another."""
    release, out = threading.Event(), {}
    real = services._status_event

    def held(*args: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "cancel":
            release.wait(10)
        real(*args, **kwargs)

    monkeypatch.setattr(services, "_status_event", held)

    cancel = threading.Thread(
        name="cancel", target=_recorded, args=(out, "cancel", lambda: services.job_cancel(job=job, actor=owner))
    )
    second = threading.Thread(name="other", target=_recorded, args=(out, "other", other))
    cancel.start()
    time.sleep(0.5)  # the cancel holds the job's row
    second.start()
    time.sleep(1.0)  # the other transaction has gone as far as it can
    release.set()
    cancel.join(30)
    second.join(30)
    return out


def test_deleting_a_project_while_one_of_its_jobs_moves(project, owner, version, monkeypatch):
    with override_settings(AIMODELS_MAX_RUNNING_PER_USER=0):
        job = services.job_create(project=project, version=version, actor=owner, data=spec())
    out = _held_cancel_beside(
        job, owner, lambda: project_services.project_delete(project=project, actor=owner), monkeypatch
    )
    assert out == {"cancel": "ok", "other": "ok"}


def test_a_new_job_dispatching_a_waiting_one_that_is_being_cancelled(project, owner, version, monkeypatch):
    with override_settings(AIMODELS_MAX_RUNNING_PER_USER=0):
        waiting = services.job_create(project=project, version=version, actor=owner, data=spec())
    assert waiting.task_id == ""  # it waits for one of its user's running slots
    monkeypatch.setattr(services, "_send", lambda *args, **kwargs: None)
    with override_settings(AIMODELS_MAX_RUNNING_PER_USER=3):  # the new job's dispatch will take the waiting one
        out = _held_cancel_beside(
            waiting,
            owner,
            lambda: services.job_create(project=project, version=version, actor=owner, data=spec()),
            monkeypatch,
        )
    assert out == {"cancel": "ok", "other": "ok"}


def test_a_job_succeeding_while_another_member_starts_one(project, owner, version, monkeypatch):
    """The worker's success locks the project's row (to name the model) and reaches the counts last; a member's
    new job holds the counts and, as it commits, checks its foreign key to the project. With the project locked
    FOR UPDATE that check waited for the worker, which waited for the counts: PostgreSQL killed one of them, and a
    trained job failed with "deadlock detected" (an attacker's parallel POST /jobs). The project and the user are
    locked FOR NO KEY UPDATE, which leaves foreign-key checks alone."""
    from aimodels.models import TrainingJob
    from projects.tests.factories import add_member

    Status = TrainingJob.Status

    member = add_member(project, "maintainer")
    monkeypatch.setattr(services, "_send", lambda *args, **kwargs: None)
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    assert job.task_id  # sent: the worker below runs it
    release, out = threading.Event(), {}
    real = services._status_event

    def held(moved: Any, before: Any, **kwargs: Any) -> None:
        if threading.current_thread().name == "worker" and moved.status == Status.SUCCEEDED:
            release.wait(10)  # the project's and the job's rows are locked; the counts row is next
        real(moved, before, **kwargs)

    monkeypatch.setattr(services, "_status_event", held)

    worker = threading.Thread(
        name="worker",
        target=_recorded,
        args=(out, "worker", lambda: services.job_run(job_id=job.id, task_id=job.task_id, hostname="test@worker")),
    )
    other = threading.Thread(
        name="other",
        target=_recorded,
        args=(out, "other", lambda: services.job_create(project=project, version=version, actor=member, data=spec())),
    )
    worker.start()
    for _ in range(200):  # until the worker holds its locks
        if TrainingJob.objects.filter(pk=job.pk, status=Status.RUNNING, progress__gte=90).exists():
            break
        time.sleep(0.05)
    time.sleep(0.5)
    other.start()
    time.sleep(1.0)  # the new job has gone as far as it can
    release.set()
    worker.join(60)
    other.join(30)
    assert out == {"worker": "ok", "other": "ok"}
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED


def test_writers_lock_rows_for_no_key_update_and_deletions_for_update(project, owner, version, monkeypatch):
    """Rows locked only to serialize writers must not block other transactions' foreign-key checks (FOR KEY
    SHARE): FOR NO KEY UPDATE. Deletions keep FOR UPDATE, which a delete takes anyway."""
    from django.db import connection as default
    from django.test.utils import CaptureQueriesContext

    from datasets import services as dataset_services
    from projects import services as project_services

    monkeypatch.setattr(services, "_send", lambda *args, **kwargs: None)

    def locks(action: Callable[[], Any]) -> list[str]:
        with CaptureQueriesContext(default) as captured:
            action()
        return [query["sql"] for query in captured.captured_queries if " FOR " in query["sql"]]

    dataset = version.dataset
    writes = {
        "project_update": lambda: project_services.project_update(
            project=project, actor=owner, data={"description": "新"}
        ),
        "dataset_update": lambda: dataset_services.dataset_update(
            dataset=dataset, actor=owner, data={"description": "新"}
        ),
        "preprocess": lambda: dataset_services.dataset_version_preprocess(
            version=version, actor=owner, steps=[{"type": "deduplicate"}]
        ),
        "job_create": lambda: services.job_create(project=project, version=version, actor=owner, data=spec()),
    }
    for name, action in writes.items():
        taken = locks(action)
        assert taken and all("FOR NO KEY UPDATE" in sql for sql in taken), (name, taken)
    deleted = locks(lambda: project_services.project_delete(project=project, actor=owner))
    assert any("FOR UPDATE" in sql for sql in deleted), deleted
