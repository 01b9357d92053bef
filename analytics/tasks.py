"""Celery entry points of analytics: an export's run and the exports sweeper, thin wrappers over the services.
A run is safe to deliver twice (acks late: a worker lost mid-run has its task delivered again), because the
service reloads the export, returns when it is finished and stores each attempt's file under its own name."""

from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django.conf import settings

from . import services

# Exports are streamed from the database; a million rows take a minute or two. The limits stop a run that hangs.
SOFT_LIMIT, HARD_LIMIT = 1800, 1900


@shared_task(
    bind=True,
    name="analytics.export_run",
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=SOFT_LIMIT,
    time_limit=HARD_LIMIT,
)
def export_run(self: Task, export_id: int) -> None:
    services.export_run(export_id=export_id, task_id=self.request.id or "")


@shared_task(name="analytics.exports_sweep", soft_time_limit=60, time_limit=90)
def exports_sweep(requeue_all: bool = False) -> dict[str, int]:
    # The embedded worker is the only one: when it starts, every waiting export lost its task (or its worker).
    return services.exports_sweep(stale_after=timedelta(0) if requeue_all else None)


@worker_ready.connect(dispatch_uid="analytics.sweep_on_worker_ready")
def sweep_on_worker_ready(**kwargs: Any) -> None:
    exports_sweep.delay(requeue_all=bool(settings.CELERY_EMBEDDED_WORKER))
