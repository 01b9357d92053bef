"""The platform admins' view of the database: its tables (columns, indexes, constraints) and its migrations."""

from typing import Any

from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..introspection import database_migrations, database_schema

# --- output shapes --------------------------------------------------------------------------------------------


@extend_schema_serializer(description="A column of a table or view, in the table's order.")
class DatabaseColumnSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    type = serializers.CharField(
        read_only=True,
        help_text="The database's name of the type: on PostgreSQL e.g. `integer`, `character varying(200)`, `jsonb`, "
        "`timestamp with time zone`; on SQLite the declared type, e.g. `varchar(200)`, `datetime`.",
    )
    nullable = serializers.BooleanField(read_only=True)
    default = serializers.CharField(
        read_only=True, allow_null=True, help_text="The database-side default expression, null when there is none."
    )
    primary_key = serializers.BooleanField(read_only=True, help_text="Part of the table's primary key.")


@extend_schema_serializer(description="An index that is not the primary key or a unique constraint.")
class DatabaseIndexSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    columns = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The indexed columns in order; an expression (e.g. `UPPER(name)`) is left out, see `definition`.",
    )
    unique = serializers.BooleanField(read_only=True)
    type = serializers.CharField(read_only=True, help_text="The access method: `btree`, `gin`, `gist`, `hash`, ...")
    definition = serializers.CharField(
        read_only=True, allow_null=True, help_text="The `CREATE INDEX` statement, as the database keeps it."
    )


@extend_schema_serializer(description="The column a foreign key points at.")
class DatabaseReferenceSerializer(serializers.Serializer):
    table = serializers.CharField(read_only=True)
    column = serializers.CharField(read_only=True)


@extend_schema_serializer(description="A constraint of a table.")
class DatabaseConstraintSerializer(serializers.Serializer):
    name = serializers.CharField(
        read_only=True,
        help_text="The database's name. SQLite names neither primary nor foreign keys nor inline constraints: "
        "there they are `__primary__`, `fk_<n>` and `__unnamed_constraint_<n>__`.",
    )
    kind = serializers.ChoiceField(
        choices=["primary_key", "unique", "foreign_key", "check", "exclusion", "other"], read_only=True
    )
    columns = serializers.ListField(child=serializers.CharField(), read_only=True)
    references = DatabaseReferenceSerializer(read_only=True, allow_null=True, help_text="Foreign keys only.")
    definition = serializers.CharField(read_only=True, allow_null=True, help_text="The constraint in SQL.")


@extend_schema_serializer(description="A table or a view.")
class DatabaseTableSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=["table", "view"], read_only=True)
    columns = DatabaseColumnSerializer(many=True, read_only=True)
    indexes = DatabaseIndexSerializer(many=True, read_only=True)
    constraints = DatabaseConstraintSerializer(
        many=True, read_only=True, help_text="Primary key first, then unique, foreign key and check constraints."
    )


@extend_schema_serializer(description="The tables and views of the database, sorted by name.")
class DatabaseSchemaSerializer(serializers.Serializer):
    vendor = serializers.ChoiceField(choices=["postgresql", "sqlite"], read_only=True)
    tables = DatabaseTableSerializer(many=True, read_only=True)


@extend_schema_serializer(description="A migration of an app, and whether the database has it.")
class DatabaseMigrationSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    applied = serializers.BooleanField(read_only=True)
    applied_at = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text="When it was applied (for a squashed one: its last part)."
    )
    replaces = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="A squashed migration's parts (empty for others). A squashed migration stands for its parts "
        "while all or none of them are applied; otherwise the parts are listed instead.",
    )


@extend_schema_serializer(description="An app's migrations in the order they apply.")
class DatabaseMigrationAppSerializer(serializers.Serializer):
    app = serializers.CharField(read_only=True, help_text="The app label, e.g. `projects`.")
    migrations = DatabaseMigrationSerializer(many=True, read_only=True)


@extend_schema_serializer(description="Every app's migrations, apps sorted by label.")
class DatabaseMigrationsSerializer(serializers.Serializer):
    apps = DatabaseMigrationAppSerializer(many=True, read_only=True)
    unapplied_count = serializers.IntegerField(read_only=True, help_text="Migrations not applied yet, in all apps.")


# --- views ----------------------------------------------------------------------------------------------------


class IsPlatformAdmin(BasePermission):
    """Platform admins only (staff: `platform_role == "admin"`). DRF answers 401 to a caller without valid
    credentials and 403 to everyone else."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        return bool(user is not None and user.is_authenticated and user.is_staff)


class DatabaseSchemaView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=["admin"],
        responses={200: DatabaseSchemaSerializer},
        summary="The database's tables",
        description=(
            "Platform admins only (others get a 403 PERMISSION_DENIED). Every table and view of the database, "
            "sorted by name, as the database itself describes them: the columns in the table's order (type, "
            "nullability, default, primary key), the indexes (columns, unique, access method, definition) and the "
            "constraints (primary key, unique, foreign key with the table and column it references, check with "
            "its SQL). `vendor` is `postgresql` or `sqlite`; names and type names are the database's own."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(DatabaseSchemaSerializer(database_schema()).data)


class DatabaseMigrationsView(APIView):
    permission_classes = [IsPlatformAdmin]

    @extend_schema(
        tags=["admin"],
        responses={200: DatabaseMigrationsSerializer},
        summary="The database's migrations",
        description=(
            "Platform admins only (others get a 403 PERMISSION_DENIED). Every app's migrations in the order "
            "`migrate` applies them, each with whether and when it was applied, and how many are not applied yet "
            "(`unapplied_count`: 0 when the database is up to date with the code). A squashed migration lists the "
            "migrations it replaces."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(DatabaseMigrationsSerializer(database_migrations()).data)


urlpatterns = [
    path("admin/database/schema", DatabaseSchemaView.as_view(), name="admin-database-schema"),
    path("admin/database/migrations", DatabaseMigrationsView.as_view(), name="admin-database-migrations"),
]
