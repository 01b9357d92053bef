"""Training jobs (with their metric series and log lines) and the model registry: named models of a project,
their numbered versions (an artifact in storage, its input signature and held-out metrics) and stages."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from datasets.models import DatasetVersion
from projects.models import Project

TASK_CHOICES = [
    ("classification", _("Classification")),
    ("regression", _("Regression")),
    ("clustering", _("Clustering")),
]


# The jobs with a duration: succeeded, with a start and an end (the analytics percentiles read them; each project's
# count of them is ProjectJobCounts.timed).
TIMED = Q(status="succeeded", started_at__isnull=False, finished_at__isnull=False)


class TrainingJob(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="jobs", verbose_name=_("project"))
    # RESTRICT: a version a job trained on cannot be deleted on its own (409 VERSION_IN_USE), yet a project's
    # cascade, which deletes both, goes through.
    dataset_version = models.ForeignKey(
        DatasetVersion, on_delete=models.RESTRICT, related_name="training_jobs", verbose_name=_("dataset version")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="training_jobs",
        verbose_name=_("created by"),
    )
    # The spec: what a retry copies.
    algorithm = models.CharField(_("algorithm"), max_length=64)
    task = models.CharField(_("task"), max_length=16, choices=TASK_CHOICES)
    hyperparameters = models.JSONField(_("hyperparameters"), default=dict, blank=True)
    target = models.CharField(_("target"), max_length=255, blank=True)
    features = models.JSONField(_("features"), default=list, blank=True)
    validation = models.FloatField(_("validation ratio"), null=True, blank=True)
    split_column = models.CharField(_("split column"), max_length=255, blank=True)
    seed = models.IntegerField(_("seed"), default=0)
    time_limit = models.PositiveIntegerField(_("time limit (seconds)"))
    model_name = models.CharField(_("model name"), max_length=200)

    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(_("progress"), default=0.0)  # 0 to 100
    stage = models.CharField(_("stage"), max_length=200, blank=True)
    # The Celery task that runs this attempt; empty while the job waits for one of its user's running slots.
    task_id = models.CharField(_("task id"), max_length=64, blank=True, db_index=True)
    attempt = models.PositiveIntegerField(_("attempt"), default=1)
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries", verbose_name=_("retry of")
    )
    worker = models.CharField(_("worker"), max_length=255, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.TextField(_("error message"), max_length=2000, blank=True)
    # {"stage" | "error_message": {language code: text}}: what a worker stored, in every language, for readers whose
    # language is not the one the worker wrote it in (datasets.engine.messages).
    translations = models.JSONField(_("translations"), default=dict, blank=True)
    metrics = models.JSONField(_("metrics"), null=True, blank=True)  # on the held-out rows, once succeeded
    feature_importances = models.JSONField(_("feature importances"), null=True, blank=True)
    train_rows = models.BigIntegerField(_("training rows"), null=True, blank=True)
    valid_rows = models.BigIntegerField(_("validation rows"), null=True, blank=True)
    metric_steps = models.PositiveIntegerField(_("metric points"), default=0, editable=False)
    log_lines = models.PositiveIntegerField(_("log lines"), default=0, editable=False)

    created_at = models.DateTimeField(_("queued at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), null=True, blank=True)

    class Meta:
        verbose_name = _("training job")
        verbose_name_plural = _("training jobs")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed", "cancelled"]),
                name="training_job_status_valid",
            ),
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=100), name="training_job_progress"),
        ]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="job_project_created"),
            models.Index(fields=["-created_at", "-id"], name="job_created"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["created_by", "status"], name="job_user_status"),
            # Analytics: jobs succeeded or failed per day (trends by finished_at), and the duration percentiles,
            # read in order from a partial index of succeeded jobs' durations instead of sorting them all.
            models.Index(fields=["status", "finished_at"], name="job_status_finished"),
            models.Index(
                F("finished_at") - F("started_at"),
                name="job_duration",
                condition=TIMED,
                include=["project", "started_at", "finished_at"],
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.algorithm} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class ProjectJobCounts(models.Model):
    """A project's training jobs counted by status, kept by aimodels.services in the transaction that creates a
    job or moves its status (one row per project with a job). What the analytics overview sums: adding up a few
    numbers per project instead of reading every job row (bench/analytics.py). `timed`: the succeeded jobs with
    both a start and an end, whose durations the overview's percentiles read. `job_counts_rebuild` recounts
    them from the jobs."""

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, primary_key=True, related_name="job_counts", verbose_name=_("project")
    )
    queued = models.PositiveIntegerField(_("queued"), default=0)
    running = models.PositiveIntegerField(_("running"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    cancelled = models.PositiveIntegerField(_("cancelled"), default=0)
    timed = models.PositiveIntegerField(_("timed"), default=0)

    class Meta:
        verbose_name = _("job counts of a project")
        verbose_name_plural = _("job counts of projects")

    def __str__(self) -> str:
        return f"{self.project_id}: {self.queued}/{self.running}/{self.succeeded}/{self.failed}/{self.cancelled}"


class JobMetric(models.Model):
    """One point of a per-step series (loss, validation accuracy, ...) reported while a job trains."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metric_points")
    name = models.CharField(max_length=64)
    step = models.PositiveIntegerField()
    value = models.FloatField(null=True)
    ts = models.DateTimeField()

    class Meta:
        verbose_name = _("job metric")
        verbose_name_plural = _("job metrics")
        indexes = [models.Index(fields=["job", "name", "step"], name="job_metric_series")]

    def __str__(self) -> str:
        return f"{self.name}@{self.step}={self.value}"


class JobLog(models.Model):
    """A captured log line of a job (its stages, warnings, the failure's summary; never a stack trace)."""

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="log_entries")
    seq = models.PositiveIntegerField()
    ts = models.DateTimeField()
    level = models.CharField(max_length=8)
    message = models.TextField(max_length=4000)

    class Meta:
        verbose_name = _("job log line")
        verbose_name_plural = _("job log lines")
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="job_log_seq_unique")]

    def __str__(self) -> str:
        return f"{self.seq} {self.level} {self.message[:80]}"


class Model(models.Model):
    """A named model of a project: each succeeded job that names it adds a version."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="models", verbose_name=_("project"))
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), max_length=5000, blank=True)
    task = models.CharField(_("task"), max_length=16, choices=TASK_CHOICES)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    latest_version = models.ForeignKey(
        "ModelVersion", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("latest")
    )
    last_number = models.PositiveIntegerField(_("last version number"), default=0, editable=False)
    version_count = models.PositiveIntegerField(_("version count"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("models")
        constraints = [models.UniqueConstraint("project", Lower("name"), name="model_name_ci_unique")]
        indexes = [
            models.Index(fields=["project", "-created_at", "-id"], name="model_project_created"),
            models.Index(fields=["-created_at", "-id"], name="model_created"),
            models.Index(fields=["-updated_at", "-id"], name="model_updated"),
        ]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    class Stage(models.TextChoices):
        NONE = "none", _("None")
        STAGING = "staging", _("Staging")
        PRODUCTION = "production", _("Production")
        ARCHIVED = "archived", _("Archived")

    model = models.ForeignKey(Model, on_delete=models.CASCADE, related_name="versions", verbose_name=_("model"))
    number = models.PositiveIntegerField(_("number"))
    stage = models.CharField(_("stage"), max_length=16, choices=Stage.choices, default=Stage.NONE)
    job = models.OneToOneField(
        TrainingJob,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="model_version",
        verbose_name=_("training job"),
    )
    dataset_version = models.ForeignKey(
        DatasetVersion, on_delete=models.RESTRICT, related_name="model_versions", verbose_name=_("dataset version")
    )
    algorithm = models.CharField(_("algorithm"), max_length=64)
    hyperparameters = models.JSONField(_("hyperparameters"), default=dict, blank=True)
    # The artifact: a skops file in storage, checked against its SHA-256 on every load.
    artifact = models.CharField(_("artifact"), max_length=500)
    artifact_size = models.BigIntegerField(_("artifact size"))
    artifact_sha256 = models.CharField(_("artifact SHA-256"), max_length=64)
    signature = models.JSONField(_("signature"), default=dict)
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    feature_importances = models.JSONField(_("feature importances"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    stage_changed_at = models.DateTimeField(_("stage changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["model", "number"]
        constraints = [
            models.UniqueConstraint(fields=["model", "number"], name="model_version_number_unique"),
            # At most one version of a model in production: promoting one demotes the other in one transaction.
            models.UniqueConstraint(
                fields=["model"], condition=Q(stage="production"), name="model_version_one_production"
            ),
            models.CheckConstraint(
                condition=Q(stage__in=["none", "staging", "production", "archived"]), name="model_version_stage_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} v{self.number}"
