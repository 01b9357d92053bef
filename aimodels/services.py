"""Every write on training jobs and models: validated, atomic, with outbox events; the training itself is done
by the `aimodels.job_run` task, which calls `job_run` below.

A job's life: `queued` (waiting for one of its user's running slots, then sent to the `training` queue),
`running` (a worker claimed it: heartbeat, progress, metrics, logs), then `succeeded` (a new model version),
`failed` (an error code and message; the worker's log keeps the stack trace) or `cancelled`. Every change of
state is a conditional write on the job's row, so a late worker, a duplicate delivery, a cancel racing the
end of training or the sweeper can never move a finished job again.
"""

import functools
import hashlib
import logging
import os
import signal
import tempfile
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from datasets import storage
from datasets.engine import messages
from datasets.models import DatasetVersion
from incubator.celery import app as celery_app
from incubator.errors import InvalidInput, NotFound
from incubator.events.services import event_record
from incubator.generations import generation_bump
from incubator.validation import json_storable
from projects.models import Project

from .algorithms import base as algorithms
from .engine import errors as engine_errors
from .engine import spec as job_spec
from .errors import JobNotCancellable, JobNotFinished, ModelHasVersions, ModelNameTaken, StageUnchanged
from .models import TIMED, JobLog, JobMetric, Model, ModelVersion, ProjectJobCounts, TrainingJob

logger = logging.getLogger(__name__)

JOBS_GENERATION = "aimodels.jobs"
MODELS_GENERATION = "aimodels.models"
Status = TrainingJob.Status
# How often a running job writes its progress, metric points and log lines (and their events): a chart that
# moves every second, not thousands of rows a minute.
FLUSH_SECONDS = 1.0
# Progress: loading and preparing the data is the first 10%, training up to 90%, evaluating and saving the rest.
TRAIN_FROM, TRAIN_TO = 10.0, 90.0
MAX_LOG_LINES = 2000
LOG_LANGUAGE = "en"  # the job log's (_log_text)


# --- events -------------------------------------------------------------------------------------------------


def _job_status_payload(job: TrainingJob) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": job.id,
        "project_id": job.project_id,
        "status": job.status,
        "progress": round(job.progress, 1),
        "stage": job.stage,
        "attempt": job.attempt,
    }
    if job.status == Status.FAILED:
        payload["error"] = {"code": job.error_code, "message": job.error_message}
    return payload


def _job_event(type_: str, job: TrainingJob, payload: dict[str, Any], *, actor_id: int | None = None) -> None:
    """The job's event; its stored texts (stage, a failure's message) reach each reader in their language."""
    translations = {"stage": job.translations.get("stage")} if "stage" in payload else {}
    if "error" in payload:
        translations["error.message"] = job.translations.get("error_message")
    event_record(
        type=type_,
        topic=f"job:{job.id}",
        subject_type="training_job",
        subject_id=job.id,
        payload=payload,
        actor_id=actor_id,
        translations=translations,
    )


JobState = tuple[str, bool]  # (status, timed)


def _job_state(job: TrainingJob) -> JobState:
    """Where a job counts in ProjectJobCounts: its status, and whether it is timed (succeeded, with a start and an
    end: a duration the overview's percentiles read)."""
    timed = job.status == Status.SUCCEEDED and job.started_at is not None and job.finished_at is not None
    return str(job.status), timed


def _status_event(job: TrainingJob, before: JobState | None, *, actor_id: int | None = None) -> None:
    """The job's status changed from `before` (None: it is new): its project's counts follow, its event is
    written, and the figures that count jobs are invalidated, all in the caller's transaction."""
    _job_counts_move(job.project_id, before, _job_state(job))
    _job_event("job.status", job, _job_status_payload(job), actor_id=actor_id)
    generation_bump(JOBS_GENERATION)


# --- job counts ---------------------------------------------------------------------------------------------


def _job_counts_move(project_id: int, before: JobState | None, after: JobState) -> None:
    """Moves one job of the project from `before` to `after` in ProjectJobCounts (the row is made with the
    project's first job). A concurrent first job of the same project made the row first: the update then finds
    it. Counts that would go below zero, or a missing row for a job that was there, mean the counts were changed
    by hand: the project's are counted again from its jobs.

    The counts row is locked until the transaction ends, so it is the last row a transaction waits for: every
    job row it will lock is locked before (a project's deletion locks its jobs first, signals.py; job_create
    dispatches before counting; _succeed locks the project before the job). The other order deadlocks
    against a status move, which holds its job's row when it reaches the counts (test_job_counts_locks.py)."""
    delta: dict[str, int] = {}
    for state, step in ((before, -1), (after, 1)):
        if state is not None:
            delta[state[0]] = delta.get(state[0], 0) + step
            if state[1]:
                delta["timed"] = delta.get("timed", 0) + step
    delta = {name: step for name, step in delta.items() if step}
    if not delta:
        return
    changes = {name: F(name) + step for name, step in delta.items()}
    for _attempt in range(2):
        try:
            with transaction.atomic():
                if ProjectJobCounts.objects.filter(project_id=project_id).update(**changes):
                    return
                ProjectJobCounts.objects.create(project_id=project_id, **delta)
                return
        except IntegrityError:
            continue
    try:
        with transaction.atomic():
            job_counts_rebuild(project_ids=[project_id])
    except IntegrityError:
        # Another transaction recounted the project at the same moment and made its row: this move, not yet
        # committed, is not in that count.
        ProjectJobCounts.objects.filter(project_id=project_id).update(**changes)


def job_counts_rebuild(*, project_ids: list[int] | None = None) -> int:
    """Counts the jobs of the given projects (all of them by default) again into ProjectJobCounts, in one
    transaction; returns the number of projects with jobs. The services keep the counts as jobs move: this is
    the repair (`manage.py jobs_recount`) and what loads them after rows were written without the services."""
    jobs = TrainingJob.objects.order_by()
    counts = ProjectJobCounts.objects.all()
    if project_ids is not None:
        jobs, counts = jobs.filter(project_id__in=project_ids), counts.filter(project_id__in=project_ids)
    rows = jobs.values("project_id").annotate(
        **{str(status): Count("pk", filter=Q(status=status)) for status in Status.values},
        timed=Count("pk", filter=TIMED),
    )
    with transaction.atomic():
        counts.delete()
        made = ProjectJobCounts.objects.bulk_create([ProjectJobCounts(**row) for row in rows], batch_size=2000)
    return len(made)


def _log(job_id: int, level: str, message: str) -> None:
    """One log line, written now (outside the training loop, where the Reporter batches them)."""
    with transaction.atomic():
        # The write first: it locks the row (PostgreSQL) or the database (SQLite), so the number read next is this
        # line's own, whatever a worker's flush or another request does at the same moment.
        taken = TrainingJob.objects.filter(pk=job_id, log_lines__lt=MAX_LOG_LINES).update(log_lines=F("log_lines") + 1)
        if not taken:
            return
        seq = TrainingJob.objects.filter(pk=job_id).values_list("log_lines", flat=True).get()
        JobLog.objects.create(job_id=job_id, seq=seq, ts=timezone.now(), level=level, message=message[:4000])


# --- creating jobs ------------------------------------------------------------------------------------------


def _time_limit(value: Any) -> int:
    return settings.AIMODELS_DEFAULT_TIME_LIMIT if value is None else int(value)


def _job_spec(*, project: Project, version: DatasetVersion, data: dict[str, Any]) -> dict[str, Any]:
    """The validated spec of a new job, or InvalidInput naming the field (hyperparameters by JSON path)."""
    if version.dataset.project_id != project.id:
        raise InvalidInput({"dataset": [_("This dataset is not in this project.")]})
    if version.status != DatasetVersion.Status.READY:
        raise InvalidInput({"dataset_version": [_("This version is not ready: it is still processing or it failed.")]})
    algorithm = algorithms.get(data["algorithm"])
    if algorithm is None:
        raise InvalidInput({"algorithm": [_("No such algorithm; GET /api/v1/algorithms lists them.")]})
    try:
        hyperparameters = algorithms.validate(algorithm, data.get("hyperparameters"))
    except algorithms.HyperparameterError as exc:
        raise InvalidInput({exc.path: [exc.message]}) from exc
    validation = data.get("validation")
    split_column = None
    if validation == "split":
        split_column, validation = data.get("split_column") or "split", None
    elif validation is None:
        validation = 0.2
    target = data.get("target") or None
    features, errors = job_spec.check(
        version.columns,
        task=algorithm.task,
        target=target,
        features=data.get("features") or None,
        split_column=split_column,
        validation=validation,
    )
    if errors:
        raise InvalidInput({field: [message] for field, message in errors.items()})
    time_limit = _time_limit(data.get("time_limit"))
    if not 1 <= time_limit <= settings.AIMODELS_MAX_TIME_LIMIT:
        raise InvalidInput(
            {"time_limit": [_("Between 1 and %(max)d seconds.") % {"max": settings.AIMODELS_MAX_TIME_LIMIT}]}
        )
    seed = data.get("seed") or 0
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise InvalidInput({"seed": [_("An integer from 0 to 4294967295.")]})
    model_name = " ".join((data.get("model_name") or "").split()) or f"{version.dataset.name}-{algorithm.name}"[:200]
    existing = Model.objects.filter(project=project, name__iexact=model_name).first()
    if existing is not None and existing.task != algorithm.task:
        raise InvalidInput(
            {
                "model_name": [
                    _("This model is a %(task)s model; pick another name.") % {"task": existing.get_task_display()}
                ]
            }
        )
    return {
        "project": project,
        "dataset_version": version,
        "algorithm": algorithm.name,
        "task": algorithm.task,
        "hyperparameters": hyperparameters,
        "target": target or "",
        "features": features,
        "validation": validation,
        "split_column": split_column or "",
        "seed": seed,
        "time_limit": time_limit,
        "model_name": model_name,
    }


def job_create(*, project: Project, version: DatasetVersion, actor: User, data: dict[str, Any]) -> TrainingJob:
    """Validates the spec against the version's columns and the algorithm's schema, then queues the job (it
    starts when one of the user's running slots is free)."""
    spec = _job_spec(project=project, version=version, data=data)
    with transaction.atomic():
        job = TrainingJob.objects.create(created_by=actor, **spec)
        # The user's waiting jobs before the project's job counts (see _job_counts_move on the order of locks).
        _dispatch(actor.id)
        _status_event(job, None, actor_id=actor.id)
    _log(job.id, "INFO", f"queued: {job.algorithm} on {version.dataset.name} v{version.number}")
    job.refresh_from_db()
    return job


def job_retry(*, job: TrainingJob, actor: User) -> TrainingJob:
    """A new attempt with the same spec (validated again: the algorithm's schema may have changed)."""
    job = TrainingJob.objects.select_related("dataset_version__dataset", "project").get(pk=job.pk)
    if not job.is_finished:
        raise JobNotFinished(details={"status": job.status})
    data = {
        "algorithm": job.algorithm,
        "hyperparameters": job.hyperparameters,
        "target": job.target,
        "features": job.features,
        "validation": "split" if job.split_column else job.validation,
        "split_column": job.split_column,
        "seed": job.seed,
        "time_limit": job.time_limit,
        "model_name": job.model_name,
    }
    spec = _job_spec(project=job.project, version=job.dataset_version, data=data)
    with transaction.atomic():
        new = TrainingJob.objects.create(created_by=actor, attempt=job.attempt + 1, retry_of=job, **spec)
        _dispatch(actor.id)
        _status_event(new, None, actor_id=actor.id)
    _log(new.id, "INFO", f"queued: attempt {new.attempt}, a retry of job {job.id}")
    new.refresh_from_db()
    return new


# --- running slots ------------------------------------------------------------------------------------------


def _send(job_id: int, task_id: str, time_limit: int) -> None:
    """After commit: the job's task to the broker. With the broker down the job stays queued without a task id,
    as if it had never been sent, and the sweeper (Celery beat) sends it once the broker is back; the write that
    queued it has committed and must not turn into an error now."""
    from . import tasks

    try:
        tasks.job_run.apply_async(
            args=[job_id],
            task_id=task_id,
            soft_time_limit=time_limit,
            time_limit=time_limit + settings.AIMODELS_CANCEL_GRACE_SECONDS + 5,
        )
    except Exception:  # noqa: BLE001 - kombu's OperationalError, redis' or amqp's own: the broker is unreachable
        logger.warning("job %s not sent (broker unreachable); the sweeper sends it later", job_id, exc_info=True)
        TrainingJob.objects.filter(pk=job_id, task_id=task_id, status=Status.QUEUED).update(task_id="")


def _dispatch(user_id: int | None) -> int:
    """Sends the user's waiting jobs to the workers while the user has fewer than the limit running or sent;
    must run in a transaction (the user's row is the lock). Returns how many it sent."""
    limit = settings.AIMODELS_MAX_RUNNING_PER_USER
    waiting = TrainingJob.objects.filter(status=Status.QUEUED, task_id="").order_by("created_at", "id")
    if user_id is None:
        chosen = list(waiting.filter(created_by=None)[:100])
    else:
        User.objects.select_for_update(no_key=True).filter(pk=user_id).first()
        busy = (
            TrainingJob.objects.filter(created_by_id=user_id)
            .filter(Q(status=Status.RUNNING) | (Q(status=Status.QUEUED) & ~Q(task_id="")))
            .count()
        )
        chosen = list(waiting.filter(created_by_id=user_id)[: max(0, limit - busy)])
    for job in chosen:
        job.task_id = uuid.uuid4().hex
        job.save(update_fields=["task_id"])
        job_id, task_id, time_limit = job.id, job.task_id, job.time_limit
        transaction.on_commit(functools.partial(_send, job_id, task_id, time_limit))
    return len(chosen)


def _dispatch_now(user_id: int | None) -> None:
    with transaction.atomic():
        _dispatch(user_id)


# --- cancel -------------------------------------------------------------------------------------------------


def job_cancel(*, job: TrainingJob, actor: User | None) -> TrainingJob:
    """A queued job never starts; a running one stops at its next step, or is stopped by force a few seconds
    later (its worker watches the row). 409 JOB_FINISHED once it has finished."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().get(pk=job.pk)
        if job.is_finished:
            raise JobNotCancellable(details={"status": job.status})
        was_running = job.status == Status.RUNNING
        before = _job_state(job)
        job.status = Status.CANCELLED
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "finished_at", *_stored(job, stage=messages.gettext("Cancelled"))])
        _status_event(job, before, actor_id=actor.id if actor else None)
        task_id, user_id = job.task_id, job.created_by_id
        if task_id and not was_running:
            transaction.on_commit(lambda: _revoke(task_id))
        transaction.on_commit(lambda: _dispatch_now(user_id))
    who = actor.username if actor else "system"
    _log(job.id, "WARNING", f"cancelled by {who}" + (" while running" if was_running else " before it started"))
    return job


def _revoke(task_id: str) -> None:
    if celery_app.conf.task_always_eager:
        return  # no worker to tell
    try:
        celery_app.control.revoke(task_id)
    except Exception:  # noqa: BLE001 - the worker also checks the row before it starts
        logger.warning("revoke of %s not sent; the worker will see the job is cancelled", task_id, exc_info=True)


# --- the worker's side --------------------------------------------------------------------------------------


def _claim(job_id: int, task_id: str, worker: str) -> tuple[TrainingJob | None, bool]:
    """queued → running for this delivery of the job's task. Returns the job and whether this delivery claimed
    it; (job, False) when the job already runs under this task (a redelivery), (None, False) when there is
    nothing to do (cancelled, finished, or a stale task of an older dispatch)."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.task_id != task_id:
            return None, False
        if job.status == Status.RUNNING:
            return job, False
        if job.status != Status.QUEUED:
            return None, False
        now = timezone.now()
        before = _job_state(job)
        job.status = Status.RUNNING
        job.started_at = now
        job.heartbeat_at = now
        job.worker = worker[:255]
        stored = _stored(job, stage=messages.gettext("Loading the data"))
        job.save(update_fields=["status", "started_at", "heartbeat_at", "worker", *stored])
        _status_event(job, before)
    return job, True


def _redelivered(job: TrainingJob) -> None:
    """The task of a job already running came again: its worker died (the broker redelivers a lost task) or,
    rarely, it still runs elsewhere. A heartbeat that does not move for two beats means it died."""
    beat = settings.AIMODELS_HEARTBEAT_SECONDS
    first = job.heartbeat_at
    deadline = time.monotonic() + 2 * beat + 1
    while time.monotonic() < deadline:
        time.sleep(min(1.0, beat))
        current = TrainingJob.objects.filter(pk=job.pk).values_list("status", "heartbeat_at").first()
        if current is None or current[0] != Status.RUNNING or current[1] != first:
            return  # it moved on, or another worker is alive and beating
    _fail(
        job.id,
        job.task_id,
        code="WORKER_LOST",
        message=messages.gettext("The worker running this job stopped (it was killed or lost); retry the job."),
        expect_heartbeat=first,
    )


def _clip(text: str, length: int) -> str:
    """`text` cut to `length`; a messages.Message that fits stays one (slicing makes a plain str)."""
    return text if len(text) <= length else text[:length]


def _log_text(text: str) -> str:
    """A stage as a line of the job's log. The log is a program's log, in English whoever reads it or started the
    job (its other lines are English literals): a stage made in the worker's language reads in English there."""
    return text.render(LOG_LANGUAGE) if isinstance(text, messages.Message) else text


def _stored(job: TrainingJob, **texts: str) -> list[str]:
    """Sets the job's fields to these texts, which a worker stores for every member to read, with their
    translations (messages.translations: none for plain text, such as a plugin's stage); returns the fields to
    save."""
    translations = dict(job.translations)
    for field, text in texts.items():
        setattr(job, field, text)
        made = messages.translations(text)
        if made:
            translations[field] = made
        else:
            translations.pop(field, None)
    job.translations = translations
    return [*texts, "translations"]


def _fail(
    job_id: int, task_id: str, *, code: str, message: str, expect_heartbeat: Any = None, log: str | None = None
) -> bool:
    """running → failed, unless the job has already moved on. True if it failed it."""
    with transaction.atomic():
        job = TrainingJob.objects.select_for_update().filter(pk=job_id, task_id=task_id).first()
        if job is None or job.status != Status.RUNNING:
            return False
        if expect_heartbeat is not None and job.heartbeat_at != expect_heartbeat:
            return False
        before = _job_state(job)
        job.status = Status.FAILED
        job.error_code = code
        job.finished_at = timezone.now()
        stored = _stored(job, error_message=_clip(message, 2000), stage=messages.gettext("Failed"))
        job.save(update_fields=["status", "error_code", "finished_at", *stored])
        _status_event(job, before)
        user_id = job.created_by_id
        transaction.on_commit(lambda: _dispatch_now(user_id))
    _log(job_id, "ERROR", f"{code}: {log or _log_text(message)}")
    return True


# Set in a prefork pool child (aimodels.tasks): there, a cancelled job that ignores its stop flag is stopped
# by ending the child process; the parent starts another. Never in a solo or threaded worker.
FORCE_STOP = {"enabled": False}


class _Watchdog:
    """A thread beside the training: writes the heartbeat, notices a cancel (the row is no longer running) or
    the time limit, and sets the stop reason that the next `report` raises; past the grace it ends the process
    (only in a pool child)."""

    def __init__(self, job: TrainingJob, *, started: float) -> None:
        self.job_id, self.task_id, self.time_limit, self.started = job.id, job.task_id, job.time_limit, started
        self.stop_reason: str | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job.id}-watchdog", daemon=True)

    def __enter__(self) -> "_Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        beat, last_beat, stopped_at = settings.AIMODELS_HEARTBEAT_SECONDS, time.monotonic(), None
        try:
            while not self._done.wait(0.5):
                now = time.monotonic()
                if self.stop_reason is None and now - self.started > self.time_limit:
                    self.stop_reason = "time_limit"
                if now - last_beat >= beat or self.stop_reason is None:
                    still = TrainingJob.objects.filter(pk=self.job_id, task_id=self.task_id, status=Status.RUNNING)
                    if now - last_beat >= beat:
                        running = still.update(heartbeat_at=timezone.now()) == 1
                        last_beat = now
                    else:
                        running = still.exists()
                    if not running and self.stop_reason is None:
                        self.stop_reason = "cancelled"
                if self.stop_reason is not None:
                    stopped_at = stopped_at or now
                    if FORCE_STOP["enabled"] and now - stopped_at > settings.AIMODELS_CANCEL_GRACE_SECONDS:
                        logger.warning(
                            "job %s ignored its stop for %ss: ending the process", self.job_id, now - stopped_at
                        )
                        os.kill(os.getpid(), signal.SIGKILL)
        except Exception:  # noqa: BLE001 - a lost heartbeat only makes the sweeper look at the job
            logger.warning("job %s watchdog stopped", self.job_id, exc_info=True)
        finally:
            connection.close()


class _Reporter:
    """What the engine and the plugin call between steps: progress, stage, metric points and log lines, written
    in batches (every FLUSH_SECONDS) with their outbox events; raises algorithms.Stop once the job must stop."""

    def __init__(self, job: TrainingJob, *, should_stop: Callable[[], str | None], started: float) -> None:
        self.job, self.should_stop, self.started = job, should_stop, started
        self.progress, self.stage = 0.0, job.stage
        self.points: list[JobMetric] = []
        self.lines: list[tuple[str, str, Any]] = []
        self.last_flush = time.monotonic()
        self.last_check = time.monotonic()
        self.dirty = False
        self.stop_reason: str | None = None

    def __call__(
        self, *, step: int, total: int, metrics: dict[str, float] | None = None, stage: str | None = None
    ) -> None:
        if stage and stage != self.stage:
            self.stage, self.dirty = _clip(stage, 200), True
            self.log("INFO", _log_text(self.stage))
        if total and total > 0 and step >= 0:
            progress = TRAIN_FROM + (TRAIN_TO - TRAIN_FROM) * min(step, total) / total
            if progress > self.progress:
                self.progress, self.dirty = progress, True
        if metrics:
            now = timezone.now()
            for name, value in metrics.items():
                number: float | None = float(value) if value is not None else None
                if number is not None and number != number:  # NaN is not JSON
                    number = None
                self.points.append(
                    JobMetric(job_id=self.job.id, name=str(name)[:64], step=int(step), value=number, ts=now)
                )
        if time.monotonic() - self.last_flush >= FLUSH_SECONDS:
            self.flush()
        self.check()

    def set(self, progress: float, stage: str) -> None:
        self.progress, self.stage, self.dirty = progress, stage, True
        self.log("INFO", _log_text(stage))
        self.flush()
        self.check()

    def log(self, level: str, message: str) -> None:
        self.lines.append((level, message, timezone.now()))

    def check(self) -> None:
        reason = self.should_stop()
        if reason is None and time.monotonic() - self.started > self.job.time_limit:
            reason = "time_limit"
        if reason is None and time.monotonic() - self.last_check >= FLUSH_SECONDS:
            # Also in-thread (eager tasks, a solo worker): a cancel shows as the row no longer running.
            self.last_check = time.monotonic()
            running = TrainingJob.objects.filter(pk=self.job.id, status=Status.RUNNING).exists()
            reason = None if running else "cancelled"
        if reason is not None:
            self.stop_reason = reason
            raise algorithms.Stop(reason)

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not (self.dirty or self.points or self.lines):
            return
        points, self.points = self.points, []
        lines, self.lines = self.lines, []
        with transaction.atomic():
            now = timezone.now()
            # A write first, to hold the row (or SQLite's database) while the log numbers are read and used.
            if not TrainingJob.objects.filter(pk=self.job.id, status=Status.RUNNING).update(heartbeat_at=now):
                return
            job = TrainingJob.objects.get(pk=self.job.id)
            job.progress, job.heartbeat_at = round(self.progress, 1), now
            fields = ["progress", "heartbeat_at", *_stored(job, stage=self.stage)]
            if points:
                JobMetric.objects.bulk_create(points)
                job.metric_steps = max([job.metric_steps, *(point.step for point in points)])
                fields.append("metric_steps")
                _job_event(
                    "job.metric",
                    job,
                    {
                        "id": job.id,
                        "points": [{"name": p.name, "step": p.step, "value": p.value} for p in points[-500:]],
                    },
                )
            room = max(0, MAX_LOG_LINES - job.log_lines)
            if lines and room:
                JobLog.objects.bulk_create(
                    JobLog(job_id=job.id, seq=job.log_lines + i + 1, ts=ts, level=level, message=message[:4000])
                    for i, (level, message, ts) in enumerate(lines[:room])
                )
                job.log_lines += min(room, len(lines))
                fields.append("log_lines")
            job.save(update_fields=fields)
            if self.dirty:
                _job_event("job.progress", job, {"id": job.id, "progress": job.progress, "stage": job.stage})
            self.dirty = False


def _worker_name(hostname: str) -> str:
    return f"{hostname} (pid {os.getpid()})"


def job_run(*, job_id: int, task_id: str, hostname: str) -> None:
    """The task's work: claim the job, train, store the artifact and record the model version; every way out
    (cancel, time limit, bad data, a bug) leaves the job finished, with its reason."""
    job, claimed = _claim(job_id, task_id, _worker_name(hostname))
    if job is None:
        if TrainingJob.objects.filter(pk=job_id, task_id=task_id, status=Status.CANCELLED).exists():
            _log(job_id, "INFO", "stopped: the job was cancelled")
        return
    if not claimed:
        _redelivered(job)
        return
    started = time.monotonic()
    eager = bool(celery_app.conf.task_always_eager)
    watchdog = _Watchdog(job, started=started)
    reporter = _Reporter(job, should_stop=lambda: watchdog.stop_reason, started=started)
    try:
        if eager:
            _train(job, reporter)
        else:
            with watchdog:
                _train(job, reporter)
    except algorithms.Stop:
        _stopped(job, reporter.stop_reason or watchdog.stop_reason)
    except Exception as exc:  # noqa: BLE001 - every failure ends the job; the log keeps the trace
        from celery.exceptions import SoftTimeLimitExceeded

        if isinstance(exc, SoftTimeLimitExceeded):
            _stopped(job, "time_limit")
        elif isinstance(exc, engine_errors.EngineError):
            _fail(job.id, job.task_id, code=exc.code, message=exc.message)
        else:
            logger.exception("job %s failed", job.id)
            # A database's error quotes SQL and data: its name only (the log keeps the rest).
            error = type(exc).__name__ if isinstance(exc, DatabaseError) else f"{type(exc).__name__}: {exc}"[:500]
            message = messages.gettext("Training failed: %(error)s") % {"error": error}
            _fail(job.id, job.task_id, code="TRAINING_FAILED", message=message)


def _stopped(job: TrainingJob, reason: str | None) -> None:
    if reason == "time_limit":
        message = messages.gettext("The job ran longer than its time limit of %(n)d seconds.") % {"n": job.time_limit}
        _fail(job.id, job.task_id, code="TIME_LIMIT", message=message)
    else:
        _log(job.id, "INFO", "stopped: the job was cancelled")


def _load(job: TrainingJob) -> Any:
    import polars as pl

    version = job.dataset_version
    columns = [*job.features, *([job.target] if job.target else []), *([job.split_column] if job.split_column else [])]
    return pl.read_parquet(storage.local_copy(version.parquet), columns=list(dict.fromkeys(columns)))


def engine_load() -> tuple[Any, Any]:
    """The training engine's modules (artifacts, training), imported on first use. scikit-learn, scipy and skops
    cost about 140 MB and 1-3 s: a web process or a worker that only converts datasets never loads them, and a
    training worker loads them as it starts (aimodels.tasks.engine_in_training_workers)."""
    from .engine import artifacts, predict, training  # noqa: F401 - predict: what a model's version serves

    return artifacts, training


def _train(job: TrainingJob, reporter: _Reporter) -> None:
    job = TrainingJob.objects.select_related("dataset_version__dataset").get(pk=job.pk)
    reporter.set(1.0, messages.gettext("Loading the data"))
    frame = _load(job)
    reporter.log("INFO", f"{frame.height} rows, {len(job.features)} features")
    reporter.set(5.0, messages.gettext("Preparing the data"))
    artifacts, training = engine_load()
    spec = job_spec.Spec(
        algorithm=job.algorithm,
        hyperparameters=job.hyperparameters,
        target=job.target or None,
        features=list(job.features),
        validation=job.validation,
        split_column=job.split_column or None,
        seed=job.seed,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained = training.train(frame, spec, reporter)
    for message in list(dict.fromkeys(str(w.message) for w in caught))[:20]:
        reporter.log("WARNING", message)
    reporter.set(TRAIN_TO + 5, messages.gettext("Saving the model"))
    data = artifacts.dumps(trained.model)
    _succeed(job, trained, data, reporter)


def _succeed(job: TrainingJob, trained: Any, data: bytes, reporter: _Reporter) -> None:
    """Stores the artifact, then in one transaction: the model (made on first use), its new version, and the
    job succeeded. A job cancelled meanwhile keeps its status and the artifact goes."""
    name = f"models/{uuid.uuid4().hex}/model.skops"
    sha256 = hashlib.sha256(data).hexdigest()
    with tempfile.NamedTemporaryFile(prefix="incubator-model-", suffix=".skops", delete=False) as handle:
        handle.write(data)
    try:
        storage.store(handle.name, name, content_type="application/octet-stream", link=True)
    finally:
        if os.path.exists(handle.name):
            os.unlink(handle.name)
    try:
        reporter.flush()
        with transaction.atomic():
            # The project's row before the job's, as its deletion takes them (_model_for locks it for the model).
            Project.objects.select_for_update(no_key=True).filter(pk=job.project_id).first()
            locked = TrainingJob.objects.select_for_update().filter(pk=job.pk, task_id=job.task_id).first()
            if locked is None or locked.status != Status.RUNNING:
                transaction.on_commit(lambda: storage.delete_quietly(name))
                return
            model = _model_for(job)
            model = Model.objects.select_for_update().get(pk=model.pk)
            model.last_number += 1
            version = ModelVersion.objects.create(
                model=model,
                number=model.last_number,
                job=locked,
                dataset_version_id=job.dataset_version_id,
                algorithm=job.algorithm,
                hyperparameters=job.hyperparameters,
                artifact=name,
                artifact_size=len(data),
                artifact_sha256=sha256,
                signature=json_storable(trained.signature),
                metrics=json_storable(trained.metrics),
                feature_importances=json_storable(trained.feature_importances),
                created_by_id=job.created_by_id,
            )
            model.latest_version = version
            model.version_count = F("version_count") + 1
            model.save(update_fields=["last_number", "latest_version", "version_count", "updated_at"])
            before = _job_state(locked)
            locked.status = Status.SUCCEEDED
            locked.progress = 100.0
            succeeded = _stored(locked, stage=messages.gettext("Succeeded"))
            locked.metrics = json_storable(trained.metrics)
            locked.feature_importances = json_storable(trained.feature_importances)
            locked.train_rows, locked.valid_rows = trained.train_rows, trained.valid_rows
            locked.finished_at = timezone.now()
            locked.save(
                update_fields=[
                    "status",
                    "progress",
                    "metrics",
                    "feature_importances",
                    "train_rows",
                    "valid_rows",
                    "finished_at",
                    *succeeded,
                ]
            )
            _status_event(locked, before)
            _model_version_event("model.version.created", version, model)
            generation_bump(MODELS_GENERATION)
            user_id = locked.created_by_id
            transaction.on_commit(lambda: _dispatch_now(user_id))
    except BaseException:
        storage.delete_quietly(name)
        raise
    _log(job.id, "INFO", f"succeeded: {model.name} v{version.number}")


def _model_for(job: TrainingJob) -> Model:
    """The job's named model, made on first use (the project's row serializes two first uses of one name)."""
    Project.objects.select_for_update(no_key=True).filter(pk=job.project_id).first()
    model = Model.objects.filter(project_id=job.project_id, name__iexact=job.model_name).first()
    if model is None:
        model = Model.objects.create(
            project_id=job.project_id, name=job.model_name, task=job.task, created_by_id=job.created_by_id
        )
        generation_bump(MODELS_GENERATION)
    elif model.task != job.task:
        raise engine_errors.EngineError(
            "MODEL_TASK_MISMATCH",
            _("The model %(name)s is a %(task)s model.") % {"name": model.name, "task": model.get_task_display()},
        )
    return model


# --- the sweeper --------------------------------------------------------------------------------------------


def jobs_sweep(*, stale_after: timedelta | None = None, requeue_queued_before: Any = None) -> dict[str, int]:
    """Celery beat's periodic repair: a running job whose heartbeat stopped fails with WORKER_LOST (or
    TIME_LIMIT past its limit); waiting jobs are sent if their users have free slots; with
    `requeue_queued_before` (an in-memory broker that lost its tasks on restart), jobs sent before then are
    sent again once."""
    stale_after = stale_after or timedelta(seconds=settings.AIMODELS_STALE_SECONDS)
    now = timezone.now()
    failed = 0
    stale = TrainingJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=now - stale_after)
    for job in stale.only("id", "task_id", "heartbeat_at", "started_at", "time_limit"):
        over = job.started_at and (now - job.started_at).total_seconds() > job.time_limit
        failed += _fail(
            job.id,
            job.task_id,
            code="TIME_LIMIT" if over else "WORKER_LOST",
            message=(
                messages.gettext("The job ran longer than its time limit of %(n)d seconds.") % {"n": job.time_limit}
                if over
                else messages.gettext("The worker running this job stopped (it was killed or lost); retry the job.")
            ),
            expect_heartbeat=job.heartbeat_at,
        )
    requeued = 0
    if requeue_queued_before is not None:
        lost = TrainingJob.objects.filter(status=Status.QUEUED, created_at__lt=requeue_queued_before).exclude(
            task_id=""
        )
        requeued = lost.update(task_id="")
    sent = 0
    users = TrainingJob.objects.filter(status=Status.QUEUED, task_id="").values_list("created_by_id", flat=True)
    for user_id in set(users):
        with transaction.atomic():
            sent += _dispatch(user_id)
    return {"failed": failed, "requeued": requeued, "sent": sent}


# --- models -------------------------------------------------------------------------------------------------


def _model_version_event(type_: str, version: ModelVersion, model: Model, **extra: Any) -> None:
    event_record(
        type=type_,
        topic=f"project:{model.project_id}",
        subject_type="model_version",
        subject_id=version.id,
        payload={
            "model_id": model.id,
            "project_id": model.project_id,
            "number": version.number,
            "stage": version.stage,
            "job_id": version.job_id,
            **extra,
        },
    )


def _clean_name(raw: Any) -> str:
    return " ".join(str(raw or "").split())


def model_create(*, project: Project, actor: User, data: dict[str, Any]) -> Model:
    """An empty named model that jobs then add versions to (`model_name` of a job)."""
    name = _clean_name(data["name"])
    if not name:
        raise InvalidInput({"name": [_("This field may not be blank.")]})
    try:
        with transaction.atomic():
            if Model.objects.filter(project=project, name__iexact=name).exists():
                raise ModelNameTaken(details={"field": "name"})
            model = Model.objects.create(
                project=project,
                name=name,
                description=data.get("description", ""),
                task=data["task"],
                created_by=actor,
            )
            _model_event("model.created", model, actor_id=actor.id)
    except IntegrityError as exc:
        raise ModelNameTaken(details={"field": "name"}) from exc
    return model


def _model_event(type_: str, model: Model, *, actor_id: int | None) -> None:
    event_record(
        type=type_,
        topic=f"project:{model.project_id}",
        subject_type="model",
        subject_id=model.id,
        payload={"id": model.id, "project_id": model.project_id, "name": model.name},
        actor_id=actor_id,
    )
    generation_bump(MODELS_GENERATION)


def model_update(*, model: Model, actor: User, data: dict[str, Any]) -> Model:
    try:
        with transaction.atomic():
            model = Model.objects.select_for_update().get(pk=model.pk)
            if "name" in data:
                name = _clean_name(data["name"])
                if not name:
                    raise InvalidInput({"name": [_("This field may not be blank.")]})
                taken = Model.objects.filter(project_id=model.project_id, name__iexact=name).exclude(pk=model.pk)
                if taken.exists():
                    raise ModelNameTaken(details={"field": "name"})
                model.name = name
            if "description" in data:
                model.description = data["description"]
            model.save()
            _model_event("model.updated", model, actor_id=actor.id)
    except IntegrityError as exc:
        raise ModelNameTaken(details={"field": "name"}) from exc
    return model


def model_delete(*, model: Model, actor: User) -> None:
    """Deletes the model, its versions and their artifacts; not while a version is in production."""
    with transaction.atomic():
        locked = Model.objects.select_for_update().filter(pk=model.pk).first()
        if locked is None:
            raise NotFound()
        model = locked
        if model.versions.filter(stage=ModelVersion.Stage.PRODUCTION).exists():
            raise ModelHasVersions()
        _model_event("model.deleted", model, actor_id=actor.id)
        model.delete()


def model_version_stage(*, version: ModelVersion, actor: User, stage: str) -> ModelVersion:
    """Moves a version to a stage; promoting one to production archives the one there, in one transaction."""
    with transaction.atomic():
        model = Model.objects.select_for_update().get(pk=version.model_id)
        version = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if version.stage == stage:
            raise StageUnchanged(details={"stage": stage})
        now = timezone.now()
        if stage == ModelVersion.Stage.PRODUCTION:
            for current in model.versions.select_for_update().filter(stage=ModelVersion.Stage.PRODUCTION):
                current.stage, current.stage_changed_at = ModelVersion.Stage.ARCHIVED, now
                current.save(update_fields=["stage", "stage_changed_at"])
                _model_version_event("model.version.stage", current, model, previous="production")
        previous = version.stage
        version.stage, version.stage_changed_at = stage, now
        version.save(update_fields=["stage", "stage_changed_at"])
        _model_version_event("model.version.stage", version, model, previous=previous)
        model.save(update_fields=["updated_at"])
        generation_bump(MODELS_GENERATION)
    return version


def model_version_delete(*, version: ModelVersion, actor: User) -> None:
    with transaction.atomic():
        model = Model.objects.select_for_update().get(pk=version.model_id)
        found = ModelVersion.objects.filter(pk=version.pk).first()
        if found is None:
            raise NotFound()
        version = found
        if version.stage == ModelVersion.Stage.PRODUCTION:
            raise ModelHasVersions()
        _model_version_event("model.version.deleted", version, model)
        version.delete()
        model.latest_version = model.versions.order_by("-number").first()
        model.version_count = model.versions.count()
        model.save(update_fields=["latest_version", "version_count", "updated_at"])
        generation_bump(MODELS_GENERATION)
