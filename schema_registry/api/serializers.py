"""Input and output shapes of the schema registry's endpoints."""

from typing import Any

from rest_framework import serializers

from incubator.schemas import json_value_problem
from incubator.serializers import QueryParamsSerializer, StrictBooleanField, StrictCharField, StrictFloatField

from ..models import Compatibility, DocumentMigration, MigrationLogEntry, SchemaVersion, Subject

# --- output -------------------------------------------------------------------------------------------------


class SubjectSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="What the schema describes, e.g. `project.extra`.")
    description = serializers.CharField()
    compatibility = serializers.ChoiceField(choices=Compatibility.choices)
    managed = serializers.BooleanField(help_text="Versions come from code (an algorithm plugin), not from the API.")
    current_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SubjectDetailSerializer(SubjectSerializer):
    schema = serializers.JSONField(help_text="The current version's JSON Schema.")
    documents = serializers.DictField(
        child=serializers.IntegerField(), help_text='Stored documents per version number ("1": 120, ...).'
    )


class SchemaVersionSerializer(serializers.Serializer):
    subject = serializers.CharField()
    version = serializers.IntegerField()
    schema = serializers.JSONField()
    deprecated = serializers.BooleanField()
    current = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class BundleSubjectSerializer(serializers.Serializer):
    subject = serializers.CharField()
    version = serializers.IntegerField()
    compatibility = serializers.ChoiceField(choices=Compatibility.choices)
    deprecated = serializers.BooleanField()
    schema = serializers.JSONField()


class BundleSerializer(serializers.Serializer):
    draft = serializers.CharField(help_text="The JSON Schema dialect of every schema: Draft 2020-12.")
    revision = serializers.CharField(help_text="Names this set of versions; the same value as the ETag.")
    subjects = BundleSubjectSerializer(many=True)


class IncompatibilitySerializer(serializers.Serializer):
    path = serializers.CharField(help_text="JSON path of the place in a document, e.g. `$.address.city`.")
    keyword = serializers.CharField(help_text="The schema keyword concerned (`type`, `required`, `enum`...).")
    reason = serializers.CharField(help_text="Stable code: `property_removed`, `type_narrowed`, `enum_narrowed`...")
    message = serializers.CharField()
    version = serializers.IntegerField(help_text="The registered version it conflicts with.")
    direction = serializers.ChoiceField(choices=["backward", "forward"])


class CompatibilityReportSerializer(serializers.Serializer):
    compatible = serializers.BooleanField()
    compatibility = serializers.ChoiceField(choices=Compatibility.choices)
    incompatibilities = IncompatibilitySerializer(many=True)


class PlanSerializer(serializers.Serializer):
    subject = serializers.CharField()
    # "from" is a Python keyword: declared below.
    to = serializers.IntegerField()
    plan = serializers.ListField(child=serializers.DictField())


PlanSerializer._declared_fields["from"] = serializers.IntegerField()  # type: ignore[attr-defined]


class MigrationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    to = serializers.IntegerField()
    plan = serializers.ListField(child=serializers.DictField())
    status = serializers.ChoiceField(choices=DocumentMigration.Status.choices)
    abort_threshold = serializers.FloatField(help_text="Percent of the documents that may fail before it stops.")
    batch_size = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Documents under the `from` version when the run started.")
    processed = serializers.IntegerField()
    changed = serializers.IntegerField()
    failed = serializers.IntegerField()
    restored = serializers.IntegerField(help_text="Documents a rollback put back.")
    progress = serializers.FloatField(help_text="0 to 1.")
    error = serializers.DictField(allow_null=True, help_text="`code` and `message` of a failed or aborted run.")
    created_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


MigrationSerializer._declared_fields["from"] = serializers.IntegerField()  # type: ignore[attr-defined]


class DiffSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    before = serializers.JSONField()
    after = serializers.JSONField()
    diff = serializers.ListField(child=serializers.DictField(), help_text="JSON Patch-like operations.")


class FailureSerializer(serializers.Serializer):
    document_id = serializers.IntegerField()
    path = serializers.CharField()
    message = serializers.CharField()


class DryRunSerializer(serializers.Serializer):
    subject = serializers.CharField()
    to = serializers.IntegerField()
    plan = serializers.ListField(child=serializers.DictField())
    total = serializers.IntegerField()
    changed = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    failed = serializers.IntegerField()
    samples = DiffSerializer(many=True)
    failures = FailureSerializer(many=True)
    failures_truncated = serializers.BooleanField()


DryRunSerializer._declared_fields["from"] = serializers.IntegerField()  # type: ignore[attr-defined]


class LogEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    level = serializers.ChoiceField(choices=MigrationLogEntry.Level.choices)
    document_id = serializers.IntegerField(allow_null=True)
    path = serializers.CharField()
    message = serializers.CharField()
    created_at = serializers.DateTimeField()


def subject_representation(subject: Subject) -> dict[str, Any]:
    return {
        "name": subject.name,
        "description": subject.description,
        "compatibility": subject.compatibility,
        "managed": subject.managed,
        "current_version": subject.current_number,
        "created_at": serializers.DateTimeField().to_representation(subject.created_at),
        "updated_at": serializers.DateTimeField().to_representation(subject.updated_at),
    }


def version_representation(version: SchemaVersion, subject: Subject) -> dict[str, Any]:
    return {
        "subject": subject.name,
        "version": version.number,
        "schema": version.schema,
        "deprecated": version.deprecated,
        "current": version.number == subject.current_number,
        "created_at": serializers.DateTimeField().to_representation(version.created_at),
    }


def _when(value: Any) -> Any:
    return serializers.DateTimeField().to_representation(value) if value else None


def migration_representation(migration: DocumentMigration) -> dict[str, Any]:
    done, total = migration.processed, migration.total
    if migration.status == DocumentMigration.Status.ROLLING_BACK:
        # A rollback goes through every backup: one per document the run wrote (processed - failed), changed
        # or not, so `changed` is no measure of it.
        done, total = migration.restored, migration.processed - migration.failed
    finished = migration.status in ("succeeded", "rolled_back", "aborted")
    return {
        "id": migration.id,
        "subject": migration.subject.name,
        "from": migration.from_number,
        "to": migration.to_number,
        "plan": migration.plan,
        "status": migration.status,
        "abort_threshold": migration.abort_threshold,
        "batch_size": migration.batch_size,
        "total": migration.total,
        "processed": migration.processed,
        "changed": migration.changed,
        "failed": migration.failed,
        "restored": migration.restored,
        "progress": 1.0 if finished else (round(min(done / total, 1.0), 4) if total else 0.0),
        "error": {"code": migration.error_code, "message": migration.error_message} if migration.error_code else None,
        "created_by": migration.created_by_id,
        "created_at": _when(migration.created_at),
        "started_at": _when(migration.started_at),
        "finished_at": _when(migration.finished_at),
    }


def log_representation(entry: MigrationLogEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "level": entry.level,
        "document_id": entry.document_id,
        "path": entry.path,
        "message": entry.message,
        "created_at": _when(entry.created_at),
    }


# --- input --------------------------------------------------------------------------------------------------


class AnyJSONField(serializers.JSONField):
    """A JSON value as sent (the parser already decoded it), that can be stored and rendered back."""

    def to_internal_value(self, data: Any) -> Any:
        problem = json_value_problem(data)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return super().to_internal_value(data)


class SubjectUpdateInputSerializer(serializers.Serializer):
    description = StrictCharField(max_length=5000, required=False, allow_blank=True)
    compatibility = serializers.ChoiceField(choices=Compatibility.choices, required=False)


class SchemaVersionCreateInputSerializer(serializers.Serializer):
    schema = AnyJSONField(help_text="A JSON Schema, Draft 2020-12, whose root is an object.")


class SchemaVersionUpdateInputSerializer(serializers.Serializer):
    deprecated = StrictBooleanField()


class CompatibilityInputSerializer(serializers.Serializer):
    schema = AnyJSONField(help_text="The JSON Schema to check against the subject's versions.")
    compatibility = serializers.ChoiceField(
        choices=Compatibility.choices, required=False, help_text="A mode to check instead of the subject's."
    )


class PlanParamsSerializer(QueryParamsSerializer):
    to = serializers.IntegerField(min_value=1, max_value=2**31 - 1, help_text="The target version.")


PlanParamsSerializer._declared_fields["from"] = serializers.IntegerField(  # type: ignore[attr-defined]
    min_value=1, max_value=2**31 - 1, help_text="The version the documents are under now."
)


class MigrationCreateInputSerializer(serializers.Serializer):
    subject = StrictCharField(max_length=200)
    to = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    plan = AnyJSONField(
        required=False, allow_null=True, help_text="The operations; left out, the registry proposes one."
    )
    dry_run = StrictBooleanField(default=False, help_text="Report what would change and write nothing.")
    abort_threshold = StrictFloatField(
        min_value=0, max_value=100, default=0.0, help_text="Stop and roll back when more than this % fail."
    )
    batch_size = serializers.IntegerField(min_value=1, max_value=10000, required=False)
    defer = StrictBooleanField(
        default=False, help_text="Leave it pending for the deployment's `migrate_documents --pending`."
    )


MigrationCreateInputSerializer._declared_fields["from"] = serializers.IntegerField(  # type: ignore[attr-defined]
    min_value=1, max_value=2**31 - 1
)


class MigrationListParamsSerializer(QueryParamsSerializer):
    subject = serializers.CharField(required=False, max_length=200)
    status = serializers.ChoiceField(choices=DocumentMigration.Status.choices, required=False)


class LogParamsSerializer(QueryParamsSerializer):
    level = serializers.ChoiceField(choices=MigrationLogEntry.Level.choices, required=False)
