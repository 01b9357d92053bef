"""/api/v1/analytics/models/leaderboard and /api/v1/analytics/jobs/compare: model versions ranked by a metric,
training jobs side by side."""

from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from aimodels.models import TASK_CHOICES, ModelVersion, TrainingJob
from incubator.serializers import ExampleIdField, IdField, QueryParamsSerializer

from ..scope import Scope
from ..selectors import models as selectors
from .common import TAGS, AnalyticsView, ChartSerializer, scope_for

# --- input --------------------------------------------------------------------------------------------------


class LeaderboardParamsSerializer(QueryParamsSerializer):
    dataset = ExampleIdField(help_text="A dataset id: model versions trained on any of its versions count.")
    metric = serializers.CharField(
        max_length=64,
        help_text=(
            "A held-out metric: classification accuracy, precision_macro, recall_macro, f1_macro, "
            "precision_weighted, recall_weighted, f1_weighted, roc_auc (higher is better), log_loss (lower); "
            "regression r2 (higher), rmse, mae (lower); clustering silhouette (higher), inertia (lower)."
        ),
    )
    task = serializers.ChoiceField(choices=TASK_CHOICES, required=False, help_text="Only models of this task.")
    limit = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=selectors.LEADERBOARD_MAX_LIMIT,
        help_text=f"How many rows (default {selectors.LEADERBOARD_DEFAULT_LIMIT}).",
    )
    project = ExampleIdField(
        required=False, help_text="Narrow to one project the caller may read (404 if they may not)."
    )


class CompareParamsSerializer(QueryParamsSerializer):
    ids = serializers.ListField(
        child=IdField(),
        min_length=1,
        max_length=selectors.COMPARE_MAX_JOBS,
        help_text=f"1 to {selectors.COMPARE_MAX_JOBS} job ids, comma-separated (`ids=1,2,3`) or repeated.",
    )

    def validate_ids(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError(_("Each job may be named only once."))
        return value


# --- output (OpenAPI) ---------------------------------------------------------------------------------------


class LeaderboardModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    task = serializers.ChoiceField(choices=TASK_CHOICES)


class LeaderboardRowSerializer(serializers.Serializer):
    rank = serializers.IntegerField(help_text="1 for the best; equal values share a rank.")
    model = LeaderboardModelSerializer()
    project = serializers.IntegerField(help_text="The model's project id.")
    version = serializers.IntegerField(help_text="The model version's number.")
    model_version = serializers.IntegerField(help_text="The model version's id.")
    stage = serializers.ChoiceField(choices=ModelVersion.Stage.choices)
    stage_display = serializers.CharField(help_text="The stage in the request's language.")
    algorithm = serializers.CharField()
    hyperparameters = serializers.DictField()
    job = serializers.IntegerField(allow_null=True, help_text="The training job's id (null once it was deleted).")
    dataset_version = serializers.IntegerField(help_text="The number of the dataset version it was trained on.")
    value = serializers.FloatField(help_text="The value of the ranking metric.")
    metrics = serializers.DictField(help_text="Every held-out metric of the version.")
    created_at = serializers.DateTimeField()


class NamedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


@extend_schema_serializer(
    description="Model versions ranked by one metric, best first, with a bar chart of the same values."
)
class LeaderboardSerializer(serializers.Serializer):
    dataset = NamedSerializer()
    metric = serializers.CharField()
    metric_label = serializers.CharField(help_text="The metric's name in the request's language.")
    task = serializers.ChoiceField(choices=TASK_CHOICES, allow_null=True)
    direction = serializers.ChoiceField(choices=["higher", "lower"], help_text="Which values are better.")
    higher_is_better = serializers.BooleanField()
    rows = LeaderboardRowSerializer(many=True)
    chart = ChartSerializer(help_text="x: `name vN` per row, one series: the metric's values.")


class CompareDatasetVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.IntegerField()
    dataset = NamedSerializer()


class CompareModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class CompareJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(help_text="`#id algorithm`: the job's series name in the charts.")
    project = NamedSerializer()
    algorithm = serializers.CharField()
    task = serializers.ChoiceField(choices=TASK_CHOICES)
    hyperparameters = serializers.DictField()
    status = serializers.ChoiceField(choices=TrainingJob.Status.choices)
    status_display = serializers.CharField()
    metrics = serializers.DictField(allow_null=True, help_text="Held-out metrics, once the job succeeded.")
    duration_seconds = serializers.FloatField(allow_null=True, help_text="From start to finish; null until then.")
    dataset_version = CompareDatasetVersionSerializer()
    model = CompareModelSerializer(allow_null=True, help_text="The model version the job made, if any.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class CurveSerializer(ChartSerializer):
    x = serializers.ListField(child=serializers.IntegerField(), help_text="The steps (epochs, iterations).")
    label = serializers.CharField(help_text="The per-step metric's name in the request's language (its title).")


@extend_schema_serializer(
    description="Training jobs side by side: their spec, final metrics and learning curves, in chart shape."
)
class JobsCompareSerializer(serializers.Serializer):
    jobs = CompareJobSerializer(many=True, help_text="In the order asked.")
    metric_names = serializers.ListField(
        child=serializers.CharField(), help_text="The metrics of `metrics.x`, in its order, as keys (accuracy...)."
    )
    metrics = ChartSerializer(
        help_text="x: the metrics any job has, named in the request's language; a series per job (null where it "
        "has none)."
    )
    curves = serializers.DictField(
        child=CurveSerializer(),
        help_text="Per per-step metric (loss, val_accuracy...): x the steps, a series per job (null: no point).",
    )
    max_points = serializers.IntegerField(help_text="Longer curves are thinned to about this many steps.")


# --- views --------------------------------------------------------------------------------------------------


class ModelLeaderboardView(AnalyticsView):
    serializer_class = LeaderboardSerializer

    @extend_schema(
        tags=TAGS,
        parameters=[LeaderboardParamsSerializer],
        responses={200: LeaderboardSerializer},
        summary="Model leaderboard",
        description=(
            "The best model versions trained on any version of `dataset`, ranked by the held-out `metric` in the "
            "direction that is better (`direction`: rmse, mae, log_loss and inertia lower first, the others higher "
            "first). Only models of projects the caller may read count; a dataset they may not read is a 404. "
            "Versions without that metric are skipped. An unknown metric (for `task`, when given) is a 400 "
            "INVALID_INPUT whose `details.known_metrics` lists the metrics of each task with their direction. "
            "`chart` is the same ranking ready for a bar chart."
        ),
        examples=[
            OpenApiExample(
                "Regression by RMSE",
                value={
                    "dataset": {"id": 3, "name": "House prices"},
                    "metric": "rmse",
                    "metric_label": "RMSE",
                    "task": "regression",
                    "direction": "lower",
                    "higher_is_better": False,
                    "rows": [
                        {
                            "rank": 1,
                            "model": {"id": 4, "name": "房价 House price", "task": "regression"},
                            "project": 2,
                            "version": 3,
                            "model_version": 9,
                            "stage": "production",
                            "stage_display": "Production",
                            "algorithm": "random_forest_regressor",
                            "hyperparameters": {"n_estimators": 100, "max_depth": 8},
                            "job": 12,
                            "dataset_version": 2,
                            "value": 10450.2,
                            "metrics": {"rmse": 10450.2, "mae": 8120.5, "r2": 0.94},
                            "created_at": "2026-01-10T08:00:00Z",
                        }
                    ],
                    "chart": {
                        "x": ["房价 House price v3"],
                        "series": [{"name": "RMSE", "data": [10450.2]}],
                        "unit": "",
                    },
                },
                response_only=True,
            )
        ],
    )
    def get(self, request: Request) -> Response:
        params = LeaderboardParamsSerializer.validated(request)
        scope = scope_for(request, params.get("project"))
        task = params.get("task") or None
        metric = params["metric"].strip()
        limit = params.get("limit", selectors.LEADERBOARD_DEFAULT_LIMIT)
        dataset_id = params["dataset"]
        return Response(
            self.answer(
                "models.leaderboard",
                scope,
                {"dataset": dataset_id, "metric": metric, "task": task, "limit": limit},
                lambda: selectors.leaderboard(
                    scope=scope, dataset_id=dataset_id, metric=metric, task=task, limit=limit
                ),
            )
        )


class JobsCompareView(AnalyticsView):
    serializer_class = JobsCompareSerializer

    @extend_schema(
        tags=TAGS,
        parameters=[CompareParamsSerializer],
        responses={200: JobsCompareSerializer},
        summary="Compare training jobs",
        description=(
            f"Up to {selectors.COMPARE_MAX_JOBS} jobs side by side, in the order of `ids`: their spec, status, "
            "duration and held-out metrics (`jobs`), those metrics as one chart (`metrics`, a series per job named "
            "`#id algorithm`, null where a job lacks the metric), and per per-step metric (loss, val_accuracy...) "
            "a learning-curve chart (`curves`, x the union of the steps, null where a job has no point). A curve "
            f"longer than {selectors.CURVE_MAX_POINTS} steps is thinned to steps on a common stride plus each job's "
            "last one. More ids than allowed, a repeated id or a non-integer is a 400; a job the caller may not read "
            "is a 404 that does not say which."
        ),
    )
    def get(self, request: Request) -> Response:
        params = CompareParamsSerializer.validated(request)
        scope = Scope(user=request.user)
        ids = params["ids"]
        return Response(
            self.answer("jobs.compare", scope, {"ids": ids}, lambda: selectors.jobs_compare(scope=scope, job_ids=ids))
        )


urlpatterns = [
    path("models/leaderboard", ModelLeaderboardView.as_view(), name="analytics-models-leaderboard"),
    path("jobs/compare", JobsCompareView.as_view(), name="analytics-jobs-compare"),
]
