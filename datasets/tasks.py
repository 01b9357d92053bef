"""Celery entry points of datasets: each takes a version id and calls its service, which reloads the version
and returns quietly when the work is already done, so a retry or a duplicate delivery is harmless."""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from celery import shared_task
from celery.signals import worker_ready
from django.conf import settings
from django.utils import timezone, translation

from incubator.celery import app as celery_app
from incubator.metrics import dataset_conversion_ended

from . import services
from .models import DatasetVersion

# A 512 MB file converts in a few minutes here; the limits only stop a task that hangs.
SOFT_LIMIT, HARD_LIMIT = 1800, 1900
# Work that found the storage out of reach is sent again after 30 s, then twice as long each time, up to 10 minutes
# apart, for as long as the version waits (requeue_stale would only find it after twice HARD_LIMIT).
AGAIN_SECONDS, AGAIN_MAX_SECONDS = 30, 600

logger = logging.getLogger(__name__)


# Every task takes keyword arguments it does not know (`later`): a newer release's web process may send one more
# than this worker knows, during a rolling deploy or after a rollback, and the task must still run. (This release's
# `language` is the first: a worker older than it fails such a message, and requeue_stale sends it again.)


@contextmanager
def _in(language: str | None) -> Iterator[None]:
    """The task's messages in `language`: the request's that sent it, which a worker's requeue reads from the
    version (DatasetVersion.language); the default one for a version or a message from before languages were
    recorded."""
    try:
        chosen = translation.get_supported_language_variant(language) if language else settings.LANGUAGE_CODE
    except LookupError:  # not one of LANGUAGES
        chosen = settings.LANGUAGE_CODE
    with translation.override(chosen):
        yield


def again(task_name: str | None, version_id: int, language: str | None, attempt: object) -> None:
    """The storage was out of reach (the service returned `task_name`): that task for this version in a while,
    each attempt waiting twice as long as the last. Not with eager tasks, where it would run at once, over and
    over: requeue_stale is the only retry there."""
    if task_name is None or celery_app.conf.task_always_eager:
        return
    tries = attempt if isinstance(attempt, int) and not isinstance(attempt, bool) and 0 <= attempt < 64 else 0
    countdown = min(AGAIN_MAX_SECONDS, AGAIN_SECONDS * 2 ** min(tries, 10))
    task = {"version_convert": version_convert, "version_build": version_build, "version_profile": version_profile}[
        task_name
    ]
    try:
        task.apply_async((version_id,), {"language": language, "attempt": tries + 1}, countdown=countdown)
    except Exception:  # noqa: BLE001 - the broker too is unreachable: requeue_stale sends it once a worker starts
        logger.warning("datasets: %s(%s) not sent again (broker unreachable)", task_name, version_id, exc_info=True)


@shared_task(name="datasets.version_convert", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_convert(version_id: int, language: str | None = None, **later: object) -> None:
    started, started_at = time.perf_counter(), timezone.now()
    waiting = DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.PROCESSING).exists()
    with _in(language):
        again(services.dataset_version_convert(version_id=version_id), version_id, language, later.get("attempt"))
    if waiting:  # a retry or a duplicate delivery that finds the version done converts nothing
        _conversion_measure(version_id, started, started_at)


def _conversion_measure(version_id: int, started: float, started_at: datetime) -> None:
    """incubator_dataset_conversions_total and its duration, for the version this task made ready or failed. A
    ready version's time ends at its ready_at: the profile that follows in the same task is not conversion."""
    version = DatasetVersion.objects.filter(pk=version_id).values("status", "ready_at").first()
    if version is None:
        return
    if version["status"] == DatasetVersion.Status.READY and version["ready_at"] and version["ready_at"] >= started_at:
        dataset_conversion_ended("succeeded", (version["ready_at"] - started_at).total_seconds())
    elif version["status"] == DatasetVersion.Status.FAILED:
        dataset_conversion_ended("failed", time.perf_counter() - started)


@shared_task(name="datasets.version_build", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_build(version_id: int, language: str | None = None, **later: object) -> None:
    with _in(language):
        again(services.dataset_version_build(version_id=version_id), version_id, language, later.get("attempt"))


@shared_task(name="datasets.version_profile", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_profile(version_id: int, language: str | None = None, **later: object) -> None:
    with _in(language):
        again(services.dataset_version_profile(version_id=version_id), version_id, language, later.get("attempt"))


@shared_task(name="datasets.version_export_csv", soft_time_limit=SOFT_LIMIT, time_limit=HARD_LIMIT)
def version_export_csv(version_id: int, language: str | None = None, **later: object) -> None:
    with _in(language):
        services.dataset_version_export_csv(version_id=version_id)


@shared_task(name="datasets.requeue_stale", soft_time_limit=60, time_limit=90)
def requeue_stale() -> int:
    # The embedded worker is the only one: when it starts, every waiting version is stale (a duplicate is harmless).
    # A real broker redelivers a dead worker's tasks, so only versions older than a task's time limit are.
    stale_after = 0 if settings.CELERY_EMBEDDED_WORKER else HARD_LIMIT * 2
    return services.dataset_versions_requeue_stale(older_than=timedelta(seconds=stale_after))


@shared_task(name="datasets.file_deletions_retry", soft_time_limit=240, time_limit=280)
def file_deletions_retry() -> int:
    return services.file_deletions_retry()


@shared_task(name="datasets.uploads_expire", soft_time_limit=240, time_limit=280)
def uploads_expire() -> int:
    return services.dataset_uploads_expire()


@worker_ready.connect(dispatch_uid="datasets.requeue_on_worker_ready")
def requeue_on_worker_ready(**kwargs: object) -> None:
    """A worker that starts picks up the versions nobody is working on."""
    requeue_stale.delay()
