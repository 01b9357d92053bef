"""Reads on jobs and models: visibility through the project, lists with filters, metric series, log pages."""

from collections import OrderedDict
from typing import Any

from django.db.models import Q, QuerySet

from incubator.errors import NotFound
from incubator.generations import generation_get
from incubator.prepared import PreparedLookup
from incubator.totals import cached_total
from projects.access import ProjectRowLookup
from projects.models import Project
from projects.selectors import LIST_GENERATION as PROJECTS_GENERATION
from projects.selectors import normalize_search, project_visibility_scope, project_visible_q

from .models import JobLog, JobMetric, Model, ModelVersion, TrainingJob
from .services import JOBS_GENERATION, MODELS_GENERATION


def _visible(*, user: Any) -> Q:
    inner = project_visible_q(user=user)
    if not inner:
        return Q()
    return Q(project__in=Project.objects.filter(inner).values("pk"))


def job_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet:
    """Jobs in projects the user may see, filtered. Unordered: the caller orders."""
    filters = filters or {}
    qs = TrainingJob.objects.filter(_visible(user=user))
    if projects := filters.get("project"):
        qs = qs.filter(project_id__in=projects)
    if statuses := filters.get("status"):
        qs = qs.filter(status__in=statuses)
    if names := filters.get("algorithm"):
        qs = qs.filter(algorithm__in=names)
    if datasets := filters.get("dataset"):
        qs = qs.filter(dataset_version__dataset_id__in=datasets)
    return qs


def job_list_total(queryset: QuerySet, *, user: Any, filters: dict[str, Any]) -> int:
    key = (project_visibility_scope(user=user), repr(sorted(filters.items())), generation_get(PROJECTS_GENERATION))
    return cached_total(queryset, family=JOBS_GENERATION, key=key)


_JOB = ProjectRowLookup(
    TrainingJob,
    lambda job_id: TrainingJob.objects.select_related(
        "project", "dataset_version__dataset", "model_version__model"
    ).filter(pk=job_id),
    project="project",
)


def job_get(*, job_id: int, viewer: Any = None) -> TrainingJob:
    """The job with its project, dataset version and model version, or 404; with `viewer`, the same query
    brings the viewer's role in the project (projects.access.ProjectRowLookup)."""
    job = _JOB.first(viewer, job_id=job_id)
    if job is None:
        raise NotFound()
    return job


def job_metric_series(*, job: TrainingJob, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Chart-ready series: one per metric name, its steps, values and times in step order."""
    points = JobMetric.objects.filter(job=job).order_by("name", "step", "id")
    if names:
        points = points.filter(name__in=names)
    series: OrderedDict[str, dict[str, list[Any]]] = OrderedDict()
    for name, step, value, ts in points.values_list("name", "step", "value", "ts").iterator(chunk_size=2000):
        entry = series.setdefault(name, {"steps": [], "values": [], "timestamps": []})
        entry["steps"].append(step)
        entry["values"].append(value)
        entry["timestamps"].append(ts)
    return [{"name": name, **entry} for name, entry in series.items()]


def job_logs(*, job: TrainingJob, level: str | None = None) -> QuerySet:
    qs = JobLog.objects.filter(job=job).order_by("seq")
    if level:
        order = ["DEBUG", "INFO", "WARNING", "ERROR"]
        qs = qs.filter(level__in=order[order.index(level) :])
    return qs


def model_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet:
    filters = filters or {}
    qs = Model.objects.filter(_visible(user=user))
    if projects := filters.get("project"):
        qs = qs.filter(project_id__in=projects)
    if tasks := filters.get("task"):
        qs = qs.filter(task__in=tasks)
    if stages := filters.get("stage"):
        qs = qs.filter(versions__stage__in=stages).distinct()
    if search := filters.get("search"):
        needle = normalize_search(search)
        if needle:
            qs = qs.filter(Q(name__icontains=needle) | Q(description__icontains=needle))
    return qs


def model_list_total(queryset: QuerySet, *, user: Any, filters: dict[str, Any]) -> int:
    key = (project_visibility_scope(user=user), repr(sorted(filters.items())), generation_get(PROJECTS_GENERATION))
    return cached_total(queryset, family=MODELS_GENERATION, key=key)


_MODEL = ProjectRowLookup(
    Model,
    lambda model_id: Model.objects.select_related("project", "latest_version").filter(pk=model_id),
    project="project",
)


def model_get(*, model_id: int, viewer: Any = None) -> Model:
    """The model with its project and latest version, or 404; with `viewer`, the same query brings the
    viewer's role in the project (projects.access.ProjectRowLookup)."""
    model = _MODEL.first(viewer, model_id=model_id)
    if model is None:
        raise NotFound()
    return model


def model_version_list(*, model: Model) -> QuerySet:
    return ModelVersion.objects.filter(model=model).select_related("dataset_version__dataset").order_by("number")


_VERSION = PreparedLookup(
    ModelVersion,
    lambda model_id, number: ModelVersion.objects.select_related("dataset_version__dataset").filter(
        model_id=model_id, number=number
    ),
)


def model_version_get(*, model: Model, number: int) -> ModelVersion:
    version = _VERSION.first(model_id=model.pk, number=number)
    if version is None:
        raise NotFound()
    version.model = model
    return version


def _version_for_predict(model_id: int, number: int) -> QuerySet:
    return (
        ModelVersion.objects.select_related("model__project")
        .only("id", "number", "model_id", "artifact", "artifact_sha256", "signature", "model__id", "model__project")
        .filter(model_id=model_id, number=number)
    )


# The hot path of serving, its SQL built once per database (incubator.prepared).
_VERSION_FOR_PREDICT = ProjectRowLookup(ModelVersion, _version_for_predict, project="model__project")


def model_version_for_predict(*, model_id: int, number: int, viewer: Any = None) -> ModelVersion:
    """The version with its model, its project and the viewer's role in it in one query, without the columns a
    prediction does not read: the whole of a predict request's lookups (the caller's access is checked on
    `version.model.project`)."""
    version = _VERSION_FOR_PREDICT.first(viewer, model_id=model_id, number=number)
    if version is None:
        raise NotFound()
    return version


def job_topic_readable(user: Any, ids: list[int]) -> set[int]:
    """Which of these jobs' live topics (`job:{id}`) the user may read: those of projects they can see."""
    visible = Project.objects.filter(project_visible_q(user=user))
    return set(TrainingJob.objects.filter(pk__in=ids, project__in=visible).values_list("pk", flat=True))
