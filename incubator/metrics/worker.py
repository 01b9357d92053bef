"""Celery's side of the metrics: task outcomes and durations from the task signals (in the pool processes,
which write to the machine's multiprocess folder), the folder's housekeeping, and, with CELERY_METRICS_PORT,
an HTTP endpoint of the worker's own for a machine that runs no web server."""

import logging
import os
import time
from typing import Any

from celery import signals

from . import CELERY_TASK_DURATION, CELERY_TASKS, MULTIPROCESS, process_gone
from .files import sweep_dead_processes

logger = logging.getLogger(__name__)

_started: dict[str, float] = {}


def _name(task: Any) -> str:
    return str(getattr(task, "name", None) or "<unknown>")


def _ended(task_id: str | None, name: str, outcome: str | None) -> None:
    """An outcome (once per task run), and the run's duration where it started in this process."""
    if outcome is not None:
        CELERY_TASKS.labels(name, outcome).inc()
    started = _started.pop(task_id, None) if task_id else None
    if started is not None:
        CELERY_TASK_DURATION.labels(name).observe(time.perf_counter() - started)


@signals.task_prerun.connect(dispatch_uid="incubator.metrics.task_prerun")
def _task_started(task_id: str | None = None, **kwargs: Any) -> None:
    if task_id:
        _started[task_id] = time.perf_counter()


@signals.task_success.connect(dispatch_uid="incubator.metrics.task_success")
def _task_succeeded(sender: Any = None, **kwargs: Any) -> None:
    _ended(getattr(getattr(sender, "request", None), "id", None), _name(sender), "succeeded")


# Sent in the pool process for an exception, in the main process for a hard time limit or a lost pool process.
@signals.task_failure.connect(dispatch_uid="incubator.metrics.task_failure")
def _task_failed(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    _ended(task_id, _name(sender), "failed")


@signals.task_retry.connect(dispatch_uid="incubator.metrics.task_retry")
def _task_retried(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    _ended(getattr(request, "id", None), _name(sender), "retried")


@signals.task_postrun.connect(dispatch_uid="incubator.metrics.task_postrun")
def _task_ran(task_id: str | None = None, task: Any = None, **kwargs: Any) -> None:
    # The outcome came with its own signal; a task that dropped itself (Ignore, Reject with requeue) has none.
    _ended(task_id, _name(task), None)


@signals.task_revoked.connect(dispatch_uid="incubator.metrics.task_revoked")
def _task_revoked(request: Any = None, **kwargs: Any) -> None:
    CELERY_TASKS.labels(str(getattr(request, "task_name", None) or "<unknown>"), "revoked").inc()


@signals.task_rejected.connect(dispatch_uid="incubator.metrics.task_rejected")
def _task_rejected(message: Any = None, **kwargs: Any) -> None:
    """A message the worker could not take (an unknown task, a bad body): dropped. Its name, unless it is a
    registered task, is not a label: anything that can write to the broker could make up names."""
    from celery import current_app

    name = (getattr(message, "headers", None) or {}).get("task")
    CELERY_TASKS.labels(name if name in current_app.tasks else "<unknown>", "rejected").inc()


@signals.worker_init.connect(dispatch_uid="incubator.metrics.worker_init")
def _worker_starting(**kwargs: Any) -> None:
    if MULTIPROCESS:
        sweep_dead_processes()


@signals.worker_process_shutdown.connect(dispatch_uid="incubator.metrics.worker_process_shutdown")
def _pool_process_ending(pid: int | None = None, **kwargs: Any) -> None:
    # Pool processes leave with os._exit: no atexit, so their live gauges are marked here.
    process_gone(pid or os.getpid())


@signals.worker_ready.connect(dispatch_uid="incubator.metrics.worker_ready")
def _serve_metrics(**kwargs: Any) -> None:
    """In the worker's main process: the machine's metrics on CELERY_METRICS_PORT. A second worker of the same
    machine finds the port taken and serves nothing: the first already shows the same folder."""
    from django.conf import settings

    port = settings.METRICS_CELERY_PORT
    if not port:
        return
    if not MULTIPROCESS:
        logger.warning("CELERY_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: the pool processes' metrics are there")
        return
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    try:
        start_http_server(port, addr=settings.METRICS_CELERY_ADDR, registry=registry)
    except OSError as exc:
        logger.warning("celery metrics: %s:%s not served (%s)", settings.METRICS_CELERY_ADDR, port, exc)
        return
    logger.info("celery metrics on http://%s:%s/metrics", settings.METRICS_CELERY_ADDR, port)
