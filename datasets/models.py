"""Datasets of a project, their immutable numbered versions (files in storage), and presigned uploads."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from projects.models import Project

FORMAT_CHOICES = [
    ("csv", "CSV"),
    ("tsv", "TSV"),
    ("json", "JSON"),
    ("jsonl", "JSON Lines"),
    ("parquet", "Parquet"),
    ("xlsx", "Excel (xlsx)"),
]


class Dataset(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="datasets", verbose_name=_("project"))
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), max_length=5000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    # The newest version (any status): what a list row shows. Numbers are never reused, so last_number only
    # grows, even when versions are deleted.
    latest_version = models.ForeignKey(
        "DatasetVersion",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("latest version"),
    )
    last_number = models.PositiveIntegerField(_("last version number"), default=0, editable=False)
    version_count = models.PositiveIntegerField(_("version count"), default=0, editable=False)
    # Lower-cased name and description: what search matches.
    search_text = models.TextField(_("search text"), editable=False, default="")
    # Descriptive fields (source, licence...) validated against the schema registry's `dataset.metadata`;
    # schema_version is the version of that subject it was written under.
    metadata = models.JSONField(_("metadata"), default=dict, blank=True)
    schema_version = models.PositiveSmallIntegerField(_("schema version"), default=1)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        constraints = [models.UniqueConstraint("project", Lower("name"), name="dataset_name_ci_unique")]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="dataset_project_created"),
            models.Index(fields=["-created_at", "-id"], name="dataset_created"),
            models.Index(fields=["-updated_at", "-id"], name="dataset_updated"),
            models.Index(fields=["name", "id"], name="dataset_name"),
        ]

    def __str__(self) -> str:
        return self.name


class DatasetVersion(models.Model):
    class Status(models.TextChoices):
        PROCESSING = "processing", _("Processing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Upload")
        PRESIGNED = "presigned", _("Direct upload to object storage")
        PIPELINE = "pipeline", _("Preprocessing pipeline")

    class ProfileStatus(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="versions", verbose_name=_("dataset"))
    number = models.PositiveIntegerField(_("number"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PROCESSING)
    progress = models.FloatField(_("progress"), default=0.0)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), max_length=2000, blank=True)
    error_details = models.JSONField(_("error details"), default=dict, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.UPLOAD)

    # The file as it was sent (a pipeline's output is its own Parquet file).
    file_name = models.CharField(_("file name"), max_length=255)
    format = models.CharField(_("format"), max_length=16, choices=FORMAT_CHOICES)
    content_type = models.CharField(_("content type"), max_length=100)
    encoding = models.CharField(_("encoding"), max_length=32, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=4, blank=True)
    # The language of the request that made the version: its tasks store their messages in it, also when a worker's
    # requeue sends them again after a crash.
    language = models.CharField(_("language"), max_length=16, blank=True, default="")
    size = models.BigIntegerField(_("size"), default=0)
    sha256 = models.CharField(_("SHA-256"), max_length=64, blank=True)
    original = models.CharField(_("original file"), max_length=500, blank=True)
    # The canonical Parquet copy every reader uses, and the CSV export, with their own sizes and digests.
    parquet = models.CharField(_("Parquet copy"), max_length=500, blank=True)
    parquet_size = models.BigIntegerField(_("Parquet size"), null=True, blank=True)
    parquet_sha256 = models.CharField(_("Parquet SHA-256"), max_length=64, blank=True)
    csv = models.CharField(_("CSV export"), max_length=500, blank=True)
    csv_size = models.BigIntegerField(_("CSV size"), null=True, blank=True)
    csv_sha256 = models.CharField(_("CSV SHA-256"), max_length=64, blank=True)
    # Why the CSV copy cannot be made (the engine refused the data): downloads of it are a 409 EXPORT_FAILED,
    # instead of starting a conversion that fails again on every request.
    csv_error = models.CharField(_("CSV export error"), max_length=2000, blank=True, default="", db_default="")

    row_count = models.BigIntegerField(_("row count"), null=True, blank=True)
    columns = models.JSONField(_("columns"), default=list, blank=True)

    # Lineage: the version this one was made from and the (normalized) pipeline that made it.
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children", verbose_name=_("parent")
    )
    parent_number = models.PositiveIntegerField(_("parent number"), null=True, blank=True)
    pipeline = models.JSONField(_("pipeline"), null=True, blank=True)

    profile_status = models.CharField(
        _("profile status"), max_length=16, choices=ProfileStatus.choices, default=ProfileStatus.PENDING
    )
    profile_progress = models.FloatField(_("profile progress"), default=0.0)
    profile = models.JSONField(_("profile"), null=True, blank=True)
    profile_error = models.TextField(_("profile error"), max_length=2000, blank=True)
    # {"error_message" | "profile_error": {language code: text}}: what a worker stored, in every language, for
    # readers whose language is not the one the worker wrote it in (datasets.engine.messages).
    translations = models.JSONField(_("translations"), default=dict, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True)
    profiled_at = models.DateTimeField(_("profiled at"), null=True, blank=True)

    class Meta:
        verbose_name = _("dataset version")
        verbose_name_plural = _("dataset versions")
        ordering = ["dataset", "number"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "number"], name="dataset_version_number_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["processing", "ready", "failed"]), name="dataset_version_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="dataset_version_status")]

    def __str__(self) -> str:
        return f"{self.dataset} v{self.number}"


class DatasetUpload(models.Model):
    """A presigned multipart upload straight to object storage; `complete` turns it into a version."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        COMPLETED = "completed", _("Completed")
        ABORTED = "aborted", _("Aborted")

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="uploads", verbose_name=_("dataset"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    file_name = models.CharField(_("file name"), max_length=255)
    format = models.CharField(_("format"), max_length=16, choices=FORMAT_CHOICES)
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.BigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    object_name = models.CharField(_("object name"), max_length=500)
    upload_id = models.CharField(_("upload id"), max_length=1024)
    part_size = models.BigIntegerField(_("part size"))
    part_count = models.PositiveIntegerField(_("part count"))
    version = models.ForeignKey(
        DatasetVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("version")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("dataset upload")
        verbose_name_plural = _("dataset uploads")
        indexes = [models.Index(fields=["status", "expires_at"], name="dataset_upload_status_expires")]

    def __str__(self) -> str:
        return f"{self.dataset} ← {self.file_name} ({self.status})"


class FileDeletion(models.Model):
    """A stored file whose delete failed (the bucket unreachable, say): tried again by datasets.file_deletions_retry
    until it goes, so a deleted version or a failed upload leaves no file behind for good."""

    name = models.CharField(_("name"), max_length=500)
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    next_attempt_at = models.DateTimeField(_("next attempt at"), db_index=True)

    class Meta:
        verbose_name = _("file deletion")
        verbose_name_plural = _("file deletions")
        ordering = ["next_attempt_at"]

    def __str__(self) -> str:
        return self.name
