"""/api/v1/analytics/exports: a report written to a file by a worker (so a large one never times out a
request), its status and progress, its download, its deletion. Only its creator (or a platform admin) sees
an export; to anyone else it does not exist (404)."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.urls import path, reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from datasets import storage
from incubator.errors import NotFound
from incubator.idempotency.services import idempotent
from incubator.parsers import JSONParser

from .. import services
from ..errors import ExportExpired, ExportNotReady
from ..models import Export
from ..reports import REPORTS
from ..writers import CONTENT_TYPES
from .common import TAGS

CHUNK = 256 * 1024
_ERROR = {"$ref": "#/components/schemas/Error"}


def _error_example(code: int, error_code: str, message: str, **details: Any) -> OpenApiExample:
    return OpenApiExample(
        error_code,
        value={"status_code": code, "error_code": error_code, "message": message, "details": details},
        response_only=True,
        status_codes=[str(code)],
    )


# --- serializers --------------------------------------------------------------------------------------------


class ExportCreateInputSerializer(serializers.Serializer):
    report = serializers.CharField(max_length=64, help_text="One of: " + ", ".join(sorted(REPORTS)) + ".")
    params = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "The report's parameters. Every report takes `project` (one project you may read); `jobs` also "
            "`status`, `algorithm`, `created_from`, `created_to` (dates); `projects` also `status`, `visibility`; "
            "`trends` `metric` (a list, or comma-separated), `interval`, `from`, `to`, `tz`; `leaderboard` "
            "`dataset`, `metric`, `task`, `limit`. A parameter the report does not take is a 400 naming it."
        ),
    )
    format = serializers.ChoiceField(choices=Export.Format.choices)


class ExportErrorSerializer(serializers.Serializer):
    code = serializers.CharField(
        help_text="EXPORT_TOO_LARGE, PERMISSION_DENIED, REPORT_UNAVAILABLE, TIME_LIMIT, WORKER_LOST, INTERNAL_ERROR."
    )
    message = serializers.CharField(help_text="In the language of the request that created the export.")


class ExportSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The export's id (a UUID), as in its URLs and events.")
    report = serializers.CharField()
    params = serializers.DictField(help_text="The parameters as validated, defaults and normalization applied.")
    format = serializers.ChoiceField(choices=Export.Format.choices)
    language = serializers.CharField(help_text="The language of the file's headers and labels (the request's).")
    status = serializers.ChoiceField(choices=Export.Status.choices)
    status_display = serializers.CharField()
    progress = serializers.FloatField(help_text="0 to 1.")
    row_count = serializers.IntegerField(allow_null=True, help_text="Rows written, once succeeded.")
    size = serializers.IntegerField(allow_null=True, help_text="Bytes of the file, once succeeded.")
    sha256 = serializers.CharField(allow_null=True, help_text="SHA-256 of the file (hex), once succeeded.")
    error = ExportErrorSerializer(allow_null=True, help_text="Set when the status is `failed`.")
    download_url = serializers.CharField(allow_null=True, help_text="Where to download the file, once succeeded.")
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When the file is deleted, once succeeded.")


def _is_expired(export: Export) -> bool:
    return export.status == Export.Status.EXPIRED or (
        export.status == Export.Status.SUCCEEDED
        and export.expires_at is not None
        and export.expires_at <= timezone.now()
    )


def export_representation(export: Export, request: Request | None = None) -> dict[str, Any]:
    expired = _is_expired(export)
    shown = Export.Status.EXPIRED if expired else Export.Status(export.status)
    download = None
    if export.status == Export.Status.SUCCEEDED and not expired:
        download = reverse("analytics-export-download", kwargs={"export_id": export.public_id})
        download = request.build_absolute_uri(download) if request is not None else download
    succeeded = export.status == Export.Status.SUCCEEDED
    return {
        "id": str(export.public_id),
        "report": export.report,
        "params": export.params,
        "format": export.format,
        "language": export.language,
        "status": shown.value,
        "status_display": str(shown.label),
        "progress": round(export.progress, 3),
        "row_count": export.row_count,
        "size": export.size if succeeded else None,
        "sha256": export.sha256 or None,
        "error": (
            {"code": export.error_code, "message": export.error_message}
            if export.status == Export.Status.FAILED
            else None
        ),
        "download_url": download,
        "created_at": export.created_at,
        "started_at": export.started_at,
        "finished_at": export.finished_at,
        "expires_at": export.expires_at,
    }


# --- views --------------------------------------------------------------------------------------------------


def _visible(request: Request) -> QuerySet[Export]:
    exports = Export.objects.all()
    return exports if request.user.is_staff else exports.filter(created_by=request.user)


class ExportScopedView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    queryset = Export.objects.none()
    serializer_class = ExportSerializer

    def export(self) -> Export:
        found = _visible(self.request).filter(public_id=self.kwargs["export_id"]).first()
        if found is None:
            raise NotFound()
        return found


class ExportListCreateView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [JSONParser]
    queryset = Export.objects.none()
    serializer_class = ExportSerializer
    list_key = "exports"

    @extend_schema(
        tags=TAGS,
        responses={200: ExportSerializer(many=True)},
        summary="List my exports",
        description=(
            "The caller's own exports, newest first (a platform admin's own too: others' exports are reached by "
            "id), in every state; `expired` ones stay listed without a file."
        ),
    )
    def get(self, request: Request) -> Response:
        exports = Export.objects.filter(created_by=request.user).order_by("-created_at", "-id")
        page = self.paginate_queryset(exports)
        return self.get_paginated_response([export_representation(export, request) for export in page])

    @extend_schema(
        tags=TAGS,
        request=ExportCreateInputSerializer,
        responses={
            202: OpenApiResponse(
                ExportSerializer, description="Queued; `Location` is the export's URL. Poll it or watch `user:{id}`."
            ),
        },
        summary="Export a report",
        description=(
            "Queues a report to be written to a file by a worker, so a large export never times out a request: "
            "`jobs` (the training jobs you may see: project, dataset, algorithm, status, times, duration, rows and "
            "the main metrics as columns) or `projects` (projects you may see with status, visibility, member, "
            "dataset and job counts, tags), as `csv` (UTF-8 with a BOM and CRLF line endings, which Excel opens "
            "with Chinese text intact; a cell starting with = + - @ is prefixed with ' so it is never run as a "
            "formula), `xlsx` or `json` (`{report, params, generated_at, columns, rows}`). Column names and "
            "labels are in the request's language. The report is computed in the worker over what you may read "
            "then. An unknown `report` is a 400 INVALID_INPUT listing the known ones; a bad parameter a 400 "
            "naming `params.<field>`. Answers 202 with the export (`queued`) and its URL in `Location`; follow "
            "`export.status` and `export.progress` on your `user:{id}` topic, or poll GET. More rows than the "
            "limit (ANALYTICS_EXPORT_MAX_ROWS) fail the export with EXPORT_TOO_LARGE. Send an `Idempotency-Key` "
            "to retry safely: a retry returns the same export."
        ),
        examples=[
            OpenApiExample(
                "Projects as CSV",
                value={"report": "projects", "params": {}, "format": "csv"},
                request_only=True,
            ),
            OpenApiExample(
                "Succeeded jobs as XLSX",
                value={"report": "jobs", "params": {"status": "succeeded"}, "format": "xlsx"},
                request_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = ExportCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        export = services.export_create(
            user=request.user, report=values["report"], params=values["params"], format=values["format"]
        )
        export.refresh_from_db()
        location = request.build_absolute_uri(
            reverse("analytics-export-detail", kwargs={"export_id": export.public_id})
        )
        return Response(
            export_representation(export, request), status=status.HTTP_202_ACCEPTED, headers={"Location": location}
        )


class ExportDetailView(ExportScopedView):
    @extend_schema(
        tags=TAGS,
        responses={200: ExportSerializer},
        summary="One export",
        description=(
            "An export's status (`queued`, `running`, `succeeded`, `failed`, `expired`), `progress` (0 to 1), "
            "`row_count` and `size`, `error` when it failed and `download_url` once it succeeded (until "
            "`expires_at`). Another user's export is a 404 NOT_FOUND."
        ),
    )
    def get(self, request: Request, export_id: Any) -> Response:
        return Response(export_representation(self.export(), request))

    @extend_schema(
        tags=TAGS,
        responses={204: None},
        summary="Delete an export",
        description=(
            "Deletes the export and its file, in any state (a run still going stops storing its file). Another "
            "user's export is a 404 NOT_FOUND."
        ),
    )
    def delete(self, request: Request, export_id: Any) -> Response:
        services.export_delete(export=self.export())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _stream(handle: Any) -> Any:
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()


class ExportDownloadView(ExportScopedView):
    @extend_schema(
        tags=TAGS,
        responses={
            **{
                (200, media.split(";")[0]): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
                for media in CONTENT_TYPES.values()
            },
            302: OpenApiResponse(description="On object storage: a short-lived presigned URL in `Location`."),
            409: OpenApiResponse(
                _ERROR,
                description="Not finished yet, or failed (EXPORT_NOT_READY; `details.status`).",
                examples=[_error_example(409, "EXPORT_NOT_READY", "导出尚未完成。", status="running")],
            ),
            410: OpenApiResponse(
                _ERROR,
                description="The file has expired and was deleted (EXPORT_EXPIRED): create the export again.",
                examples=[_error_example(410, "EXPORT_EXPIRED", "导出的文件已过期，请重新创建导出。")],
            ),
        },
        summary="Download an export",
        description=(
            "The file of a succeeded export, as an attachment named in the export's language (RFC 6266 "
            "`filename*=UTF-8''...`, e.g. `训练任务-20260310-0200.csv`), with its content type, Content-Length "
            "and its SHA-256 as ETag. On object storage it redirects to a presigned URL instead. Before success "
            "(or after a failure) it is a 409 EXPORT_NOT_READY; once expired a 410 EXPORT_EXPIRED."
        ),
    )
    def get(self, request: Request, export_id: Any) -> HttpResponse:
        export = self.export()
        if _is_expired(export):
            raise ExportExpired()
        if export.status != Export.Status.SUCCEEDED:
            raise ExportNotReady(details={"status": export.status})
        file_name = services.export_file_name(export)
        ascii_name = services.export_file_name(export, ascii=True)
        content_type = CONTENT_TYPES[export.format]
        if storage.is_object_storage():
            url = storage.presigned_download_url(
                export.file, file_name=file_name, content_type=content_type, ascii_name=ascii_name
            )
            redirect = HttpResponseRedirect(url)
            redirect["Cache-Control"] = "private, no-store"
            return redirect
        try:
            handle, size = storage.open_for_download(export.file)
        except FileNotFoundError:
            raise ExportExpired() from None
        response = StreamingHttpResponse(_stream(handle), content_type=content_type)
        response["Content-Length"] = str(size)
        response["Content-Disposition"] = storage.content_disposition(file_name, ascii_name=ascii_name)
        response["Cache-Control"] = "private, no-store"
        response["ETag"] = f'"{export.sha256}"'
        return response


urlpatterns = [
    path("exports", ExportListCreateView.as_view(), name="analytics-export-list"),
    path("exports/<uuid:export_id>", ExportDetailView.as_view(), name="analytics-export-detail"),
    path("exports/<uuid:export_id>/download", ExportDownloadView.as_view(), name="analytics-export-download"),
]
