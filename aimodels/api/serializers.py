"""Input and output shapes of the training and model API."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from datasets.engine import messages
from incubator.serializers import ExampleIdField, IdField, QueryParamsSerializer, StrictCharField

from ..models import TASK_CHOICES, JobLog, Model, ModelVersion, TrainingJob

LOG_LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"]


# --- algorithms ---------------------------------------------------------------------------------------------


class AlgorithmSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What a job's `algorithm` names.")
    title = serializers.CharField()
    description = serializers.CharField()
    task = serializers.ChoiceField(choices=TASK_CHOICES)
    hyperparameters = serializers.DictField(
        help_text="A JSON Schema (draft 2020-12) of the hyperparameters: each with its default, bounds and title."
    )


class AlgorithmListSerializer(serializers.Serializer):
    algorithms = AlgorithmSerializer(many=True)


# --- jobs ---------------------------------------------------------------------------------------------------


class JobErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="WORKER_LOST, TIME_LIMIT, NOT_ENOUGH_ROWS, SINGLE_CLASS, TRAINING_FAILED, ..."
    )
    message = serializers.CharField()


class JobDatasetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class JobModelVersionSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    name = serializers.CharField()
    number = serializers.IntegerField()


@extend_schema_serializer(description="A training job: its spec, state, progress, timings and results.")
class JobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    dataset = JobDatasetSerializer()
    algorithm = serializers.CharField()
    task = serializers.ChoiceField(choices=TASK_CHOICES)
    hyperparameters = serializers.DictField(help_text="As validated, with every default filled in.")
    target = serializers.CharField(allow_null=True)
    features = serializers.ListField(child=serializers.CharField())
    validation = serializers.JSONField(help_text="The held-out ratio, or `split` (the version's own split column).")
    split_column = serializers.CharField(allow_null=True)
    seed = serializers.IntegerField()
    time_limit = serializers.IntegerField(help_text="Seconds.")
    model_name = serializers.CharField()
    status = serializers.ChoiceField(choices=TrainingJob.Status.choices)
    status_display = serializers.CharField()
    progress = serializers.FloatField(help_text="0 to 100.")
    stage = serializers.CharField()
    attempt = serializers.IntegerField(help_text="1, then 2, 3… for retries.")
    retry_of = serializers.IntegerField(allow_null=True)
    worker = serializers.CharField(help_text="The worker host (and process) that ran it.")
    error = JobErrorSerializer(allow_null=True, help_text="Set when the status is `failed`.")
    metrics = serializers.DictField(
        allow_null=True,
        help_text="On the held-out rows, once succeeded: accuracy, precision/recall/f1 (macro, weighted), roc_auc, "
        "log_loss, confusion_matrix; rmse, mae, r2; silhouette, inertia.",
    )
    feature_importances = serializers.ListField(child=serializers.DictField(), allow_null=True)
    train_rows = serializers.IntegerField(allow_null=True)
    valid_rows = serializers.IntegerField(allow_null=True)
    model_version = JobModelVersionSerializer(allow_null=True, help_text="The model version it made.")
    created_by = serializers.IntegerField(allow_null=True)
    queued_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    duration = serializers.FloatField(allow_null=True, help_text="Seconds from start to finish (or to now).")


def job_representation(job: TrainingJob) -> dict[str, Any]:
    from django.utils import timezone

    version = job.dataset_version
    model_version = getattr(job, "model_version", None)
    duration = None
    if job.started_at:
        duration = round(((job.finished_at or timezone.now()) - job.started_at).total_seconds(), 3)
    return {
        "id": job.id,
        "project": job.project_id,
        "dataset": {"id": version.dataset_id, "name": version.dataset.name, "version": version.number},
        "algorithm": job.algorithm,
        "task": job.task,
        "hyperparameters": job.hyperparameters,
        "target": job.target or None,
        "features": job.features,
        "validation": "split" if job.split_column else job.validation,
        "split_column": job.split_column or None,
        "seed": job.seed,
        "time_limit": job.time_limit,
        "model_name": job.model_name,
        "status": job.status,
        "status_display": str(job.get_status_display()),
        "progress": round(job.progress, 1),
        "stage": messages.localized(job.stage, job.translations.get("stage")),
        "attempt": job.attempt,
        "retry_of": job.retry_of_id,
        "worker": job.worker,
        "error": (
            {
                "code": job.error_code,
                "message": messages.localized(job.error_message, job.translations.get("error_message")),
            }
            if job.status == "failed"
            else None
        ),
        "metrics": job.metrics,
        "feature_importances": job.feature_importances,
        "train_rows": job.train_rows,
        "valid_rows": job.valid_rows,
        "model_version": (
            {"model": model_version.model_id, "name": model_version.model.name, "number": model_version.number}
            if model_version is not None
            else None
        ),
        "created_by": job.created_by_id,
        "queued_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "heartbeat_at": job.heartbeat_at,
        "duration": duration,
    }


@extend_schema_field(
    {
        "oneOf": [
            {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "exclusiveMinimum": True,
                "exclusiveMaximum": True,
                "example": 0.2,
            },
            {"type": "string", "enum": ["split"]},
        ]
    }
)
class ValidationField(serializers.Field):
    """A held-out ratio in (0, 1), or "split": the version's own train/test split column."""

    default_error_messages = {"invalid": _('A ratio between 0 and 1 (exclusive), or "split".')}

    def to_internal_value(self, data: Any) -> Any:
        if data == "split":
            return data
        if isinstance(data, bool) or not isinstance(data, int | float) or not 0 < data < 1:
            self.fail("invalid")
        return float(data)

    def to_representation(self, value: Any) -> Any:
        return value


class JobCreateInputSerializer(serializers.Serializer):
    dataset = ExampleIdField(help_text="The dataset to train on; the job belongs to its project, whose team may train.")
    project = ExampleIdField(required=False, help_text="Optional: when given, the dataset must be in this project.")
    dataset_version = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="Its version number; default: the latest."
    )
    algorithm = StrictCharField(max_length=64, help_text="A name from GET /api/v1/algorithms.")
    hyperparameters = serializers.DictField(
        required=False, help_text="Checked against the algorithm's JSON Schema; missing ones take their defaults."
    )
    target = StrictCharField(
        max_length=255, required=False, allow_blank=True, help_text="The column to predict (not for clustering)."
    )
    features = serializers.ListField(
        child=StrictCharField(max_length=255),
        required=False,
        max_length=10000,
        help_text="Input columns; default: every other column of a usable type.",
    )
    validation = ValidationField(required=False, help_text="A held-out ratio (default 0.2), or `split`.")
    split_column = StrictCharField(
        max_length=255, required=False, help_text="With validation `split`: the column of train/test (default split)."
    )
    seed = serializers.IntegerField(required=False, min_value=0, max_value=2**31 - 1)
    time_limit = serializers.IntegerField(
        required=False, min_value=1, max_value=10**7, help_text="Seconds (default 3600); the job fails past it."
    )
    model_name = StrictCharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="The model the result becomes a new version of (made if new); default: dataset-algorithm.",
    )


class JobListParamsSerializer(QueryParamsSerializer):
    project = serializers.ListField(child=IdField(), required=False, help_text="Project ids, comma-separated.")
    dataset = serializers.ListField(child=IdField(), required=False, help_text="Dataset ids, comma-separated.")
    status = serializers.ListField(child=serializers.ChoiceField(choices=TrainingJob.Status.choices), required=False)
    algorithm = serializers.ListField(child=serializers.CharField(max_length=64), required=False)


class MetricSeriesSerializer(serializers.Serializer):
    name = serializers.CharField()
    steps = serializers.ListField(child=serializers.IntegerField())
    values = serializers.ListField(child=serializers.FloatField(allow_null=True))
    timestamps = serializers.ListField(child=serializers.DateTimeField())


class JobMetricsSerializer(serializers.Serializer):
    job = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TrainingJob.Status.choices)
    series = MetricSeriesSerializer(many=True, help_text="One per metric, points in step order (a line chart each).")
    final = serializers.DictField(allow_null=True, help_text="The held-out metrics once the job succeeded.")


class MetricsParamsSerializer(QueryParamsSerializer):
    name = serializers.ListField(child=serializers.CharField(max_length=64), required=False, help_text="Series names.")


class JobLogSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    ts = serializers.DateTimeField()
    level = serializers.ChoiceField(choices=LOG_LEVELS)
    message = serializers.CharField()


def log_representation(line: JobLog) -> dict[str, Any]:
    return {"seq": line.seq, "ts": line.ts, "level": line.level, "message": line.message}


class LogParamsSerializer(QueryParamsSerializer):
    level = serializers.ChoiceField(choices=LOG_LEVELS, required=False, help_text="This level and above.")


# --- models -------------------------------------------------------------------------------------------------


class ModelVersionSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=ModelVersion.Stage.choices)
    algorithm = serializers.CharField()
    created_at = serializers.DateTimeField()


@extend_schema_serializer(description="A named model of a project; each succeeded job naming it adds a version.")
class ModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    task = serializers.ChoiceField(choices=TASK_CHOICES)
    version_count = serializers.IntegerField()
    latest_version = ModelVersionSummarySerializer(allow_null=True)
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def model_representation(model: Model) -> dict[str, Any]:
    latest = model.latest_version
    return {
        "id": model.id,
        "project": model.project_id,
        "name": model.name,
        "description": model.description,
        "task": model.task,
        "version_count": model.version_count,
        "latest_version": (
            {
                "number": latest.number,
                "stage": latest.stage,
                "algorithm": latest.algorithm,
                "created_at": latest.created_at,
            }
            if latest is not None
            else None
        ),
        "created_by": model.created_by_id,
        "created_at": model.created_at,
        "updated_at": model.updated_at,
    }


class SignatureSerializer(serializers.Serializer):
    inputs = serializers.ListField(child=serializers.DictField(), help_text="[{name, type}] in order.")
    target = serializers.DictField(allow_null=True)
    task = serializers.CharField()
    classes = serializers.ListField(child=serializers.JSONField(), allow_null=True)


@extend_schema_serializer(description="A version of a model: its artifact, signature, metrics and lineage.")
class ModelVersionSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    number = serializers.IntegerField()
    stage = serializers.ChoiceField(choices=ModelVersion.Stage.choices)
    algorithm = serializers.CharField()
    hyperparameters = serializers.DictField()
    signature = SignatureSerializer()
    metrics = serializers.DictField()
    feature_importances = serializers.ListField(child=serializers.DictField(), allow_null=True)
    dataset = JobDatasetSerializer()
    job = serializers.IntegerField(allow_null=True)
    artifact_size = serializers.IntegerField()
    artifact_sha256 = serializers.CharField()
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    stage_changed_at = serializers.DateTimeField(allow_null=True)


def model_version_representation(version: ModelVersion) -> dict[str, Any]:
    dataset_version = version.dataset_version
    return {
        "model": version.model_id,
        "number": version.number,
        "stage": version.stage,
        "algorithm": version.algorithm,
        "hyperparameters": version.hyperparameters,
        "signature": version.signature,
        "metrics": version.metrics,
        "feature_importances": version.feature_importances,
        "dataset": {
            "id": dataset_version.dataset_id,
            "name": dataset_version.dataset.name,
            "version": dataset_version.number,
        },
        "job": version.job_id,
        "artifact_size": version.artifact_size,
        "artifact_sha256": version.artifact_sha256,
        "created_by": version.created_by_id,
        "created_at": version.created_at,
        "stage_changed_at": version.stage_changed_at,
    }


class ModelCreateInputSerializer(serializers.Serializer):
    project = ExampleIdField()
    name = StrictCharField(max_length=200)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)
    task = serializers.ChoiceField(choices=TASK_CHOICES)


class ModelUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)


class ModelListParamsSerializer(QueryParamsSerializer):
    project = serializers.ListField(child=IdField(), required=False)
    task = serializers.ListField(child=serializers.ChoiceField(choices=TASK_CHOICES), required=False)
    stage = serializers.ListField(
        child=serializers.ChoiceField(choices=ModelVersion.Stage.choices),
        required=False,
        help_text="Models with a version in one of these stages.",
    )
    search = serializers.CharField(required=False, max_length=100)


class StageInputSerializer(serializers.Serializer):
    stage = serializers.ChoiceField(
        choices=ModelVersion.Stage.choices,
        help_text="Promoting to `production` moves the version there before to `archived`, in one transaction.",
    )


class PredictInputSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.JSONField(),
        min_length=1,
        max_length=1000,
        help_text="Up to 1,000 objects keyed by the signature's input columns.",
    )


class PredictionSerializer(serializers.Serializer):
    model = serializers.IntegerField()
    version = serializers.IntegerField()
    predictions = serializers.ListField(child=serializers.JSONField())
    probabilities = serializers.ListField(
        child=serializers.DictField(),
        allow_null=True,
        help_text="Classifiers: one {class: probability} per row; null for regression and clustering.",
    )
