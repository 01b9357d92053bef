"""Subjects (what a JSON Schema describes), their numbered schema versions, and the migrations that move stored
documents from one version to another, with the backups a rollback restores and the log of what happened."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Compatibility(models.TextChoices):
    # Confluent's meanings: BACKWARD, a reader on the new schema reads documents written under the previous one;
    # FORWARD, a reader on the previous schema reads documents written under the new one; FULL, both;
    # _TRANSITIVE, against every earlier version instead of only the latest.
    NONE = "NONE", _("None")
    BACKWARD = "BACKWARD", _("Backward")
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE", _("Backward, transitive")
    FORWARD = "FORWARD", _("Forward")
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE", _("Forward, transitive")
    FULL = "FULL", _("Full")
    FULL_TRANSITIVE = "FULL_TRANSITIVE", _("Full, transitive")


class Subject(models.Model):
    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), max_length=5000, blank=True)
    compatibility = models.CharField(
        _("compatibility"), max_length=24, choices=Compatibility.choices, default=Compatibility.BACKWARD
    )
    # Versions come from code (an algorithm plugin's hyperparameters): the API and admin do not register them.
    managed = models.BooleanField(_("managed by code"), default=False, editable=False)
    current_number = models.PositiveIntegerField(_("current version"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("schema subject")
        verbose_name_plural = _("schema subjects")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(compatibility__in=[choice.value for choice in Compatibility]),
                name="subject_compatibility_valid",
            )
        ]

    def __str__(self) -> str:
        return self.name


class SchemaVersion(models.Model):
    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="versions", verbose_name=_("subject"))
    number = models.PositiveIntegerField(_("number"))
    schema = models.JSONField(_("schema"))
    # sha256 of the schema's canonical JSON: registering the same schema again returns this version.
    fingerprint = models.CharField(_("fingerprint"), max_length=64, editable=False)
    deprecated = models.BooleanField(_("deprecated"), default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("schema version")
        verbose_name_plural = _("schema versions")
        ordering = ["subject", "number"]
        constraints = [
            models.UniqueConstraint(fields=["subject", "number"], name="schema_version_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="schema_version_number_positive"),
        ]
        indexes = [models.Index(fields=["subject", "fingerprint"], name="schema_version_fingerprint")]

    def __str__(self) -> str:
        return f"{self.subject.name} v{self.number}"


class DocumentMigration(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        ABORTED = "aborted", _("Aborted")
        ROLLING_BACK = "rolling_back", _("Rolling back")
        ROLLED_BACK = "rolled_back", _("Rolled back")

    subject = models.ForeignKey(Subject, on_delete=models.PROTECT, related_name="migrations", verbose_name=_("subject"))
    from_number = models.PositiveIntegerField(_("from version"))
    to_number = models.PositiveIntegerField(_("to version"))
    plan = models.JSONField(_("plan"), default=list, blank=True)
    # Stop and roll back when more than this percentage of the documents fail.
    abort_threshold = models.FloatField(_("abort threshold (%)"), default=0.0)
    batch_size = models.PositiveIntegerField(_("batch size"), default=1000)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    total = models.PositiveIntegerField(_("documents"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    changed = models.PositiveIntegerField(_("changed"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    restored = models.PositiveIntegerField(_("restored"), default=0)
    # The last document id a committed batch handled: a resumed run starts after it, so no batch runs twice.
    cursor = models.BigIntegerField(_("cursor"), default=0)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), max_length=2000, blank=True)
    task_id = models.CharField(_("task id"), max_length=64, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(_("heartbeat"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("document migration")
        verbose_name_plural = _("document migrations")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=["pending", "running", "succeeded", "failed", "aborted", "rolling_back", "rolled_back"]
                ),
                name="document_migration_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(abort_threshold__gte=0) & Q(abort_threshold__lte=100),
                name="document_migration_threshold_valid",
            ),
            models.CheckConstraint(condition=~Q(from_number=models.F("to_number")), name="document_migration_moves"),
            # One migration at a time moves a subject's documents.
            models.UniqueConstraint(
                fields=["subject"],
                condition=Q(status__in=["running", "rolling_back"]),
                name="document_migration_one_active",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="document_migration_active")]

    def __str__(self) -> str:
        return f"{self.subject.name} v{self.from_number} → v{self.to_number}"


class DocumentBackup(models.Model):
    """A document as it was before a migration changed it, and as the migration left it."""

    migration = models.ForeignKey(
        DocumentMigration, on_delete=models.CASCADE, related_name="backups", verbose_name=_("migration")
    )
    document_id = models.BigIntegerField(_("document id"))
    before = models.JSONField(_("before"), null=True)
    before_version = models.PositiveIntegerField(_("version before"))
    after = models.JSONField(_("after"), null=True)
    restored = models.BooleanField(_("restored"), default=False)

    class Meta:
        verbose_name = _("document backup")
        verbose_name_plural = _("document backups")
        constraints = [
            models.UniqueConstraint(fields=["migration", "document_id"], name="document_backup_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.document_id}"


class MigrationLogEntry(models.Model):
    class Level(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    migration = models.ForeignKey(
        DocumentMigration, on_delete=models.CASCADE, related_name="log", verbose_name=_("migration")
    )
    level = models.CharField(_("level"), max_length=8, choices=Level.choices, default=Level.INFO)
    document_id = models.BigIntegerField(_("document id"), null=True, blank=True)
    path = models.CharField(_("path"), max_length=500, blank=True)
    message = models.TextField(_("message"), max_length=2000)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("migration log entry")
        verbose_name_plural = _("migration log entries")
        ordering = ["id"]
        indexes = [models.Index(fields=["migration", "id"], name="migration_log_order")]

    def __str__(self) -> str:
        return f"#{self.pk}"  # the admin's inline shows the message in its own column
