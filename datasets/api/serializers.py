"""Input and output shapes of the datasets API."""

from typing import Any

from drf_spectacular.utils import extend_schema_field, extend_schema_serializer
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from incubator.serializers import ExampleIdField, IdField, QueryParamsSerializer, StrictCharField

from ..engine import messages
from ..engine.terms import TYPE_NAMES
from ..models import FORMAT_CHOICES, Dataset, DatasetUpload, DatasetVersion
from . import pipeline_schema

SHA256_PATTERN = r"^[0-9a-fA-F]{64}$"


# --- output -------------------------------------------------------------------------------------------------


class ColumnSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=TYPE_NAMES, help_text="The inferred type.")
    nullable = serializers.BooleanField(help_text="Whether the column holds at least one null.")


class VersionErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="FILE_UNREADABLE, UNSUPPORTED_MEDIA_TYPE, UPLOAD_INCOMPLETE, ...")
    message = serializers.CharField()
    details = serializers.DictField(help_text="`row` and `column` of the first problem, where known.")


@extend_schema_field({"$ref": f"#/components/schemas/{pipeline_schema.COMPONENT}"})
class PipelineStepField(serializers.DictField):
    """One step of a pipeline: an object the engine checks (datasets.engine.pipeline.validate), documented field by
    field in OpenAPI (pipeline_schema)."""


class LineageSerializer(serializers.Serializer):
    parent = serializers.IntegerField(allow_null=True, help_text="The number of the version this one was made from.")
    pipeline = serializers.ListField(
        child=PipelineStepField(), allow_null=True, help_text="The steps that made it, every field filled in."
    )


@extend_schema_serializer(
    description="An immutable, numbered version of a dataset: one uploaded file or a pipeline's output."
)
class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DatasetVersion.Status.choices)
    progress = serializers.FloatField(help_text="0 to 1 while processing.")
    error = VersionErrorSerializer(allow_null=True, help_text="Set when the status is `failed`.")
    source = serializers.ChoiceField(choices=DatasetVersion.Source.choices)
    file_name = serializers.CharField()
    format = serializers.ChoiceField(choices=FORMAT_CHOICES)
    content_type = serializers.CharField()
    encoding = serializers.CharField(help_text="Detected for text files: utf-8, utf-8-sig or gb18030; else empty.")
    delimiter = serializers.CharField(help_text="Detected for CSV and TSV; else empty.")
    size = serializers.IntegerField(help_text="Bytes of the original file.")
    sha256 = serializers.CharField()
    row_count = serializers.IntegerField(allow_null=True)
    column_count = serializers.IntegerField(allow_null=True)
    columns = ColumnSerializer(many=True)
    lineage = LineageSerializer()
    profile_status = serializers.ChoiceField(choices=DatasetVersion.ProfileStatus.choices)
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    ready_at = serializers.DateTimeField(allow_null=True)


def version_representation(version: DatasetVersion) -> dict[str, Any]:
    error = None
    if version.status == DatasetVersion.Status.FAILED:
        message = messages.localized(version.error_message, version.translations.get("error_message"))
        error = {"code": version.error_code, "message": message, "details": version.error_details}
    ready = version.status == DatasetVersion.Status.READY
    return {
        "number": version.number,
        "status": version.status,
        "progress": round(version.progress, 3),
        "error": error,
        "source": version.source,
        "file_name": version.file_name,
        "format": version.format,
        "content_type": version.content_type,
        "encoding": version.encoding,
        "delimiter": version.delimiter,
        "size": version.size,
        "sha256": version.sha256,
        "row_count": version.row_count if ready else None,
        "column_count": len(version.columns) if ready else None,
        "columns": version.columns if ready else [],
        "lineage": {"parent": version.parent_number, "pipeline": version.pipeline},
        "profile_status": version.profile_status,
        "created_by": version.created_by_id,
        "created_at": version.created_at,
        "ready_at": version.ready_at,
    }


class LatestVersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DatasetVersion.Status.choices)
    format = serializers.ChoiceField(choices=FORMAT_CHOICES)
    size = serializers.IntegerField()
    row_count = serializers.IntegerField(allow_null=True)
    column_count = serializers.IntegerField(allow_null=True)


@extend_schema_serializer(description="A dataset of a project: a name and its numbered versions.")
class DatasetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    version_count = serializers.IntegerField()
    latest_version = LatestVersionSerializer(allow_null=True, help_text="The newest version, whatever its status.")
    metadata = serializers.DictField(
        help_text="Descriptive fields, valid against the current `dataset.metadata` schema of GET /schema when written."
    )
    schema_version = serializers.IntegerField(
        help_text="The version of the `dataset.metadata` schema the metadata was written under."
    )
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def dataset_representation(dataset: Dataset) -> dict[str, Any]:
    latest = dataset.latest_version
    summary = None
    if latest is not None:
        ready = latest.status == DatasetVersion.Status.READY
        summary = {
            "number": latest.number,
            "status": latest.status,
            "format": latest.format,
            "size": latest.size,
            "row_count": latest.row_count if ready else None,
            "column_count": len(latest.columns) if ready else None,
        }
    return {
        "id": dataset.id,
        "project": dataset.project_id,
        "name": dataset.name,
        "description": dataset.description,
        "version_count": dataset.version_count,
        "latest_version": summary,
        "metadata": dataset.metadata,
        "schema_version": dataset.schema_version,
        "created_by": dataset.created_by_id,
        "created_at": dataset.created_at,
        "updated_at": dataset.updated_at,
    }


class RowsPageSerializer(serializers.Serializer):
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.DictField(),
        help_text=(
            "Objects keyed by column name. JSON-safe values: NaN is null, infinities are the strings "
            "`Infinity`/`-Infinity`, dates and times are ISO 8601, decimals are strings, bytes are base64."
        ),
    )
    pagination = serializers.DictField(help_text="page, page_size, total, total_pages, next, previous")


class ProfileSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=DatasetVersion.ProfileStatus.choices)
    progress = serializers.FloatField()
    profile = serializers.DictField(
        allow_null=True,
        help_text=(
            "rows, columns, memory_bytes, duplicate_rows and column_profiles: per column its type, null_count, "
            "null_ratio, distinct_count (distinct_approximate above a threshold) and, by kind, min/max/mean/std/"
            "quantiles, top_values, length stats and a histogram {bins, counts}."
        ),
    )
    error = serializers.CharField(allow_null=True, help_text="Why the profile failed; null unless `status` is failed.")


class UploadPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField()
    url = serializers.CharField(help_text="PUT the part's bytes here; keep the ETag response header.")


@extend_schema_serializer(description="A direct multipart upload to object storage.")
class UploadSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=DatasetUpload.Status.choices)
    file_name = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    part_size = serializers.IntegerField(help_text="Every part but the last has exactly this many bytes.")
    part_count = serializers.IntegerField()
    parts = UploadPartSerializer(many=True)
    expires_at = serializers.DateTimeField()


# --- input --------------------------------------------------------------------------------------------------


class MetadataField(serializers.JSONField):
    """Any JSON value in a JSON body; in a form (multipart), the JSON text of one, which DRF parses (NaN refused)
    but whose nesting too deep to decode would be a 500: a 400 here, as the JSON parser makes it. Whether it is
    an object, and fits the schema, is for datasets.services to say."""

    def get_value(self, dictionary: Any) -> Any:
        # An empty form field is a field not sent (Swagger UI sends `metadata=` for a cleared optional field).
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return empty
        return super().get_value(dictionary)

    def to_internal_value(self, data: Any) -> Any:
        try:
            return super().to_internal_value(data)
        except RecursionError:
            self.fail("invalid")


METADATA_HELP = (
    "A JSON object validated against the current `dataset.metadata` schema (GET /schema): a 400 names the JSON "
    "path of each error, e.g. `metadata.source`. In a multipart form, the object as a JSON string."
)


class DatasetCreateInputSerializer(serializers.Serializer):
    project = ExampleIdField(help_text="The project the dataset belongs to; its owner and maintainers may add data.")
    name = StrictCharField(max_length=200)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)
    metadata = MetadataField(required=False, help_text=METADATA_HELP)
    file = serializers.FileField(
        required=False,
        allow_empty_file=False,
        help_text="CSV, TSV (UTF-8 or GBK/GB18030), JSON (an array of objects), JSON Lines, Parquet or xlsx. "
        "Without it the dataset starts empty (add versions later, or upload straight to object storage).",
    )


class DatasetUpdateInputSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)
    metadata = MetadataField(
        required=False,
        help_text=(
            "A JSON object replacing the metadata, validated against the current `dataset.metadata` schema "
            "(GET /schema): a 400 names the JSON path of each error, e.g. `metadata.source`."
        ),
    )


class VersionCreateInputSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False, help_text="The new version's file, in any supported format.")


class DatasetListParamsSerializer(QueryParamsSerializer):
    project = serializers.ListField(child=IdField(), required=False, help_text="Project ids, comma-separated.")
    format = serializers.ListField(
        child=serializers.ChoiceField(choices=FORMAT_CHOICES), required=False, help_text="The latest version's format."
    )
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=DatasetVersion.Status.choices),
        required=False,
        help_text="The latest version's status.",
    )
    search = serializers.CharField(required=False, max_length=100, help_text="Words of the name or description.")


class RowsParamsSerializer(QueryParamsSerializer):
    page = serializers.IntegerField(required=False, min_value=1, max_value=10**12, help_text="From 1; default 1.")
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500, help_text="Default 50.")
    columns = serializers.ListField(
        child=serializers.CharField(max_length=500),
        required=False,
        help_text='Column names, comma-separated; a name with a comma in double quotes ("Revenue, 2024").',
    )


class DownloadParamsSerializer(QueryParamsSerializer):
    format = serializers.ChoiceField(
        choices=["original", "csv", "parquet"], required=False, help_text="The file as uploaded (default), or a copy."
    )


class PreprocessInputSerializer(serializers.Serializer):
    pipeline = serializers.ListField(
        child=PipelineStepField(),
        help_text=(
            "Steps run in order, each an object with a `type`: select_columns, drop_columns, rename, drop_na, "
            "fill_na, filter, cast, normalize, one_hot, label_encode, deduplicate, sample, train_test_split; "
            "PipelineStep lists each one's fields."
        ),
    )


class UploadStartInputSerializer(serializers.Serializer):
    file_name = StrictCharField(max_length=255, help_text="Its extension names the format.")
    size = serializers.IntegerField(min_value=1, help_text="Bytes; checked when the upload completes.")
    sha256 = serializers.RegexField(SHA256_PATTERN, help_text="Hex SHA-256 of the whole file; checked before use.")


class CompletedPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField(min_value=1, max_value=10000)
    etag = StrictCharField(max_length=200)


class UploadCompleteInputSerializer(serializers.Serializer):
    parts = CompletedPartSerializer(many=True, allow_empty=False, max_length=10000)
