"""/api/v1/analytics/overview, /trends and /projects/{id}/activity: the platform's figures, for dashboards."""

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from incubator.serializers import IdField, QueryParamsSerializer

from ..selectors import figures
from .common import PROJECT_PARAM, TAGS, AnalyticsView, ChartSerializer, ProjectScopeParams, scope_for

# --- input --------------------------------------------------------------------------------------------------

DATE_FORMATS = ["%Y-%m-%d"]


class RangeParamsSerializer(QueryParamsSerializer):
    interval = serializers.ChoiceField(
        choices=figures.INTERVALS,
        required=False,
        help_text="The bucket: `day` (default), `week` (ISO weeks, starting on Monday) or `month`.",
    )
    # `from` is a Python keyword: declared through the class namespace, under the parameter's own name.
    locals()["from"] = serializers.DateField(
        input_formats=DATE_FORMATS,
        required=False,
        help_text="First day (YYYY-MM-DD) in `tz`. Default: 29 days before `to`.",
    )
    to = serializers.DateField(
        input_formats=DATE_FORMATS,
        required=False,
        help_text="Last day (YYYY-MM-DD) in `tz`, included. Default: today in `tz`.",
    )
    tz = serializers.CharField(
        max_length=64,
        required=False,
        help_text=(
            "IANA time zone the days and buckets are counted in, e.g. `UTC`; "
            "default `Asia/Shanghai` (setting ANALYTICS_TIME_ZONE)."
        ),
    )


class TrendParamsSerializer(RangeParamsSerializer):
    metric = serializers.ListField(
        child=serializers.ChoiceField(choices=list(figures.TREND_METRICS)),
        allow_empty=False,
        max_length=4 * len(figures.TREND_METRICS),
        required=True,
        help_text=(
            "One series per metric (repeat the parameter or separate with commas): "
            + ", ".join(f"`{name}`" for name in figures.TREND_METRICS)
            + "."
        ),
    )
    project = IdField(required=False, help_text="Narrow to one project the caller may read (404 if they may not).")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # Fields of parameters not sent are not built (QueryParamsSerializer), so `required` is checked here.
        if "metric" not in attrs:
            raise serializers.ValidationError({"metric": [serializers.Field.default_error_messages["required"]]})
        return attrs


def chart_range(params: dict[str, Any]) -> tuple[str, date, date, ZoneInfo]:
    """The interval, first and last day and time zone asked for, with their defaults (checked by the selector)."""
    # Refused here, before the cache, when out of bounds.
    return figures.chart_range(
        interval=params.get("interval"), start=params.get("from"), end=params.get("to"), tz_name=params.get("tz")
    )


def range_key(interval: str, start: date, end: date, tz: ZoneInfo) -> dict[str, Any]:
    return {"interval": interval, "from": start.isoformat(), "to": end.isoformat(), "tz": tz.key}


# --- output -------------------------------------------------------------------------------------------------


class CountedSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Stable machine value (a status or role).")
    label = serializers.CharField(help_text="Its label in the request's language.")
    count = serializers.IntegerField()


class ProjectFiguresSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Projects in scope.")
    by_status = CountedSerializer(
        many=True, help_text="Every status (`recruiting`, `in_progress`, `completed`), in that order, zero when none."
    )


class UserFiguresSerializer(serializers.Serializer):
    total = serializers.IntegerField(
        help_text=(
            "Active users. For a platform admin without `project`: every active user of the platform. Otherwise: "
            "the distinct active users who are members of the projects in scope."
        )
    )
    by_role = CountedSerializer(
        many=True,
        help_text=(
            "The same users by platform role: `member`, `mentor`, `admin` (platform admins, whatever their "
            "member/mentor role), in that order, zero when none."
        ),
    )


class DatasetFiguresSerializer(serializers.Serializer):
    datasets = serializers.IntegerField(help_text="Datasets of the projects in scope.")
    versions = serializers.IntegerField(help_text="Their versions, whatever their status or source.")


class DurationSerializer(serializers.Serializer):
    median = serializers.FloatField(allow_null=True, help_text="Seconds; null when no job succeeded.")
    p90 = serializers.FloatField(allow_null=True, help_text="Seconds (90th percentile); null when no job succeeded.")


class JobFiguresSerializer(serializers.Serializer):
    total = serializers.IntegerField(help_text="Training jobs of the projects in scope.")
    by_status = CountedSerializer(
        many=True,
        help_text="Every status (`queued`, `running`, `succeeded`, `failed`, `cancelled`), zero when none.",
    )
    success_rate = serializers.FloatField(
        allow_null=True,
        help_text=(
            "Succeeded / finished, where finished = succeeded + failed + cancelled; from 0 to 1, 4 decimals. "
            "Null when no job has finished."
        ),
    )
    duration_seconds = DurationSerializer(
        help_text=(
            "Over succeeded jobs: finished_at - started_at, continuous percentiles (linear interpolation, as "
            "PostgreSQL's percentile_cont)."
        )
    )


class ModelFiguresSerializer(serializers.Serializer):
    in_production = serializers.IntegerField(help_text="Model versions in the `production` stage (one per model).")


class OverviewSerializer(serializers.Serializer):
    projects = ProjectFiguresSerializer()
    users = UserFiguresSerializer()
    datasets = DatasetFiguresSerializer()
    jobs = JobFiguresSerializer()
    models = ModelFiguresSerializer()


# --- views --------------------------------------------------------------------------------------------------

SCOPE_TEXT = (
    "A platform admin counts the whole platform; everyone else counts only what they may read: public projects "
    "and the projects they are members of (never another team's private data). `project` narrows to one project."
)
CHART_TEXT = (
    "The chart shape: `x` holds the ISO date of each bucket's start (week buckets start on Monday, so the first "
    "may start before `from`; only days from `from` to `to` are counted), `series` one `{name, data}` per "
    "series with a value per `x` label (zero when nothing happened), `unit` what the values count. Names and "
    "unit follow Accept-Language. At most 366 buckets; `from` after `to`, an unknown `tz` or a longer range "
    "is a 400."
)


class OverviewView(AnalyticsView):
    @extend_schema(
        tags=TAGS,
        parameters=[PROJECT_PARAM],
        responses={200: OverviewSerializer},
        summary="The platform's figures",
        description=(
            "Projects by status, users by role, datasets and versions, training jobs by status with their success "
            "rate and median / p90 duration, and models in production. Every status and role is listed, with a "
            "stable `key` and a `label` in the request's language. " + SCOPE_TEXT
        ),
    )
    def get(self, request: Request) -> Response:
        scope = scope_for(request, ProjectScopeParams.validated(request).get("project"))
        return Response(self.answer("overview", scope, {}, lambda: figures.overview(scope=scope)))


class TrendsView(AnalyticsView):
    @extend_schema(
        tags=TAGS,
        parameters=[TrendParamsSerializer],
        responses={200: ChartSerializer},
        summary="Trends over time",
        description=(
            "How many of each `metric` happened per day, week or month, in the time zone `tz`: projects created, "
            "users registered (for a non-admin, or with `project`: among the members of the projects in scope), "
            "join applications, training jobs created, succeeded and failed (dated by when they finished), dataset "
            "versions uploaded (not those a pipeline derived). Several metrics give several series. "
            + CHART_TEXT
            + " "
            + SCOPE_TEXT
        ),
    )
    def get(self, request: Request) -> Response:
        params = TrendParamsSerializer.validated(request)
        scope = scope_for(request, params.get("project"))
        interval, start, end, tz = chart_range(params)
        metrics = list(dict.fromkeys(params["metric"]))
        key = {"metrics": metrics, **range_key(interval, start, end, tz)}
        return Response(
            self.answer(
                "trends",
                scope,
                key,
                lambda: figures.trends(scope=scope, metrics=metrics, interval=interval, start=start, end=end, tz=tz),
            )
        )


class ProjectActivityView(AnalyticsView):
    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("project_id", int, OpenApiParameter.PATH, description="The project."),
            RangeParamsSerializer,
        ],
        responses={200: ChartSerializer},
        summary="A project's activity",
        description=(
            "Four series for one project: members joined, join applications, dataset versions uploaded and "
            "training jobs created. A project the caller may not read is a 404. " + CHART_TEXT
        ),
    )
    def get(self, request: Request, project_id: int) -> Response:
        scope = scope_for(request, project_id)
        interval, start, end, tz = chart_range(RangeParamsSerializer.validated(request))
        return Response(
            self.answer(
                "project_activity",
                scope,
                range_key(interval, start, end, tz),
                lambda: figures.project_activity(scope=scope, interval=interval, start=start, end=end, tz=tz),
            )
        )


urlpatterns = [
    path("overview", OverviewView.as_view(), name="analytics-overview"),
    path("trends", TrendsView.as_view(), name="analytics-trends"),
    path("projects/<int:project_id>/activity", ProjectActivityView.as_view(), name="analytics-project-activity"),
]
