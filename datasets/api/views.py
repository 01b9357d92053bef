"""HTTP endpoints of datasets: the dataset resource, its versions, preview, profile, download, preprocessing
and direct uploads to object storage."""

from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from incubator.errors import InvalidInput, NotFound
from incubator.filters import StrictOrderingFilter
from incubator.idempotency.services import idempotent
from incubator.parsers import JSONParser
from projects.access import ProjectScopedView, access_require, project_access
from projects.models import Project
from projects.selectors import LIST_GENERATION as PROJECTS_GENERATION

from .. import selectors, services
from ..engine import messages, terms
from ..models import Dataset, DatasetVersion
from .download import DownloadMixin
from .serializers import (
    DatasetCreateInputSerializer,
    DatasetListParamsSerializer,
    DatasetSerializer,
    DatasetUpdateInputSerializer,
    DownloadParamsSerializer,
    PreprocessInputSerializer,
    ProfileSerializer,
    RowsPageSerializer,
    RowsParamsSerializer,
    UploadCompleteInputSerializer,
    UploadSerializer,
    UploadStartInputSerializer,
    VersionCreateInputSerializer,
    VersionSerializer,
    dataset_representation,
    version_representation,
)

TAGS = ["datasets"]
# What a download answers with: the original's type, or the Parquet or CSV copy's.
FILE_TYPES = sorted(set(terms.CONTENT_TYPES.values()))


class DatasetScopedView(ProjectScopedView):
    """Base of every view under /datasets/{dataset_id}: the dataset and its project are loaded once, and the
    project's policy decides (a dataset of a project the caller cannot see is a 404 for every method)."""

    queryset = Dataset.objects.none()  # the model, for the OpenAPI generator; rows come from selectors

    @cached_property
    def dataset(self) -> Dataset:
        return selectors.dataset_get(dataset_id=self.kwargs["dataset_id"], viewer=self.request.user)

    @cached_property
    def project(self) -> Project:
        return self.dataset.project

    def get_object(self) -> Dataset:
        return self.dataset


# --- datasets -----------------------------------------------------------------------------------------------


class DatasetListCreateView(GenericAPIView):
    permission_classes = [IsAuthenticatedOrReadOnly]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    list_key = "datasets"
    queryset = Dataset.objects.none()
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["created_at", "updated_at", "name"]
    ordering = ["-created_at", "-id"]
    serializer_class = DatasetSerializer
    generations = (selectors.LIST_GENERATION, PROJECTS_GENERATION)

    def list_total(self, queryset: QuerySet) -> int:
        return selectors.dataset_list_total(queryset, user=self.request.user, filters=self.list_filters)

    @extend_schema(
        tags=TAGS,
        parameters=[DatasetListParamsSerializer],
        responses={200: DatasetSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="List datasets",
        description=(
            "Datasets of the projects the caller may see (public projects, the caller's own, everything for a "
            "platform admin), newest first. Filter with `project`, `format` and `status` (of the latest version) "
            "and `search` (name and description, Chinese included); sort with `ordering` (`created_at`, "
            "`updated_at`, `name`, `-` for descending). An unknown value is a 400 INVALID_INPUT."
        ),
    )
    def get(self, request: Request) -> Response:
        self.list_filters = DatasetListParamsSerializer.validated(request)
        queryset = selectors.dataset_list(user=request.user, filters=self.list_filters).select_related("latest_version")
        page = self.paginate_queryset(self.filter_queryset(queryset))
        return self.get_paginated_response([dataset_representation(dataset) for dataset in page])

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": DatasetCreateInputSerializer, "application/json": DatasetCreateInputSerializer},
        responses={201: DatasetSerializer},
        summary="Create a dataset",
        description=(
            "Creates a dataset in a project, with version 1 from `file` when one is sent (multipart/form-data). "
            "The project's owner, maintainers and platform admins may. The file is checked at once: an "
            "unsupported format is a 415 UNSUPPORTED_MEDIA_TYPE, a sample that cannot be parsed a 400 "
            "FILE_UNREADABLE naming the `row` and `column` of the first problem, a file over the upload limit a "
            "413 before it is read. Version 1 is then `processing` until a worker has converted it to Parquet "
            "(watch its `status`, or the `dataset.version.ready` event); a problem deeper in the file fails the "
            "version with the same details. Without a file (JSON body) the dataset starts empty. `metadata`, an "
            "object (a JSON string in a multipart form), must fit the current `dataset.metadata` schema of GET "
            "/schema, or the answer is a 400 INVALID_INPUT naming its JSON path (`metadata.source`)."
        ),
        examples=[
            OpenApiExample(
                "Empty dataset",
                summary="A dataset to upload to later (JSON body)",
                value={
                    "project": 1,
                    "name": "客户评论 Customer reviews",
                    "description": "电商平台的用户评论，带情感标签。",
                },
                request_only=True,
                media_type="application/json",
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = DatasetCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        project = Project.objects.filter(pk=values.pop("project")).first()
        access = project_access(project=project, user=request.user) if project else None
        if project is None or access is None or not access.can_read:
            raise InvalidInput({"project": [_no_such_project()]})
        access_require(access, "dataset.create")
        upload = values.pop("file", None)
        dataset = services.dataset_create(project=project, actor=request.user, data=values, upload=upload)
        return Response(dataset_representation(selectors.dataset_get(dataset_id=dataset.pk)), status=201)


def _no_such_project() -> str:
    return _("No such project.")


class DatasetDetailView(DatasetScopedView):
    serializer_class = DatasetSerializer
    parser_classes = [JSONParser]
    actions = {"GET": "dataset.read", "PATCH": "dataset.update", "DELETE": "dataset.delete"}

    @extend_schema(
        tags=TAGS,
        responses={200: DatasetSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One dataset",
        description=(
            "A dataset in the same shape as a list item. A dataset of a private project is a 404 NOT_FOUND to "
            "whoever cannot see the project."
        ),
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        return Response(dataset_representation(self.dataset))

    @extend_schema(
        tags=TAGS,
        request=DatasetUpdateInputSerializer,
        responses={200: DatasetSerializer},
        summary="Rename or describe a dataset",
        description=(
            "Changes the name, the description or the metadata; versions never change. The project's owner, "
            "maintainers and platform admins may. A name already used in the project is a 409 DATASET_NAME_TAKEN. "
            "`metadata` replaces the whole object and must fit the current `dataset.metadata` schema of GET "
            "/schema (its `schema_version` follows), or the answer is a 400 INVALID_INPUT naming its JSON path."
        ),
        examples=[
            OpenApiExample(
                "Describe", value={"description": "清洗后的版本见 v2。Cleaned data is in v2."}, request_only=True
            ),
        ],
    )
    def patch(self, request: Request, dataset_id: int) -> Response:
        data = DatasetUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.dataset_update(dataset=self.dataset, actor=request.user, data=data.validated_data)
        return Response(dataset_representation(selectors.dataset_get(dataset_id=dataset_id)))

    @extend_schema(
        tags=TAGS,
        responses={204: None},
        summary="Delete a dataset",
        description=(
            "Deletes the dataset, every version and their files. The project's owner, maintainers and platform "
            "admins may. A version that a training job or model uses makes it a 409 VERSION_IN_USE naming them."
        ),
    )
    def delete(self, request: Request, dataset_id: int) -> Response:
        services.dataset_delete(dataset=self.dataset, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- versions -----------------------------------------------------------------------------------------------


class VersionListCreateView(DatasetScopedView):
    serializer_class = VersionSerializer
    parser_classes = [MultiPartParser, FormParser]
    list_key = "versions"
    actions = {"GET": "dataset.read", "POST": "dataset.create"}

    @extend_schema(
        tags=TAGS,
        responses={200: VersionSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="List a dataset's versions",
        description="Every version, oldest first, with its status, columns, size, SHA-256 and lineage.",
    )
    def get(self, request: Request, dataset_id: int) -> Response:
        page = self.paginate_queryset(selectors.version_list(dataset=self.dataset))
        return self.get_paginated_response([version_representation(version) for version in page])

    @extend_schema(
        tags=TAGS,
        request={"multipart/form-data": VersionCreateInputSerializer},
        responses={201: VersionSerializer},
        summary="Add a version",
        description=(
            "Uploads a file as the dataset's next version (numbers go 1, 2, 3…; versions never change). Checked "
            "like the first: 415 UNSUPPORTED_MEDIA_TYPE, 400 FILE_UNREADABLE with `row` and `column`, 413 over "
            "the upload limit. The version is `processing` until converted."
        ),
    )
    @idempotent
    def post(self, request: Request, dataset_id: int) -> Response:
        data = VersionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.dataset_version_add(
            dataset=self.dataset, actor=request.user, upload=data.validated_data["file"]
        )
        return Response(version_representation(version), status=status.HTTP_201_CREATED)


class VersionScopedView(DatasetScopedView):
    @cached_property
    def version(self) -> DatasetVersion:
        return selectors.version_get(dataset=self.dataset, number=self.kwargs["number"])


class VersionDetailView(VersionScopedView):
    serializer_class = VersionSerializer
    actions = {"GET": "dataset.read", "DELETE": "dataset.delete"}

    @extend_schema(
        tags=TAGS,
        responses={200: VersionSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One version",
        description=(
            "A version: `status` is `processing` (with `progress`), `ready` (with columns, row count) or `failed` "
            "(with `error`: its code, message and the row and column of the problem)."
        ),
    )
    def get(self, request: Request, dataset_id: int, number: int) -> Response:
        return Response(version_representation(self.version))

    @extend_schema(
        tags=TAGS,
        responses={204: None},
        summary="Delete a version",
        description=(
            "Deletes one version and its files; the other versions keep their numbers. A version used by a "
            "training job or a model is a 409 VERSION_IN_USE naming what uses it."
        ),
    )
    def delete(self, request: Request, dataset_id: int, number: int) -> Response:
        services.dataset_version_delete(version=self.version, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionRowsView(VersionScopedView):
    serializer_class = RowsPageSerializer
    actions = {"GET": "dataset.read"}

    @extend_schema(
        tags=TAGS,
        parameters=[RowsParamsSerializer],
        responses={200: RowsPageSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="Preview rows",
        description=(
            "A page of a ready version's rows (`page`, `page_size` up to 500, `columns` to pick some), read from "
            "its Parquet copy by row group, so any page is fast however large the file. Values are JSON-safe. "
            "A version still processing or failed is a 409 VERSION_NOT_READY; a page past the end, a 404."
        ),
    )
    def get(self, request: Request, dataset_id: int, number: int) -> Response:
        params = RowsParamsSerializer.validated(request)
        version = selectors.version_ready(dataset=self.dataset, number=number)
        page, page_size = params.get("page", 1), params.get("page_size", 50)
        total = version.row_count or 0
        total_pages = max(1, -(-total // page_size))
        if page > total_pages:
            raise NotFound()
        columns, rows = selectors.version_rows(
            version=version, page=page, page_size=page_size, columns=params.get("columns")
        )
        return Response(
            {
                "columns": columns,
                "rows": rows,
                "pagination": {
                    "page": page,
                    "page_size": page_size,
                    "total": total,
                    "total_pages": total_pages,
                    "next": _page_link(request, page + 1) if page < total_pages else None,
                    "previous": _page_link(request, page - 1) if page > 1 else None,
                },
            }
        )


def _page_link(request: Request, page: int) -> str:
    return replace_query_param(request.build_absolute_uri(), "page", page)


class VersionProfileView(VersionScopedView):
    serializer_class = ProfileSerializer
    actions = {"GET": "dataset.read"}

    @extend_schema(
        tags=TAGS,
        responses={
            200: ProfileSerializer,
            202: OpenApiResponse(ProfileSerializer, description="Still profiling: `progress` tells how far."),
        },
        auth=[{"jwtAuth": []}, {}],
        summary="A version's profile",
        description=(
            "Statistics of every column of a ready version, computed once by a worker: 200 with `profile` when "
            "ready, 202 with `status` and `progress` while it runs (retry, or wait for the "
            "`dataset.profile.ready` event), 200 with status `failed` and `error` if it failed. A version still "
            "processing or failed is a 409 VERSION_NOT_READY."
        ),
    )
    def get(self, request: Request, dataset_id: int, number: int) -> Response:
        version = selectors.version_ready(dataset=self.dataset, number=number, with_profile=True)
        body = {
            "status": version.profile_status,
            "progress": round(version.profile_progress, 3),
            "profile": version.profile if version.profile_status == DatasetVersion.ProfileStatus.READY else None,
            "error": None,
        }
        if version.profile_status == DatasetVersion.ProfileStatus.FAILED:
            body["error"] = messages.localized(version.profile_error, version.translations.get("profile_error"))
        waiting = version.profile_status in (DatasetVersion.ProfileStatus.PENDING, DatasetVersion.ProfileStatus.RUNNING)
        headers = {"Retry-After": "2"} if waiting else None
        return Response(body, status=status.HTTP_202_ACCEPTED if waiting else status.HTTP_200_OK, headers=headers)


class VersionDownloadView(DownloadMixin, VersionScopedView):
    actions = {"GET": "dataset.read"}

    @extend_schema(
        tags=TAGS,
        parameters=[
            DownloadParamsSerializer,
            OpenApiParameter(
                "Range",
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description="`bytes=start-end`: a 206 with that part.",
            ),
        ],
        responses={
            **{(200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The file.") for media in FILE_TYPES},
            **{(206, media): OpenApiResponse(OpenApiTypes.BINARY, description="A byte range.") for media in FILE_TYPES},
            302: OpenApiResponse(description="On object storage: a short-lived presigned URL in `Location`."),
            304: OpenApiResponse(description="If-None-Match named the current ETag."),
            416: OpenApiResponse(description="The range is past the end of the file."),
        },
        auth=[{"jwtAuth": []}, {}],
        summary="Download a version",
        description=(
            "Streams the original file (`format=original`), the canonical Parquet copy or a UTF-8 CSV export, "
            "with Content-Disposition (UTF-8 file names), Content-Length, an ETag (its SHA-256) and Range "
            "requests. On object storage it redirects to a presigned URL instead. The CSV copy is made after the "
            "profile: until then it is a 409 EXPORT_PREPARING with `retry_after`; a version whose data cannot be "
            "written as CSV is a 409 EXPORT_FAILED saying why."
        ),
    )
    def get(self, request: Request, dataset_id: int, number: int) -> Any:
        params = DownloadParamsSerializer.validated(request)
        return self.download(request, self.version, params.get("format") or "original")


class VersionPreprocessView(VersionScopedView):
    serializer_class = VersionSerializer
    parser_classes = [JSONParser]
    actions = {"POST": "dataset.create"}

    @extend_schema(
        tags=TAGS,
        request=PreprocessInputSerializer,
        responses={201: VersionSerializer},
        summary="Preprocess into a new version",
        description=(
            "Runs a pipeline of steps on a ready version and makes the result the dataset's next version, whose "
            "lineage records this one and the pipeline; the same pipeline always gives byte-identical data. The "
            "pipeline is validated against the columns before anything runs: a 400 INVALID_INPUT names "
            "`pipeline.<step index>.<field>`. The new version is `processing` until a worker has built it."
        ),
        examples=[
            OpenApiExample(
                "Clean and split",
                value={
                    "pipeline": [
                        {"type": "drop_na", "how": "any"},
                        {"type": "deduplicate"},
                        {"type": "train_test_split", "test_ratio": 0.2, "seed": 42},
                    ]
                },
                request_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, dataset_id: int, number: int) -> Response:
        data = PreprocessInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.dataset_version_preprocess(
            version=self.version, actor=request.user, steps=data.validated_data["pipeline"]
        )
        return Response(version_representation(version), status=status.HTTP_201_CREATED)


# --- direct uploads -----------------------------------------------------------------------------------------


def _upload_body(upload: Any, urls: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": upload.id,
        "status": upload.status,
        "file_name": upload.file_name,
        "size": upload.size,
        "sha256": upload.sha256,
        "part_size": upload.part_size,
        "part_count": upload.part_count,
        "parts": [{"part_number": index, "url": url} for index, url in enumerate(urls or [], start=1)],
        "expires_at": upload.expires_at,
    }


class UploadStartView(DatasetScopedView):
    serializer_class = UploadSerializer
    parser_classes = [JSONParser]
    actions = {"POST": "dataset.create"}

    @extend_schema(
        tags=TAGS,
        request=UploadStartInputSerializer,
        responses={201: UploadSerializer},
        summary="Start a direct upload",
        description=(
            "For large files on object storage: returns one presigned URL per part. PUT each part's bytes to its "
            "URL (every part `part_size` bytes but the last), keep each response's ETag header, then call "
            "`complete` with them. The bytes never pass through this API. On the filesystem storage it is a 409 "
            "OBJECT_STORAGE_REQUIRED: upload the file with the multipart form instead."
        ),
        examples=[
            OpenApiExample(
                "Announce a file",
                value={
                    "file_name": "用户行为日志.csv",
                    "size": 157286400,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                },
                request_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request: Request, dataset_id: int) -> Response:
        data = UploadStartInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        upload, urls = services.dataset_upload_start(dataset=self.dataset, actor=request.user, data=data.validated_data)
        return Response(_upload_body(upload, urls), status=status.HTTP_201_CREATED)


class UploadActionView(DatasetScopedView):
    parser_classes = [JSONParser]
    actions = {"POST": "dataset.create"}

    @cached_property
    def upload(self) -> Any:
        return selectors.upload_get(dataset=self.dataset, upload_id=self.kwargs["upload_id"])


class UploadCompleteView(UploadActionView):
    serializer_class = VersionSerializer

    @extend_schema(
        tags=TAGS,
        request=UploadCompleteInputSerializer,
        responses={201: VersionSerializer},
        summary="Complete a direct upload",
        description=(
            "Assembles the parts (their numbers and ETags), checks the object's size and creates the next "
            "version, `processing` until a worker has checked its SHA-256 and converted it (a mismatch fails the "
            "version with UPLOAD_INCOMPLETE and deletes the object). A list that does not name each part once is "
            "a 409 UPLOAD_INCOMPLETE with `missing` (the upload stays pending), as are wrong ETags; a size other "
            "than announced is one too, and ends the upload. Completing again answers with the version it made "
            "(a retry after a lost answer); an aborted or expired upload is a 409 UPLOAD_NOT_PENDING."
        ),
        examples=[
            OpenApiExample(
                "Two parts",
                value={
                    "parts": [
                        {"part_number": 1, "etag": '"a54357aff0632cce46d942af68356b38"'},
                        {"part_number": 2, "etag": '"0c78aef83f66abc1fa1e8477f296d394"'},
                    ]
                },
                request_only=True,
            ),
        ],
    )
    def post(self, request: Request, dataset_id: int, upload_id: int) -> Response:
        data = UploadCompleteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.dataset_upload_complete(
            upload=self.upload, actor=request.user, parts=data.validated_data["parts"]
        )
        return Response(version_representation(version), status=status.HTTP_201_CREATED)


class UploadAbortView(UploadActionView):
    serializer_class = UploadSerializer

    @extend_schema(
        tags=TAGS,
        request=None,
        responses={204: None},
        summary="Abort a direct upload",
        description=(
            "Abandons the upload and frees the parts already sent: a pending upload, or one past its expiry "
            "(beat aborts those within the hour anyway)."
        ),
    )
    def post(self, request: Request, dataset_id: int, upload_id: int) -> Response:
        services.dataset_upload_abort(upload=self.upload, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
