"""Analytics computes from the other apps' tables; its own rows are exports (asynchronous report files)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Export(models.Model):
    """A report written to a file by a worker, downloadable by its creator until it expires."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        JSON = "json", "JSON"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.EXPIRED)

    # The id in URLs: random, so one user's exports cannot be enumerated by another.
    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exports", verbose_name=_("created by")
    )
    report = models.CharField(_("report"), max_length=64)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    format = models.CharField(_("format"), max_length=8, choices=Format.choices)
    # The language of the creator's request: the file's headers and labels are written in it.
    language = models.CharField(_("language"), max_length=16)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(_("progress"), default=0.0)
    row_count = models.BigIntegerField(_("row count"), null=True, blank=True)
    file = models.CharField(_("file"), max_length=500, blank=True)
    size = models.BigIntegerField(_("size"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), max_length=2000, blank=True)
    # The Celery task of the current attempt (a stale redelivery finds another id and stops).
    task_id = models.CharField(_("task id"), max_length=64, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    # When it was last sent (queued) or last moved on (running): the sweeper sends again what stays still.
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "expired"]),
                name="export_status_valid",
            ),
            models.CheckConstraint(condition=Q(format__in=["csv", "xlsx", "json"]), name="export_format_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=1), name="export_progress_range"),
            # A succeeded export has its file; no other state keeps one.
            models.CheckConstraint(
                condition=(Q(status="succeeded") & ~Q(file="")) | (~Q(status="succeeded") & Q(file="")),
                name="export_file_iff_succeeded",
            ),
            models.CheckConstraint(
                condition=Q(row_count__isnull=True) | Q(row_count__gte=0), name="export_row_count_positive"
            ),
        ]
        indexes = [
            models.Index(fields=["created_by", "-created_at", "-id"], name="export_user_created"),
            models.Index(fields=["status", "expires_at"], name="export_status_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.report}.{self.format} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED
