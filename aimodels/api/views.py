"""HTTP endpoints of training: algorithms, jobs (cancel, retry, metrics, logs) and the model registry with
inference."""

from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response

from datasets import selectors as dataset_selectors
from incubator.errors import InvalidInput, NotFound
from incubator.filters import StrictOrderingFilter
from incubator.idempotency.services import idempotent
from incubator.parsers import JSONParser
from projects.access import ProjectScopedView, access_require, project_access
from projects.models import Project
from projects.selectors import LIST_GENERATION as PROJECTS_GENERATION

from .. import inference, selectors, services
from ..algorithms import base as algorithms
from ..models import Model, ModelVersion, TrainingJob
from .serializers import (
    AlgorithmListSerializer,
    JobCreateInputSerializer,
    JobListParamsSerializer,
    JobLogSerializer,
    JobMetricsSerializer,
    JobSerializer,
    LogParamsSerializer,
    MetricsParamsSerializer,
    ModelCreateInputSerializer,
    ModelListParamsSerializer,
    ModelSerializer,
    ModelUpdateInputSerializer,
    ModelVersionSerializer,
    PredictInputSerializer,
    PredictionSerializer,
    StageInputSerializer,
    job_representation,
    log_representation,
    model_representation,
    model_version_representation,
)

JOB_TAGS = ["training"]
MODEL_TAGS = ["models"]


def _project_for_create(project_id: int, user: Any, action: str) -> Project:
    project = Project.objects.filter(pk=project_id).first()
    access = project_access(project=project, user=user) if project else None
    if project is None or access is None or not access.can_read:
        raise InvalidInput({"project": [_("No such project.")]})
    access_require(access, action)
    return project


# --- algorithms ---------------------------------------------------------------------------------------------


class AlgorithmListView(GenericAPIView):
    permission_classes = [AllowAny]
    serializer_class = AlgorithmListSerializer
    pagination_class = None

    @extend_schema(
        tags=JOB_TAGS,
        responses={200: AlgorithmListSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="List algorithms",
        description=(
            "Every training algorithm with its task and the JSON Schema of its hyperparameters (defaults, bounds, "
            "titles): build the job form from it. Under the key `algorithms`, in name order."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response({"algorithms": [algorithm.describe() for algorithm in algorithms.registry().values()]})


# --- jobs ---------------------------------------------------------------------------------------------------


class JobListCreateView(GenericAPIView):
    permission_classes = [IsAuthenticatedOrReadOnly]
    parser_classes = [JSONParser]
    list_key = "jobs"
    queryset = TrainingJob.objects.none()
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["created_at", "started_at", "finished_at", "status", "algorithm"]
    ordering = ["-created_at", "-id"]
    serializer_class = JobSerializer
    generations = (services.JOBS_GENERATION, PROJECTS_GENERATION)

    def list_total(self, queryset: QuerySet) -> int:
        return selectors.job_list_total(queryset, user=self.request.user, filters=self.list_filters)

    @extend_schema(
        tags=JOB_TAGS,
        parameters=[JobListParamsSerializer],
        responses={200: JobSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="List training jobs",
        description=(
            "Jobs of the projects the caller may see, newest first. Filter with `project`, `dataset`, `status` and "
            "`algorithm`; sort with `ordering` (`created_at`, `started_at`, `finished_at`, `status`, `algorithm`, "
            "`-` for descending)."
        ),
    )
    def get(self, request: Request) -> Response:
        self.list_filters = JobListParamsSerializer.validated(request)
        queryset = selectors.job_list(user=request.user, filters=self.list_filters).select_related(
            "dataset_version__dataset", "model_version__model"
        )
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response([job_representation(job) for job in page])

    @extend_schema(
        tags=JOB_TAGS,
        request=JobCreateInputSerializer,
        responses={201: JobSerializer},
        summary="Start a training job",
        description=(
            "Trains `algorithm` on a ready version of `dataset` (default: its latest), in the dataset's project. "
            "Everything is checked before the job is queued: the version is ready, the columns exist, the target "
            "suits the algorithm's task, the hyperparameters pass the algorithm's schema (a 400 INVALID_INPUT names "
            "the field as a path, e.g. `hyperparameters.max_depth`). The team of the project (owner, maintainers, "
            "members) may train. The job is `queued` (it waits while its user already has the maximum of jobs "
            "running), then `running` with `progress`, and ends `succeeded` (a new version of the model "
            "`model_name`), `failed` (with `error`) or `cancelled`. Watch `job.status`, `job.progress` and "
            "`job.metric` events, or poll."
        ),
        examples=[
            OpenApiExample(
                "Random forest",
                value={
                    "dataset": 3,
                    "algorithm": "random_forest_regressor",
                    "hyperparameters": {"n_estimators": 100, "max_depth": 8},
                    "target": "price_usd",
                    "validation": 0.2,
                    "seed": 42,
                    "model_name": "房价 House price",
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = JobCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        project_id = values.pop("project", None)
        try:
            dataset = dataset_selectors.dataset_get(dataset_id=values.pop("dataset"))
        except NotFound:
            dataset = None
        if dataset is not None and project_id is not None and dataset.project_id != project_id:
            raise InvalidInput({"dataset": [_("No such dataset in this project.")]})
        # A dataset the caller cannot see does not exist for them: the same 400 as an unknown id.
        access = project_access(project=dataset.project, user=request.user) if dataset is not None else None
        if dataset is None or access is None or not access.can_read:
            raise InvalidInput({"dataset": [_("No such dataset.")]})
        access_require(access, "job.create")
        project = dataset.project
        number = values.pop("dataset_version", None) or (dataset.latest_version.number if dataset.latest_version else 0)
        try:
            version = dataset_selectors.version_get(dataset=dataset, number=number)
        except NotFound:
            raise InvalidInput({"dataset_version": [_("No such version of this dataset.")]}) from None
        job = services.job_create(project=project, version=version, actor=request.user, data=values)
        return Response(job_representation(selectors.job_get(job_id=job.pk)), status=status.HTTP_201_CREATED)


class JobScopedView(ProjectScopedView):
    queryset = TrainingJob.objects.none()

    @cached_property
    def job(self) -> TrainingJob:
        return selectors.job_get(job_id=self.kwargs["job_id"], viewer=self.request.user)

    @cached_property
    def project(self) -> Project:
        return self.job.project

    def get_object(self) -> TrainingJob:
        return self.job


class JobDetailView(JobScopedView):
    serializer_class = JobSerializer
    actions = {"GET": "job.read"}

    @extend_schema(
        tags=JOB_TAGS,
        responses={200: JobSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One training job",
        description="A job with its progress, stage, timings, worker, error and, once succeeded, its metrics.",
    )
    def get(self, request: Request, job_id: int) -> Response:
        return Response(job_representation(self.job))


class JobCancelView(JobScopedView):
    serializer_class = JobSerializer
    parser_classes = [JSONParser]
    actions = {"POST": "job.cancel"}

    @extend_schema(
        tags=JOB_TAGS,
        request=None,
        responses={200: JobSerializer},
        summary="Cancel a job",
        description=(
            "A queued job never starts; a running one stops within seconds (at its next step, or by force). The "
            "job is `cancelled` at once. A job that has finished is a 409 JOB_FINISHED."
        ),
    )
    def post(self, request: Request, job_id: int) -> Response:
        services.job_cancel(job=self.job, actor=request.user)
        return Response(job_representation(selectors.job_get(job_id=job_id)))


class JobRetryView(JobScopedView):
    serializer_class = JobSerializer
    parser_classes = [JSONParser]
    actions = {"POST": "job.create"}

    @extend_schema(
        tags=JOB_TAGS,
        request=None,
        responses={201: JobSerializer},
        summary="Retry a job",
        description=(
            "A new job with the same spec (`attempt` one more, `retry_of` this one). A job still queued or running "
            "is a 409 JOB_NOT_FINISHED."
        ),
    )
    @idempotent
    def post(self, request: Request, job_id: int) -> Response:
        job = services.job_retry(job=self.job, actor=request.user)
        return Response(job_representation(selectors.job_get(job_id=job.pk)), status=status.HTTP_201_CREATED)


class JobMetricsView(JobScopedView):
    serializer_class = JobMetricsSerializer
    actions = {"GET": "job.read"}

    @extend_schema(
        tags=JOB_TAGS,
        parameters=[MetricsParamsSerializer],
        responses={200: JobMetricsSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="A job's metric series",
        description=(
            "Chart-ready series of the metrics reported while training (per epoch or step: loss, validation "
            "scores): each with `steps`, `values` and `timestamps`; `final` holds the held-out metrics."
        ),
    )
    def get(self, request: Request, job_id: int) -> Response:
        params = MetricsParamsSerializer.validated(request)
        series = selectors.job_metric_series(job=self.job, names=params.get("name"))
        return Response({"job": self.job.id, "status": self.job.status, "series": series, "final": self.job.metrics})


class JobLogsView(JobScopedView):
    serializer_class = JobLogSerializer
    list_key = "logs"
    actions = {"GET": "job.read"}

    @extend_schema(
        tags=JOB_TAGS,
        parameters=[LogParamsSerializer],
        responses={200: JobLogSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="A job's log",
        description="Captured lines (stages, warnings, the failure's summary), oldest first, paged; `level` filters.",
    )
    def get(self, request: Request, job_id: int) -> Response:
        params = LogParamsSerializer.validated(request)
        page = self.paginate_queryset(selectors.job_logs(job=self.job, level=params.get("level") or None))
        return self.get_paginated_response([log_representation(line) for line in page])


# --- models -------------------------------------------------------------------------------------------------


class ModelListCreateView(GenericAPIView):
    permission_classes = [IsAuthenticatedOrReadOnly]
    parser_classes = [JSONParser]
    list_key = "models"
    queryset = Model.objects.none()
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["created_at", "updated_at", "name"]
    ordering = ["-created_at", "-id"]
    serializer_class = ModelSerializer
    generations = (services.MODELS_GENERATION, PROJECTS_GENERATION)

    def list_total(self, queryset: QuerySet) -> int:
        return selectors.model_list_total(queryset, user=self.request.user, filters=self.list_filters)

    @extend_schema(
        tags=MODEL_TAGS,
        parameters=[ModelListParamsSerializer],
        responses={200: ModelSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="List models",
        description=(
            "Models of the projects the caller may see, newest first; filter with `project`, `task`, `stage` (of "
            "any version) and `search`."
        ),
    )
    def get(self, request: Request) -> Response:
        self.list_filters = ModelListParamsSerializer.validated(request)
        queryset = selectors.model_list(user=request.user, filters=self.list_filters).select_related("latest_version")
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response([model_representation(model) for model in page])

    @extend_schema(
        tags=MODEL_TAGS,
        request=ModelCreateInputSerializer,
        responses={201: ModelSerializer},
        summary="Create a model",
        description=(
            "An empty named model; jobs whose `model_name` names it add versions. The project's owner, "
            "maintainers and admins may. A name already used is a 409 MODEL_NAME_TAKEN."
        ),
        examples=[
            OpenApiExample(
                "Regression model",
                value={"project": 1, "name": "房价基线 Baseline", "description": "岭回归基线。", "task": "regression"},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = ModelCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        project = _project_for_create(values.pop("project"), request.user, "model.create")
        model = services.model_create(project=project, actor=request.user, data=values)
        return Response(model_representation(selectors.model_get(model_id=model.pk)), status=status.HTTP_201_CREATED)


class ModelScopedView(ProjectScopedView):
    queryset = Model.objects.none()

    @cached_property
    def model(self) -> Model:
        return selectors.model_get(model_id=self.kwargs["model_id"], viewer=self.request.user)

    @cached_property
    def project(self) -> Project:
        return self.model.project

    def get_object(self) -> Model:
        return self.model


class ModelDetailView(ModelScopedView):
    serializer_class = ModelSerializer
    parser_classes = [JSONParser]
    actions = {"GET": "model.read", "PATCH": "model.update", "DELETE": "model.delete"}

    @extend_schema(
        tags=MODEL_TAGS,
        responses={200: ModelSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One model",
        description="A model in the same shape as a list item, with its latest version's number and stage.",
    )
    def get(self, request: Request, model_id: int) -> Response:
        return Response(model_representation(self.model))

    @extend_schema(
        tags=MODEL_TAGS,
        request=ModelUpdateInputSerializer,
        responses={200: ModelSerializer},
        summary="Rename or describe a model",
        description=(
            "Changes the name or the description. The project's owner, maintainers and admins may; a name already "
            "used in the project is a 409 MODEL_NAME_TAKEN."
        ),
        examples=[OpenApiExample("Describe", value={"description": "按面积、房龄和区域预测房价。"}, request_only=True)],
    )
    def patch(self, request: Request, model_id: int) -> Response:
        data = ModelUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.model_update(model=self.model, actor=request.user, data=data.validated_data)
        return Response(model_representation(selectors.model_get(model_id=model_id)))

    @extend_schema(
        tags=MODEL_TAGS,
        responses={204: None},
        summary="Delete a model",
        description="Deletes the model, its versions and artifacts; a version in production makes it a 409.",
    )
    def delete(self, request: Request, model_id: int) -> Response:
        services.model_delete(model=self.model, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelVersionListView(ModelScopedView):
    serializer_class = ModelVersionSerializer
    list_key = "versions"
    actions = {"GET": "model.read"}

    @extend_schema(
        tags=MODEL_TAGS,
        responses={200: ModelVersionSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="List a model's versions",
        description="Every version, oldest first, with its stage, metrics, signature and the data and job behind it.",
    )
    def get(self, request: Request, model_id: int) -> Response:
        page = self.paginate_queryset(selectors.model_version_list(model=self.model))
        return self.get_paginated_response([model_version_representation(version) for version in page])


class ModelVersionScopedView(ModelScopedView):
    @cached_property
    def version(self) -> ModelVersion:
        return selectors.model_version_get(model=self.model, number=self.kwargs["number"])


class ModelVersionDetailView(ModelVersionScopedView):
    serializer_class = ModelVersionSerializer
    parser_classes = [JSONParser]
    actions = {"GET": "model.read", "PATCH": "model.update", "DELETE": "model.delete"}

    @extend_schema(
        tags=MODEL_TAGS,
        responses={200: ModelVersionSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One model version",
        description=(
            "A version: its stage, held-out metrics, feature importances, input signature (what predict takes), "
            "the artifact's size and SHA-256, and the dataset version and job that made it."
        ),
    )
    def get(self, request: Request, model_id: int, number: int) -> Response:
        return Response(model_version_representation(self.version))

    @extend_schema(
        tags=MODEL_TAGS,
        request=StageInputSerializer,
        responses={200: ModelVersionSerializer},
        summary="Move a version to a stage",
        description=(
            "`none`, `staging`, `production` or `archived`. Promoting to production archives the version that "
            "was there, in one transaction. The same stage again is a 409 STAGE_UNCHANGED."
        ),
        examples=[OpenApiExample("Promote", value={"stage": "production"}, request_only=True)],
    )
    def patch(self, request: Request, model_id: int, number: int) -> Response:
        data = StageInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.model_version_stage(
            version=self.version, actor=request.user, stage=data.validated_data["stage"]
        )
        return Response(
            model_version_representation(selectors.model_version_get(model=self.model, number=version.number))
        )

    @extend_schema(
        tags=MODEL_TAGS,
        responses={204: None},
        summary="Delete a model version",
        description="Deletes the version and its artifact; the version in production is a 409 MODEL_IN_PRODUCTION.",
    )
    def delete(self, request: Request, model_id: int, number: int) -> Response:
        services.model_version_delete(version=self.version, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ModelVersionPredictView(ModelVersionScopedView):
    serializer_class = PredictionSerializer
    parser_classes = [JSONParser]
    actions = {"POST": "model.predict"}

    # The hot path of serving: the version, its model and project in one query.
    @cached_property
    def version(self) -> ModelVersion:
        return selectors.model_version_for_predict(
            model_id=self.kwargs["model_id"], number=self.kwargs["number"], viewer=self.request.user
        )

    @cached_property
    def model(self) -> Model:
        return self.version.model

    @extend_schema(
        tags=MODEL_TAGS,
        request=PredictInputSerializer,
        responses={200: PredictionSerializer},
        summary="Predict",
        description=(
            "Predictions for up to 1,000 rows (objects keyed by the signature's input columns; null is allowed "
            "and imputed), with class probabilities for classifiers. A row that does not match the signature is a "
            "400 INVALID_INPUT naming `rows.<index>.<column>`. Any logged-in user who can see the model may."
        ),
        examples=[
            OpenApiExample(
                "Two houses",
                value={
                    "rows": [
                        {
                            "area_sqm": 88.5,
                            "bedrooms": 2,
                            "district": "Riverside",
                            "year_built": 2008,
                            "has_garden": False,
                        },
                        {
                            "area_sqm": 142.0,
                            "bedrooms": 3,
                            "district": "Old Town",
                            "year_built": None,
                            "has_garden": True,
                        },
                    ]
                },
                request_only=True,
            )
        ],
    )
    def post(self, request: Request, model_id: int, number: int) -> Response:
        data = PredictInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = inference.model_predict(version=self.version, rows=data.validated_data["rows"])
        return Response({"model": self.model.id, "version": self.version.number, "probabilities": None, **result})
