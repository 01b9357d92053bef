"""Celery entry points of datasets: each takes a version id and calls its service, which reloads the version
and returns quietly when the work is already done, so a retry or a duplicate delivery is harmless."""

from datetime import timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings

from . import services

# A 512 MB file converts in a few minutes here; the limits only stop a task that hangs.
SOFT_LIMIT, HARD_LIMIT = 1800, 1900


@shared_task(name="datasets.version_convert", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_convert(version_id: int) -> None:
    services.dataset_version_convert(version_id=version_id)


@shared_task(name="datasets.version_build", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_build(version_id: int) -> None:
    services.dataset_version_build(version_id=version_id)


@shared_task(name="datasets.version_profile", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_profile(version_id: int) -> None:
    services.dataset_version_profile(version_id=version_id)


@shared_task(name="datasets.version_export_csv", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_export_csv(version_id: int) -> None:
    services.dataset_version_export_csv(version_id=version_id)


@shared_task(name="datasets.requeue_stale", soft_time_limit=60, time_limit=90)
def requeue_stale() -> int:
    # The embedded worker is the only one: when it starts, every waiting version is stale (a duplicate is harmless).
    # A real broker redelivers a dead worker's tasks, so only versions older than a task's time limit are.
    stale_after = 0 if settings.CELERY_EMBEDDED_WORKER else HARD_LIMIT * 2
    return services.dataset_versions_requeue_stale(older_than=timedelta(seconds=stale_after))


@worker_ready.connect(dispatch_uid="datasets.requeue_on_worker_ready")
def requeue_on_worker_ready(**kwargs: object) -> None:
    """A worker that starts picks up the versions nobody is working on."""
    requeue_stale.delay()
