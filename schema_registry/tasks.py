"""Celery entry points of the schema registry: thin wrappers over the services. A run or a rollback is
resumable, so a redelivered task (acks late, after a worker was lost) just continues after the last batch."""

from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.utils import translation

from . import selectors, services


@shared_task(
    bind=True,
    name="schema_registry.migration_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 60,
)
def migration_run(self: Task, migration_id: int) -> None:
    with translation.override(selectors.migration_language(migration_id=migration_id)):
        services.migration_run(migration_id=migration_id, task_id=self.request.id or "")


@shared_task(
    bind=True,
    name="schema_registry.migration_rollback_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=6 * 3600,
    time_limit=6 * 3600 + 60,
)
def migration_rollback_run(self: Task, migration_id: int) -> None:
    with translation.override(selectors.migration_language(migration_id=migration_id)):
        services.migration_rollback_run(migration_id=migration_id, task_id=self.request.id or "")


@shared_task(name="schema_registry.migrations_sweep", soft_time_limit=60, time_limit=90)
def migrations_sweep(resume_all: bool = False) -> dict[str, int]:
    # The embedded worker is the only one: when it starts, every running migration lost its worker.
    stale = 0 if resume_all else settings.SCHEMA_MIGRATION_STALE_SECONDS
    return services.migrations_sweep(stale_after_seconds=stale)


@worker_ready.connect(dispatch_uid="schema_registry.sweep_on_worker_ready")
def sweep_on_worker_ready(**kwargs: Any) -> None:
    migrations_sweep.delay(resume_all=bool(settings.CELERY_EMBEDDED_WORKER))
