"""Model figures: the leaderboard of model versions on a dataset by one held-out metric, and training jobs
compared side by side (final metrics and per-step learning curves).

Both are a constant number of queries whatever the data size: the leaderboard is ranked and cut in SQL, and the
comparison reads the jobs in one query and their metric points, already downsampled in SQL, in another.
"""

from collections.abc import Mapping
from typing import Any

from django.db.models import BooleanField, F, FloatField, IntegerField, Max, Q, Window
from django.db.models.expressions import ExpressionWrapper, Func
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Mod, Rank
from django.utils.encoding import force_str
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import serializers

from aimodels.models import JobMetric, ModelVersion, TrainingJob
from datasets.models import Dataset
from incubator.errors import InvalidInput, NotFound

from ..charts import chart
from ..scope import Scope

HIGHER = "higher"
LOWER = "lower"

# The held-out metrics aimodels.engine.evaluate writes for each task (ModelVersion.metrics, TrainingJob.metrics),
# in the engine's order, with the direction that is better. Non-scalar entries (confusion_matrix, cluster_sizes)
# cannot rank anything and are left out; a test checks this table against what the engine produces.
TASK_METRICS: dict[str, dict[str, str]] = {
    "classification": {
        "accuracy": HIGHER,
        "precision_macro": HIGHER,
        "recall_macro": HIGHER,
        "f1_macro": HIGHER,
        "precision_weighted": HIGHER,
        "recall_weighted": HIGHER,
        "f1_weighted": HIGHER,
        "roc_auc": HIGHER,
        "log_loss": LOWER,
    },
    "regression": {"rmse": LOWER, "mae": LOWER, "r2": HIGHER},
    "clustering": {"silhouette": HIGHER, "inertia": LOWER},
}
# Every metric name belongs to one task only, so a name alone says which way is better.
METRIC_DIRECTIONS: dict[str, str] = {name: way for metrics in TASK_METRICS.values() for name, way in metrics.items()}
METRIC_LABELS: dict[str, Any] = {
    "accuracy": gettext_lazy("Accuracy"),
    "precision_macro": gettext_lazy("Precision (macro)"),
    "recall_macro": gettext_lazy("Recall (macro)"),
    "f1_macro": gettext_lazy("F1 (macro)"),
    "precision_weighted": gettext_lazy("Precision (weighted)"),
    "recall_weighted": gettext_lazy("Recall (weighted)"),
    "f1_weighted": gettext_lazy("F1 (weighted)"),
    "roc_auc": gettext_lazy("ROC AUC"),
    "log_loss": gettext_lazy("Log loss"),
    "rmse": gettext_lazy("RMSE"),
    "mae": gettext_lazy("MAE"),
    "r2": gettext_lazy("R²"),
    "silhouette": gettext_lazy("Silhouette"),
    "inertia": gettext_lazy("Inertia"),
}
# Per-step metrics of the learning curves that are not final metrics; `val_<metric>` reads "Validation <metric>".
CURVE_LABELS: dict[str, Any] = {"loss": gettext_lazy("Training loss"), "val_loss": gettext_lazy("Validation loss")}


def metric_label(name: str) -> str:
    """A metric's name in the request's language: a final metric, a learning curve's (`loss`, `val_accuracy`), or
    the name itself for one the engine does not know (an algorithm's own)."""
    if name in METRIC_LABELS:
        return force_str(METRIC_LABELS[name])
    if name in CURVE_LABELS:
        return force_str(CURVE_LABELS[name])
    if name.startswith("val_") and name[4:] in METRIC_LABELS:
        return _("Validation %(metric)s") % {"metric": force_str(METRIC_LABELS[name[4:]])}
    return name


LEADERBOARD_DEFAULT_LIMIT = 10
LEADERBOARD_MAX_LIMIT = 100
COMPARE_MAX_JOBS = 10
# A learning curve keeps at most about this many points per job: longer series are thinned in SQL to the steps
# that are a multiple of a stride common to every job of the comparison (so their x values line up), plus each
# job's last step.
CURVE_MAX_POINTS = 1000

_TIMESTAMP = serializers.DateTimeField()


def known_metrics(task: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """{task: [{"name", "label", "direction", "higher_is_better"}]} for every task, or for `task` only."""
    tasks = [task] if task is not None else list(TASK_METRICS)
    return {
        name: [
            {
                "name": metric,
                "label": force_str(METRIC_LABELS[metric]),
                "direction": way,
                "higher_is_better": way == HIGHER,
            }
            for metric, way in TASK_METRICS[name].items()
        ]
        for name in tasks
    }


def _metric_check(metric: str, task: str | None) -> str:
    """The metric's direction, or a 400 naming the metrics known for the task (for every task without one)."""
    if task is not None and task not in TASK_METRICS:
        raise InvalidInput({"task": [_("Unknown task. Known tasks: %(known)s.") % {"known": ", ".join(TASK_METRICS)}]})
    allowed = TASK_METRICS[task] if task is not None else METRIC_DIRECTIONS
    if metric not in allowed:
        names = ", ".join(allowed)
        message = (
            _("Unknown metric for the task %(task)s. Known metrics: %(known)s.") % {"task": task, "known": names}
            if task is not None
            else _("Unknown metric. Known metrics: %(known)s.") % {"known": names}
        )
        error = InvalidInput({"metric": [message]})
        error.details["known_metrics"] = known_metrics(task)
        raise error
    return allowed[metric]


class _IsJsonNumber(Func):
    """True where the JSON column holds a number under `key`: a null, a text or a missing value is skipped before
    the cast to float (PostgreSQL would refuse to cast a text)."""

    output_field = BooleanField()

    def __init__(self, column: str, key: str) -> None:
        super().__init__(F(column))
        self.key = key

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"(JSON_TYPE({sql}, %s) IN ('integer', 'real'))", [*params, f'$."{self.key}"']

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, Any]:
        sql, params = compiler.compile(self.get_source_expressions()[0])
        return f"(jsonb_typeof({sql} -> %s) = 'number')", [*params, self.key]


def leaderboard(*, scope: Scope, dataset_id: int, metric: str, task: str | None, limit: int) -> dict[str, Any]:
    """The best model versions trained on any version of the dataset, by `metric` in its better direction.

    A dataset the scope does not count is a 404; an unknown metric (for the task, when given) a 400. Versions
    without a numeric value of the metric are skipped. Ties share a rank (and are listed oldest first).
    """
    direction = _metric_check(metric, task)
    limit = max(1, min(int(limit), LEADERBOARD_MAX_LIMIT))
    dataset = Dataset.objects.filter(scope.q("project"), pk=dataset_id).values("id", "name").first()
    if dataset is None:
        raise NotFound()

    value = F("value").desc() if direction == HIGHER else F("value").asc()
    scoped = ModelVersion.objects.filter(scope.q("model__project"), dataset_version__dataset_id=dataset_id)
    if task is not None:
        scoped = scoped.filter(model__task=task)
    ranked = (
        scoped.filter(_IsJsonNumber("metrics", metric))
        .annotate(value=Cast(KT(f"metrics__{metric}"), FloatField()))
        .annotate(rank=Window(Rank(), order_by=[value]))
        .order_by(value, "created_at", "id")
        .values(
            "rank",
            "value",
            "id",
            "number",
            "stage",
            "algorithm",
            "hyperparameters",
            "job_id",
            "metrics",
            "created_at",
            "model_id",
            "model__name",
            "model__task",
            "model__project_id",
            "dataset_version__number",
        )
    )
    stages = dict(ModelVersion.Stage.choices)
    rows = [
        {
            "rank": row["rank"],
            "model": {"id": row["model_id"], "name": row["model__name"], "task": row["model__task"]},
            "project": row["model__project_id"],
            "version": row["number"],
            "model_version": row["id"],
            "stage": row["stage"],
            "stage_display": force_str(stages.get(row["stage"], row["stage"])),
            "algorithm": row["algorithm"],
            "hyperparameters": row["hyperparameters"],
            "job": row["job_id"],
            "dataset_version": row["dataset_version__number"],
            "value": row["value"],
            "metrics": row["metrics"],
            "created_at": _TIMESTAMP.to_representation(row["created_at"]),
        }
        for row in ranked[:limit]
    ]
    label = METRIC_LABELS[metric]
    return {
        "dataset": dataset,
        "metric": metric,
        "metric_label": force_str(label),
        "task": task,
        "direction": direction,
        "higher_is_better": direction == HIGHER,
        "rows": rows,
        "chart": chart(
            [_("%(model)s v%(number)s") % {"model": row["model"]["name"], "number": row["version"]} for row in rows],
            [(label, [row["value"] for row in rows])],
        ),
    }


def _metric_names(jobs: list[dict[str, Any]]) -> list[str]:
    """The scalar metrics present in any job: the known ones in the engine's order, then any other by name."""
    present = {
        name
        for job in jobs
        for name, value in (job["metrics"] or {}).items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
    known = [name for name in METRIC_DIRECTIONS if name in present]
    return known + sorted(present - set(known))


def _job_label(job: Mapping[str, Any]) -> str:
    return f"#{job['id']} {job['algorithm']}"


def _curve_points(job_ids: list[int]) -> list[tuple[int, str, int, float | None]]:
    """(job_id, name, step, value) of every job's per-step metrics, in one query. A series whose steps go past
    CURVE_MAX_POINTS keeps the steps that are multiples of a stride shared by every job for that name (so the
    jobs' points fall on the same x values) and each job's last step."""
    stride = ExpressionWrapper(F("top") / CURVE_MAX_POINTS + 1, output_field=IntegerField())
    return list(
        JobMetric.objects.filter(job_id__in=job_ids)
        .annotate(
            top=Window(Max("step"), partition_by=[F("name")]),
            last=Window(Max("step"), partition_by=[F("job_id"), F("name")]),
        )
        .annotate(offset=Mod(F("step"), stride))
        .filter(Q(offset=0) | Q(step=F("last")))
        .order_by("name", "step", "job_id", "id")
        .values_list("job_id", "name", "step", "value")
    )


def jobs_compare(*, scope: Scope, job_ids: list[int]) -> dict[str, Any]:
    """Up to COMPARE_MAX_JOBS jobs side by side, in the order asked: their spec and final metrics (`jobs`), the
    final metrics as one chart (`metrics`, a series per job) and a chart per per-step metric (`curves`).

    A job the scope does not count is a 404 that names nothing (as if it did not exist)."""
    if not job_ids:
        raise InvalidInput({"ids": [_("Give at least one job id.")]})
    if len(job_ids) > COMPARE_MAX_JOBS:
        raise InvalidInput({"ids": [_("Compare at most %(max)d jobs.") % {"max": COMPARE_MAX_JOBS}]})
    if len(set(job_ids)) != len(job_ids):
        raise InvalidInput({"ids": [_("Each job may be named only once.")]})

    found = {
        job["id"]: job
        for job in TrainingJob.objects.filter(scope.q("project"), pk__in=job_ids)
        .annotate(duration=F("finished_at") - F("started_at"))
        .values(
            "id",
            "project_id",
            "project__name",
            "algorithm",
            "task",
            "hyperparameters",
            "status",
            "metrics",
            "duration",
            "created_at",
            "started_at",
            "finished_at",
            "dataset_version_id",
            "dataset_version__number",
            "dataset_version__dataset_id",
            "dataset_version__dataset__name",
            "model_version__model_id",
            "model_version__model__name",
            "model_version__number",
        )
    }
    if len(found) != len(job_ids):
        raise NotFound()

    statuses = dict(TrainingJob.Status.choices)
    jobs = []
    for job_id in job_ids:
        job = found[job_id]
        duration = job["duration"]
        jobs.append(
            {
                "id": job["id"],
                "label": _job_label(job),
                "project": {"id": job["project_id"], "name": job["project__name"]},
                "algorithm": job["algorithm"],
                "task": job["task"],
                "hyperparameters": job["hyperparameters"],
                "status": job["status"],
                "status_display": force_str(statuses.get(job["status"], job["status"])),
                "metrics": job["metrics"],
                "duration_seconds": None if duration is None else duration.total_seconds(),
                "dataset_version": {
                    "id": job["dataset_version_id"],
                    "number": job["dataset_version__number"],
                    "dataset": {
                        "id": job["dataset_version__dataset_id"],
                        "name": job["dataset_version__dataset__name"],
                    },
                },
                "model": None
                if job["model_version__model_id"] is None
                else {
                    "id": job["model_version__model_id"],
                    "name": job["model_version__model__name"],
                    "version": job["model_version__number"],
                },
                "created_at": _TIMESTAMP.to_representation(job["created_at"]),
                "started_at": _TIMESTAMP.to_representation(job["started_at"]) if job["started_at"] else None,
                "finished_at": _TIMESTAMP.to_representation(job["finished_at"]) if job["finished_at"] else None,
            }
        )

    names = _metric_names(jobs)
    metrics = chart(
        [metric_label(name) for name in names],
        [(job["label"], [_scalar((job["metrics"] or {}).get(name)) for name in names]) for job in jobs],
    )

    # name -> step -> job -> value, from the one query of points.
    series: dict[str, dict[int, dict[int, float | None]]] = {}
    for job_id, name, step, value in _curve_points(job_ids):
        series.setdefault(name, {}).setdefault(step, {})[job_id] = value
    curves = {}
    for name, by_step in sorted(series.items()):
        steps = sorted(by_step)
        curves[name] = {
            **chart(steps, [(job["label"], [by_step[step].get(job["id"]) for step in steps]) for job in jobs]),
            "label": metric_label(name),
        }
    return {"jobs": jobs, "metric_names": names, "metrics": metrics, "curves": curves, "max_points": CURVE_MAX_POINTS}


def _scalar(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
