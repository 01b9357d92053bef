"""Error codes of the schema registry."""

from django.utils.translation import gettext_lazy as _
from rest_framework import status

from incubator.errors import ApiError, Conflict


class SchemaInvalid(ApiError):
    """The document is not a valid JSON Schema (Draft 2020-12); details: `field` (the path in the schema),
    `message` (the meta-schema's complaint) and `errors`."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "SCHEMA_INVALID"
    default_detail = _("This is not a valid JSON Schema (Draft 2020-12).")


class SchemaIncompatible(Conflict):
    """details: `compatibility` (the mode checked) and `incompatibilities`, each with its JSON path and reason."""

    error_code = "SCHEMA_INCOMPATIBLE"
    default_detail = _("The schema is not compatible with the subject's earlier versions.")


class SubjectManaged(Conflict):
    error_code = "SUBJECT_MANAGED"
    default_detail = _("This subject's versions come from the code that uses it; they are not registered by hand.")


class SchemaVersionInUse(Conflict):
    """details: `documents`, how many stored documents were written under the version."""

    error_code = "SCHEMA_VERSION_IN_USE"
    default_detail = _("Stored documents use this version: it cannot be deleted.")


class SchemaVersionLast(Conflict):
    error_code = "SCHEMA_VERSION_LAST"
    default_detail = _("A subject keeps at least one version.")


class SubjectHasNoDocuments(Conflict):
    error_code = "SUBJECT_HAS_NO_DOCUMENTS"
    default_detail = _("This subject has no stored documents to migrate.")


class PlanInvalid(ApiError):
    """details: `field` (e.g. "plan.2.path") and the message."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "PLAN_INVALID"
    default_detail = _("The migration plan is not valid.")


class MigrationActive(Conflict):
    """details: `migration_id`, the migration already moving this subject's documents."""

    error_code = "MIGRATION_ACTIVE"
    default_detail = _("Another migration of this subject is running.")


class MigrationNotRollbackable(Conflict):
    error_code = "MIGRATION_NOT_ROLLBACKABLE"
    default_detail = _("This migration cannot be rolled back in its current state.")


class MigrationNotPending(Conflict):
    error_code = "MIGRATION_NOT_PENDING"
    default_detail = _("Only a pending migration can be started.")
