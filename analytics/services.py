"""Writes of analytics: exports (create, run in a worker, delete) and their sweeper.

An export is created by a request (validated there, so a bad report or parameter is a 400 and leaves nothing),
then written by a task to a temporary file and stored whole under `exports/` in the datasets storage: a
failure at any point leaves no stored file, only a failed export with its error code. Its creator follows it
on `user:{id}` (`export.status`, `export.progress`) or by polling `GET /analytics/exports/{id}`.
"""

import hashlib
import logging
import os
import shutil
import tempfile
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rest_framework import serializers

from accounts.models import User
from datasets import storage
from incubator.errors import ApiError, InvalidInput
from incubator.events.services import event_record

from .errors import ExportsBusy
from .models import Export
from .reports import REPORTS, Report, params_normalize, params_parse
from .scope import Scope
from .writers import CONTENT_TYPES, column_name, writer_for

logger = logging.getLogger(__name__)

Status = Export.Status
# Progress events (and heartbeats) at most this often, in seconds.
PROGRESS_INTERVAL = 1.0
# A task delivered this many times without finishing (its worker died each time) fails for good.
MAX_ATTEMPTS = 3
_CHUNK = 1024 * 1024


class ExportFailed(Exception):
    """Ends a run with a stable error code and a message in the creator's language."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --- events -------------------------------------------------------------------------------------------------


def _status_payload(export: Export) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(export.public_id),
        "report": export.report,
        "format": export.format,
        "status": export.status,
        "row_count": export.row_count,
    }
    if export.status == Status.FAILED:
        payload["error"] = {"code": export.error_code, "message": export.error_message}
    return payload


def _status_event(export: Export, *, actor_id: int | None = None) -> None:
    event_record(
        type="export.status",
        topic=f"user:{export.created_by_id}",
        subject_type="export",
        subject_id=export.public_id,
        payload=_status_payload(export),
        actor_id=actor_id,
    )


# --- create and delete --------------------------------------------------------------------------------------


def _report_or_400(name: Any) -> Report:
    report = REPORTS.get(name) if isinstance(name, str) else None
    if report is None:
        known = ", ".join(sorted(REPORTS))
        raise InvalidInput({"report": [_("Unknown report. Known reports: %(known)s.") % {"known": known}]})
    return report


def _send(export_id: int, task_id: str) -> None:
    from .tasks import export_run as task

    task.apply_async((export_id,), task_id=task_id)


ACTIVE = (Export.Status.QUEUED.value, Export.Status.RUNNING.value)


@transaction.atomic
def export_create(*, user: User, report: str, params: Any, format: str) -> Export:
    """A queued export of `report` in `format`, in the language active now (the request's); its task is sent
    once the transaction commits. Bad input is an InvalidInput naming `report`, `format` or `params.<field>`."""
    found = _report_or_400(report)
    if format not in Export.Format.values:
        raise InvalidInput({"format": [_("Use one of: %(known)s.") % {"known": ", ".join(Export.Format.values)}]})
    try:
        normalized = params_normalize(found, params, user=user)
    except serializers.ValidationError as exc:
        raise InvalidInput({"params": exc.detail}) from None
    # The user's row is the lock: two concurrent requests cannot both take the last free slot.
    User.objects.select_for_update(no_key=True).filter(pk=user.pk).first()
    limit = settings.ANALYTICS_EXPORTS_PER_USER
    if Export.objects.filter(created_by=user, status__in=ACTIVE).count() >= limit:
        raise ExportsBusy(ExportsBusy.default_detail % {"count": limit}, details={"limit": limit})
    export = Export(
        created_by=user,
        report=found.name,
        params=normalized,
        format=format,
        language=translation.get_language() or settings.LANGUAGE_CODE,
        task_id=uuid.uuid4().hex,
        heartbeat_at=timezone.now(),
    )
    export.full_clean()
    export.save()
    _status_event(export, actor_id=user.pk)
    export_id, task_id = export.pk, export.task_id
    transaction.on_commit(lambda: _send(export_id, task_id))
    return export


@transaction.atomic
def export_delete(*, export: Export) -> None:
    """Deletes the export and, once that commits, its file. A run still going finds no export when it
    finishes and deletes the file it wrote."""
    name = export.file
    Export.objects.filter(pk=export.pk).delete()
    if name:
        transaction.on_commit(lambda: storage.delete_quietly(name))


# --- the work of the task -----------------------------------------------------------------------------------


def _claim(export_id: int, task_id: str) -> Export | None:
    """Marks the export running for this task, or None when there is nothing to do: finished, deleted, or
    handed to another task since (the sweeper's)."""
    with transaction.atomic():
        export = Export.objects.select_for_update().select_related("created_by").filter(pk=export_id).first()
        if export is None or export.is_finished:
            return None
        if task_id and export.task_id and task_id != export.task_id:
            return None
        now = timezone.now()
        export.status = Status.RUNNING
        export.started_at = export.started_at or now
        export.heartbeat_at = now
        export.progress = 0.0
        export.attempts += 1
        export.save(update_fields=["status", "started_at", "heartbeat_at", "progress", "attempts"])
        _status_event(export)
        return export


def _finish(export_id: int, task_id: str, **fields: Any) -> bool:
    """Ends the run as `fields` say, if the export is still this task's to end; False otherwise."""
    with transaction.atomic():
        export = Export.objects.select_for_update().filter(pk=export_id).first()
        if export is None or export.status != Status.RUNNING or (task_id and export.task_id != task_id):
            return False
        fields.setdefault("finished_at", timezone.now())
        for name, value in fields.items():
            setattr(export, name, value)
        export.save()
        _status_event(export)
        return True


class _Progress:
    """Moves the export's progress and heartbeat, with an `export.progress` event, at most once a second."""

    def __init__(self, export: Export, total: int | None) -> None:
        self.export, self.total, self.last = export, total, time.monotonic()

    def __call__(self, written: int) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL:
            return
        self.last = now
        fraction = min(0.99, written / self.total) if self.total else 0.0
        with transaction.atomic():
            updated = Export.objects.filter(pk=self.export.pk, status=Status.RUNNING).update(
                progress=fraction, heartbeat_at=timezone.now()
            )
            if updated:
                event_record(
                    type="export.progress",
                    topic=f"user:{self.export.created_by_id}",
                    subject_type="export",
                    subject_id=self.export.public_id,
                    payload={"id": str(self.export.public_id), "progress": round(fraction, 3)},
                )


def export_file_name(export: Export, *, ascii: bool = False) -> str:
    """The downloaded file's name, in the export's language: `训练任务-20260305-0812.csv`; with `ascii`, named by
    the report's key instead (`jobs-20260305-0812.csv`: the fallback for clients that cannot take the first)."""
    report = REPORTS.get(export.report)
    with translation.override(export.language):
        title = column_name(report.title) if report and not ascii else export.report
    stamp = (export.finished_at or export.created_at).strftime("%Y%m%d-%H%M")
    return f"{title}-{stamp}.{export.format}"


def _write(export: Export, report: Report, path: str) -> int:
    """Writes the report's table to `path`; the number of rows written."""
    if not export.created_by.is_active:
        raise ExportFailed("PERMISSION_DENIED", _("The account that created this export is deactivated."))
    params = params_parse(report, export.params)
    scope = Scope(user=export.created_by, project_id=params.get("project"))
    table = report.build(scope, params)
    limit = settings.ANALYTICS_EXPORT_MAX_ROWS
    too_large = ExportFailed(
        "EXPORT_TOO_LARGE",
        _("The report has more than %(limit)d rows; narrow it with its parameters.") % {"limit": limit},
    )
    if table.total is not None and table.total > limit:
        raise too_large
    meta = {
        "report": export.report,
        "params": export.params,
        "generated_at": timezone.now(),
        "title": report.title,
    }
    writer = writer_for(export.format, path, meta=meta)
    progress = _Progress(export, table.total)
    written = 0
    try:
        writer.header(table.columns)
        for row in table.rows:
            written += 1
            if written > limit:
                raise too_large
            writer.row(row)
            progress(written)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return written


def _digest(path: str) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def export_run(*, export_id: int, task_id: str = "") -> None:
    """The task's work: the report written to a temporary file in the creator's language and Scope, stored
    under a name of its own (a duplicate delivery stores its own file and, losing the race, deletes it);
    succeeded with the file, or failed with an error code and no file."""
    export = _claim(export_id, task_id)
    if export is None:
        return
    report = REPORTS.get(export.report)
    work = tempfile.mkdtemp(prefix="incubator-analytics-export-")
    name = ""
    try:
        with translation.override(export.language):
            try:
                if report is None:
                    raise ExportFailed("REPORT_UNAVAILABLE", _("This report is no longer available."))
                local = os.path.join(work, f"export.{export.format}")
                rows = _write(export, report, local)
                sha256, size = _digest(local)
                name = f"exports/{export.created_by_id}/{export.public_id.hex}-{uuid.uuid4().hex[:12]}.{export.format}"
                storage.store(local, name, content_type=CONTENT_TYPES[export.format], link=True)
            except ExportFailed as failure:
                _fail(export, task_id, failure.code, failure.message, name)
                return
            except ApiError as refused:  # a report's own check in the worker (a dataset gone since, say)
                _fail(export, task_id, refused.error_code, str(refused.detail), name)
                return
            except SoftTimeLimitExceeded:
                _fail(export, task_id, "TIME_LIMIT", _("The export took longer than its time limit."), name)
                return
            except Exception:
                logger.exception("analytics export %s failed", export.pk)
                _fail(export, task_id, "INTERNAL_ERROR", _("The export could not be written."), name)
                return
            now = timezone.now()
            stored = _finish(
                export.pk,
                task_id,
                status=Status.SUCCEEDED,
                progress=1.0,
                row_count=rows,
                file=name,
                size=size,
                sha256=sha256,
                error_code="",
                error_message="",
                finished_at=now,
                expires_at=now + timedelta(hours=settings.ANALYTICS_EXPORT_TTL_HOURS),
            )
        if not stored:
            storage.delete_quietly(name)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fail(export: Export, task_id: str, code: str, message: str, name: str) -> None:
    if name:
        storage.delete_quietly(name)
    _finish(export.pk, task_id, status=Status.FAILED, error_code=code, error_message=message[:2000], file="")


# --- the sweeper --------------------------------------------------------------------------------------------


def exports_sweep(*, stale_after: timedelta | None = None, now: Any = None, batch: int = 500) -> dict[str, int]:
    """Celery beat's periodic work: expired files deleted (their exports marked expired); exports queued (sent)
    or running without a heartbeat for longer than `stale_after` sent again under a new task id (the old task, if it
    ever runs, finds another id and does nothing), or failed with WORKER_LOST after MAX_ATTEMPTS."""
    now = now or timezone.now()
    stale_after = stale_after if stale_after is not None else timedelta(seconds=settings.ANALYTICS_EXPORT_STALE_SECONDS)
    expired = 0
    due = Export.objects.filter(status=Status.SUCCEEDED, expires_at__lte=now).order_by("expires_at")
    for export_id in list(due.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            export = Export.objects.select_for_update().filter(pk=export_id, status=Status.SUCCEEDED).first()
            if export is None:
                continue
            name = export.file
            export.status, export.file = Status.EXPIRED, ""
            export.save(update_fields=["status", "file"])
            transaction.on_commit(partial(storage.delete_quietly, name))
            expired += 1
    cutoff = now - stale_after
    stuck = Export.objects.filter(status__in=[Status.QUEUED, Status.RUNNING], heartbeat_at__lte=cutoff)
    requeued = failed = 0
    for export_id in list(stuck.order_by("pk").values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            export = Export.objects.select_for_update().filter(pk=export_id).first()
            if export is None or export.is_finished:
                continue
            if export.attempts >= MAX_ATTEMPTS:
                export.status = Status.FAILED
                export.error_code = "WORKER_LOST"
                with translation.override(export.language):
                    export.error_message = _("The export's worker stopped several times; create it again.")
                export.finished_at = now
                export.save()
                _status_event(export)
                failed += 1
                continue
            export.task_id = uuid.uuid4().hex
            was_running = export.status == Status.RUNNING
            export.status, export.progress, export.heartbeat_at = Status.QUEUED, 0.0, now
            export.save(update_fields=["task_id", "status", "progress", "heartbeat_at"])
            if was_running:
                _status_event(export)
            transaction.on_commit(partial(_send, export.pk, export.task_id))
            requeued += 1
    if requeued or failed:
        logger.warning("analytics: %d exports sent again, %d failed after %d attempts", requeued, failed, MAX_ATTEMPTS)
    return {"expired": expired, "requeued": requeued, "failed": failed}
