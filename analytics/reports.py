"""The reports an export can write: each validates its parameters (at POST time, so a bad one is a 400) and
produces a table (localized column names and an iterator of rows read from the database in chunks).

A report runs in the worker, in the creator's language and Scope, recomputed there: whoever lost access to a
project since the POST no longer exports its private rows.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from aimodels.models import TrainingJob
from datasets.models import Dataset
from incubator.errors import InvalidInput
from incubator.serializers import split_values
from projects.models import Membership, Project

from .scope import Scope

CHUNK = 2000
_ONE_DAY = timedelta(days=1)
# The metrics of a job written as their own columns: the headline ones of each task (evaluate.py).
JOB_METRICS = ("accuracy", "f1_macro", "roc_auc", "log_loss", "rmse", "mae", "r2", "silhouette")


@dataclass
class Table:
    """A report's output: `columns` (localized names), `rows` (an iterator, each row as long as the columns) and
    `total`, the number of rows when it is known beforehand (for progress and the row limit)."""

    columns: list[Any]
    rows: Iterable[Sequence[Any]]
    total: int | None = None


@dataclass(frozen=True)
class Report:
    name: str
    title: Any  # lazily translated, lower case: capitalized, the sheet's name and the downloaded file's
    params: type[serializers.Serializer]
    build: Callable[[Scope, dict[str, Any]], Table]
    description: str = ""
    examples: dict[str, Any] = field(default_factory=dict)


# --- parameters ---------------------------------------------------------------------------------------------


class ReportParams(serializers.Serializer):
    """Every report's parameters: `project` narrows to one project the creator may read. A name the report does
    not take is refused, not ignored: a misspelt filter would otherwise export everything."""

    project = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            message = _("Unknown parameter: this report takes %(names)s.") % {"names": ", ".join(self.fields)}
            unknown = {str(name): [message] for name in data if name not in self.fields}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):  # every mistake at once, the unknown names first
                raise serializers.ValidationError({**unknown, **error.detail}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value

    def validate_project(self, value: int) -> int:
        user = self.context.get("user")
        if user is not None and not Scope(user=user).projects().filter(pk=value).exists():
            raise serializers.ValidationError(_("No such project."))
        return value


class JobReportParams(ReportParams):
    status = serializers.ChoiceField(choices=TrainingJob.Status.choices, required=False)
    algorithm = serializers.CharField(required=False, max_length=64)
    created_from = serializers.DateField(required=False, help_text="Jobs created on or after this day (UTC).")
    created_to = serializers.DateField(required=False, help_text="Jobs created on or before this day (UTC).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        start, end = attrs.get("created_from"), attrs.get("created_to")
        figures = _figures()
        for name, day in (("created_from", start), ("created_to", end)):
            if day is not None and not figures.EARLIEST <= day <= figures.LATEST:
                bounds = {"earliest": figures.EARLIEST, "latest": figures.LATEST}
                raise serializers.ValidationError({name: [_("Dates run from %(earliest)s to %(latest)s.") % bounds]})
        if start and end and start > end:
            raise serializers.ValidationError({"created_to": [_("Must not be before created_from.")]})
        return attrs


class ProjectReportParams(ReportParams):
    status = serializers.ChoiceField(choices=Project.Status.choices, required=False)
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices, required=False)


def params_normalize(report: Report, raw: Any, *, user: Any) -> dict[str, Any]:
    """The validated parameters as JSON (dates as ISO text), sorted: what the export stores and what the
    worker parses again. Raises ValidationError with the field paths."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise serializers.ValidationError({"non_field_errors": [_("Must be an object.")]})
    checked = report.params(data=raw, context={"user": user})
    checked.is_valid(raise_exception=True)
    return {key: _json_value(value) for key, value in sorted(checked.validated_data.items())}


def params_parse(report: Report, stored: dict[str, Any]) -> dict[str, Any]:
    """The stored (normalized) parameters back as Python values; the project's access is the Scope's business."""
    checked = report.params(data=stored, context={})
    checked.is_valid(raise_exception=True)
    return dict(checked.validated_data)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- helpers ------------------------------------------------------------------------------------------------


def _count_per_project(queryset: Any, path: str = "project") -> Coalesce:
    """How many rows of `queryset` hang on the outer project: a correlated subquery, so several counts of one
    project never multiply each other the way joins would."""
    counted = queryset.filter(**{path: OuterRef("pk")}).order_by().values(path).annotate(n=Count("*")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _label(choices: Any, value: Any) -> str:
    try:
        return force_str(choices(value).label)
    except ValueError:
        return "" if value is None else str(value)


def _seconds(value: Any) -> float | None:
    return None if value is None else round(value.total_seconds(), 3)


# --- jobs ---------------------------------------------------------------------------------------------------


def jobs_table(scope: Scope, params: dict[str, Any]) -> Table:
    jobs = TrainingJob.objects.filter(scope.q("project"))
    if params.get("status"):
        jobs = jobs.filter(status=params["status"])
    if params.get("algorithm"):
        jobs = jobs.filter(algorithm=params["algorithm"])
    if params.get("created_from"):
        jobs = jobs.filter(created_at__gte=_day_start(params["created_from"]))
    if params.get("created_to"):
        jobs = jobs.filter(created_at__lt=_day_start(params["created_to"]) + _ONE_DAY)
    total = jobs.count()
    fields = [
        "id",
        "project_id",
        "project__name",
        "dataset_version__dataset__name",
        "dataset_version__number",
        "algorithm",
        "task",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "train_rows",
        "valid_rows",
        *(f"m_{name}" for name in JOB_METRICS),
    ]
    values = (
        jobs.annotate(
            duration=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()),
            **{f"m_{name}": F(f"metrics__{name}") for name in JOB_METRICS},
        )
        .order_by("-created_at", "-id")
        .values_list(*fields)
        .iterator(chunk_size=CHUNK)
    )
    # Lower-case names (the models' verbose names, translated already): writers capitalize the first letter.
    columns = [
        _("ID"),
        _("project ID"),
        _("project"),
        _("dataset"),
        _("dataset version"),
        _("algorithm"),
        _("task"),
        _("status"),
        _("created at"),
        _("started at"),
        _("finished at"),
        _("duration (seconds)"),
        _("training rows"),
        _("validation rows"),
        *JOB_METRICS,
    ]
    tasks = dict(TrainingJob._meta.get_field("task").choices or [])

    def rows() -> Iterator[list[Any]]:
        for row in values:
            out = list(row)
            out[6] = force_str(tasks.get(out[6], out[6]))
            out[7] = _label(TrainingJob.Status, out[7])
            out[11] = _seconds(out[11])
            out[14:] = [
                value if isinstance(value, int | float) and not isinstance(value, bool) else None for value in out[14:]
            ]
            yield out

    return Table(columns=columns, rows=rows(), total=total)


# --- projects -----------------------------------------------------------------------------------------------


def projects_table(scope: Scope, params: dict[str, Any]) -> Table:
    projects = Project.objects.filter(_project_scope_q(scope))
    if params.get("status"):
        projects = projects.filter(status=params["status"])
    if params.get("visibility"):
        projects = projects.filter(visibility=params["visibility"])
    total = projects.count()
    values = (
        projects.annotate(
            members=_count_per_project(Membership.objects.all()),
            dataset_count=_count_per_project(Dataset.objects.all()),
            job_count=_count_per_project(TrainingJob.objects.all()),
        )
        .order_by("-created_at", "-id")
        .values_list(
            "id",
            "name",
            "status",
            "visibility",
            "owner__username",
            "members",
            "dataset_count",
            "job_count",
            "created_at",
            "tags",
        )
        .iterator(chunk_size=CHUNK)
    )
    columns = [
        _("ID"),
        _("name"),
        _("status"),
        _("visibility"),
        _("owner"),
        _("member count"),
        _("datasets"),
        _("training jobs"),
        _("created at"),
        _("tags"),
    ]

    def rows() -> Iterator[list[Any]]:
        for row in values:
            out = list(row)
            out[2] = _label(Project.Status, out[2])
            out[3] = _label(Project.Visibility, out[3])
            out[9] = ", ".join(str(tag) for tag in (out[9] or []))
            yield out

    return Table(columns=columns, rows=rows(), total=total)


def _project_scope_q(scope: Scope) -> Q:
    """Scope.q() filters rows hanging on a project; here the rows are the projects themselves."""
    if scope.is_whole_platform():
        return Q()
    return Q(pk__in=scope.projects().values("pk"))


# --- charts as tables ---------------------------------------------------------------------------------------


def chart_table(chart: dict[str, Any], x_label: Any) -> Table:
    """A chart {x, series: [{name, data}], unit} as rows `x, series 1, series 2...`; the unit joins each
    series' name ("Jobs (count)"). The chart is small by construction (one row per label)."""
    unit = force_str(chart.get("unit") or "")
    series = list(chart.get("series") or [])
    names = [f"{force_str(s['name'])} ({unit})" if unit else force_str(s["name"]) for s in series]
    labels = list(chart.get("x") or [])
    rows = ([label, *(s["data"][index] for s in series)] for index, label in enumerate(labels))
    return Table(columns=[x_label, *names], rows=rows, total=len(labels))


# --- reports over the charts' selectors ----------------------------------------------------------------------
# Imported when used: the selectors import the other apps' models, and a report registry must load anywhere.


def _figures() -> Any:
    from .selectors import figures

    return figures


def _models() -> Any:
    from .selectors import models

    return models


class NameListField(serializers.ListField):
    """A list of names, or one string of comma-separated names as GET /analytics/trends takes `metric`."""

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, str):
            data = split_values([data])
        return list(super().to_internal_value(data))


class TrendReportParams(ReportParams):
    metric = NameListField(
        child=serializers.CharField(max_length=64), allow_empty=False, max_length=32, help_text="Trend metrics."
    )
    interval = serializers.ChoiceField(choices=["day", "week", "month"], required=False)
    locals()["from"] = serializers.DateField(required=False)
    to = serializers.DateField(required=False)
    tz = serializers.CharField(max_length=64, required=False)

    def validate_metric(self, value: list[str]) -> list[str]:
        known = _figures().TREND_METRICS
        if any(metric not in known for metric in value):
            raise serializers.ValidationError(_("Choose among: %(names)s.") % {"names": ", ".join(known)})
        return list(dict.fromkeys(value))

    def validate_tz(self, value: str) -> str:
        if value not in _figures().time_zone_names():
            raise serializers.ValidationError(_("Unknown time zone."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The defaults are resolved now and stored, so the file says which days and time zone it counts.
        interval, start, end, tz = _trend_range(attrs)
        return {**attrs, "interval": interval, "from": start, "to": end, "tz": tz.key}


def _trend_range(params: dict[str, Any]) -> tuple[str, date, date, Any]:
    """The same defaults and bounds as GET analytics/trends (figures.chart_range), so an export of a chart holds
    the chart's numbers; InvalidInput becomes the serializer's error, under `params.`."""
    try:
        return _figures().chart_range(
            interval=params.get("interval"), start=params.get("from"), end=params.get("to"), tz_name=params.get("tz")
        )
    except InvalidInput as exc:
        raise serializers.ValidationError(exc.errors) from None


def trends_table(scope: Scope, params: dict[str, Any]) -> Table:
    interval, start, end, tz = _trend_range(params)
    shown = _figures().trends(scope=scope, metrics=params["metric"], interval=interval, start=start, end=end, tz=tz)
    return chart_table(shown, _("period"))


class LeaderboardReportParams(ReportParams):
    dataset = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    metric = serializers.CharField(max_length=64)
    task = serializers.ChoiceField(choices=TrainingJob._meta.get_field("task").choices or [], required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=100)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        known = {entry["name"] for metrics in _models().known_metrics(attrs.get("task")).values() for entry in metrics}
        if attrs["metric"] not in known:
            raise serializers.ValidationError(
                {"metric": [_("Choose among: %(names)s.") % {"names": ", ".join(sorted(known))}]}
            )
        user = self.context.get("user")
        if user is not None and not Dataset.objects.filter(Scope(user=user).q("project"), pk=attrs["dataset"]).exists():
            raise serializers.ValidationError({"dataset": [_("No such dataset.")]})
        return attrs


def leaderboard_table(scope: Scope, params: dict[str, Any]) -> Table:
    models = _models()
    board = models.leaderboard(
        scope=scope,
        dataset_id=params["dataset"],
        metric=params["metric"],
        task=params.get("task"),
        limit=params.get("limit") or models.LEADERBOARD_DEFAULT_LIMIT,
    )
    columns = [
        _("rank"),
        _("model"),
        _("version"),
        _("stage"),
        _("algorithm"),
        _("project ID"),
        _("dataset version"),
        board["metric_label"],
        _("created at"),
    ]
    rows = [
        [
            row["rank"],
            row["model"]["name"],
            row["version"],
            row["stage_display"],
            row["algorithm"],
            row["project"],
            row["dataset_version"],
            row["value"],
            row["created_at"],
        ]
        for row in board["rows"]
    ]
    return Table(columns=columns, rows=rows, total=len(rows))


# --- the registry -------------------------------------------------------------------------------------------

REPORTS: dict[str, Report] = {
    "jobs": Report(
        name="jobs",
        title=_("training jobs"),
        params=JobReportParams,
        build=jobs_table,
        description="Training jobs with their project, dataset, timing, rows and main metrics.",
    ),
    "projects": Report(
        name="projects",
        title=_("projects"),
        params=ProjectReportParams,
        build=projects_table,
        description="Projects with their status, visibility, member, dataset and job counts and tags.",
    ),
    "trends": Report(
        name="trends",
        title=_("trends"),
        params=TrendReportParams,
        build=trends_table,
        description="The trend chart as a table: one row per period, one column per metric.",
    ),
    "leaderboard": Report(
        name="leaderboard",
        title=_("leaderboard"),
        params=LeaderboardReportParams,
        build=leaderboard_table,
        description="The best model versions trained on a dataset, by a metric.",
    ),
}


def report_get(name: str) -> Report | None:
    return REPORTS.get(name)
