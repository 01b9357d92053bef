"""HTTP endpoints of the schema registry: the start-up bundle (/schema), subjects and their versions (/schemas),
compatibility checks, and document migrations (/schema-migrations)."""

from functools import cached_property
from typing import Any

from django.http import HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, AllowAny, BasePermission, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response

from incubator.errors import InvalidInput
from incubator.idempotency.services import idempotent
from incubator.parsers import JSONParser

from .. import selectors, services
from ..models import DocumentMigration, SchemaVersion, Subject
from ..sandbox import EXTRA_PLAN, EXTRA_V2, EXTRA_V2_DESCRIBED
from .serializers import (
    BundleSerializer,
    CompatibilityInputSerializer,
    CompatibilityReportSerializer,
    DryRunSerializer,
    LogEntrySerializer,
    LogParamsSerializer,
    MigrationCreateInputSerializer,
    MigrationListParamsSerializer,
    MigrationSerializer,
    PlanParamsSerializer,
    PlanSerializer,
    SchemaVersionCreateInputSerializer,
    SchemaVersionSerializer,
    SchemaVersionUpdateInputSerializer,
    SubjectDetailSerializer,
    SubjectSerializer,
    SubjectUpdateInputSerializer,
    log_representation,
    migration_representation,
    subject_representation,
    version_representation,
)

TAGS = ["schemas"]
MIGRATION_TAGS = ["schema migrations"]
SUBJECT = OpenApiParameter("subject", str, OpenApiParameter.PATH, description="e.g. `project.extra`.")


class ReadOrPlatformAdmin(BasePermission):
    """Anyone reads; platform admins write."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return request.method in SAFE_METHODS or bool(request.user and request.user.is_staff)


class SubjectScopedView(GenericAPIView):
    permission_classes = [ReadOrPlatformAdmin]
    parser_classes = [JSONParser]
    queryset = Subject.objects.none()

    @cached_property
    def subject(self) -> Subject:
        return selectors.subject_get(name=self.kwargs["subject"])


# --- the start-up bundle ------------------------------------------------------------------------------------


class SchemaBundleView(GenericAPIView):
    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []  # public, and the same for everyone: a token changes nothing
    pagination_class = None
    queryset = Subject.objects.none()

    @extend_schema(
        tags=TAGS,
        responses={200: BundleSerializer, 304: OpenApiResponse(description="Not modified: the ETag still holds.")},
        auth=[{}],
        parameters=[
            OpenApiParameter(
                "If-None-Match", str, OpenApiParameter.HEADER, description="The ETag of the copy the client has."
            )
        ],
        summary="Every current schema",
        description=(
            "The current version of every subject with its JSON Schema: what the frontend validates its forms "
            "with. Anyone may read it. The answer carries an `ETag`; send it back in `If-None-Match` and the "
            "answer is a 304 with no body until a schema changes, so the start-up fetch costs nothing."
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        body, etag = selectors.registry_bundle()
        sent = [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]
        if etag in sent or f"W/{etag}" in sent or "*" in sent:
            response: HttpResponse = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
            del response["Content-Type"]  # no body, so no type
        else:
            response = Response(body)
        response["ETag"] = etag
        patch_cache_control(response, no_cache=True, public=True)
        return response


# --- subjects -----------------------------------------------------------------------------------------------


class SubjectListView(GenericAPIView):
    permission_classes = [AllowAny]
    list_key = "schemas"
    queryset = Subject.objects.none()
    serializer_class = SubjectSerializer

    @extend_schema(
        tags=TAGS,
        responses={200: SubjectSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        parameters=[OpenApiParameter("search", str, description="Part of the subject's name.")],
        summary="List subjects",
        description=(
            "Every subject (what a schema describes: `project.extra`, `dataset.metadata`, `user.profile`, "
            "`algorithm.{name}.hyperparameters`) with its compatibility mode and current version, by name."
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        search = request.query_params.get("search", "").strip()[:200]
        if "\x00" in search:  # PostgreSQL refuses NUL in text: a 500 from the LIKE otherwise
            raise InvalidInput({"search": [_("Text may not contain NUL characters.")]})
        page = self.paginate_queryset(selectors.subject_list(search=search or None))
        return self.get_paginated_response([subject_representation(subject) for subject in page])


class SubjectDetailView(SubjectScopedView):
    serializer_class = SubjectDetailSerializer

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        responses={200: SubjectDetailSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One subject",
        description="A subject, its current schema, and how many stored documents each version has.",
    )
    def get(self, request: Request, subject: str) -> HttpResponse:
        return Response(self._detail(self.subject))

    def _detail(self, subject: Subject) -> dict[str, Any]:
        current = selectors.schema_version_current(subject=subject)
        documents = selectors.documents_by_version(subject=subject)
        return {
            **subject_representation(subject),
            "schema": current.schema if current else None,
            "documents": {str(number): count for number, count in documents.items()},
        }

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        request=SubjectUpdateInputSerializer,
        responses={200: SubjectDetailSerializer},
        summary="Describe a subject or change its compatibility mode",
        description=(
            "Platform admins only. `compatibility` is one of NONE, BACKWARD, FORWARD, FULL and their _TRANSITIVE "
            "forms, with Confluent's meanings: BACKWARD, data written under the previous version is valid under "
            "the new one; FORWARD, data written under the new version is valid under the previous one; FULL, "
            "both; _TRANSITIVE, against every earlier version rather than the latest."
        ),
        examples=[
            OpenApiExample(
                "Describe",
                value={"description": "项目的扩展信息：预算与阶段 / A project's extra fields: budget and stage"},
                request_only=True,
            )
        ],
    )
    def patch(self, request: Request, subject: str) -> HttpResponse:
        data = SubjectUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = services.subject_update(subject=self.subject, actor=request.user, data=data.validated_data)
        return Response(self._detail(updated))


class VersionListCreateView(SubjectScopedView):
    list_key = "versions"
    serializer_class = SchemaVersionSerializer

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        responses={200: SchemaVersionSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],
        summary="A subject's versions",
        description="Every version of the subject, oldest first, with its schema.",
    )
    def get(self, request: Request, subject: str) -> HttpResponse:
        page = self.paginate_queryset(selectors.schema_version_list(subject=self.subject))
        return self.get_paginated_response([version_representation(version, self.subject) for version in page])

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        request=SchemaVersionCreateInputSerializer,
        responses={201: SchemaVersionSerializer, 200: SchemaVersionSerializer},
        summary="Register a new version",
        description=(
            "Platform admins only. The schema must be a valid JSON Schema (Draft 2020-12): otherwise a 400 "
            "SCHEMA_INVALID with the meta-schema's complaint and its path in `details.field`. A schema identical "
            "to a registered version returns that version (200). One the subject's compatibility mode refuses is "
            "a 409 SCHEMA_INCOMPATIBLE listing every incompatibility with its JSON path and reason. A subject "
            "whose versions come from code (an algorithm's hyperparameters) is a 409 SUBJECT_MANAGED. The new "
            "version becomes the current one: writes are validated against it from now on."
        ),
        examples=[OpenApiExample("Budget and stage", value={"schema": EXTRA_V2_DESCRIBED}, request_only=True)],
    )
    @idempotent
    def post(self, request: Request, subject: str) -> HttpResponse:
        data = SchemaVersionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version, created = services.schema_version_register(
            subject=self.subject, schema=data.validated_data["schema"], actor=request.user
        )
        self.subject.refresh_from_db()
        return Response(
            version_representation(version, self.subject),
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class VersionDetailView(SubjectScopedView):
    serializer_class = SchemaVersionSerializer

    @cached_property
    def version(self) -> SchemaVersion:
        return selectors.schema_version_get(subject=self.subject, number=self.kwargs["number"])

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        responses={200: SchemaVersionSerializer},
        auth=[{"jwtAuth": []}, {}],
        summary="One version",
        description="A version of the subject with its schema.",
    )
    def get(self, request: Request, subject: str, number: int) -> HttpResponse:
        return Response(version_representation(self.version, self.subject))

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        request=SchemaVersionUpdateInputSerializer,
        responses={200: SchemaVersionSerializer},
        summary="Deprecate a version",
        description="Platform admins only. `deprecated: true` marks the version as one to migrate away from.",
        examples=[OpenApiExample("Deprecate", value={"deprecated": True}, request_only=True)],
    )
    def patch(self, request: Request, subject: str, number: int) -> HttpResponse:
        data = SchemaVersionUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = services.schema_version_update(version=self.version, actor=request.user, data=data.validated_data)
        return Response(version_representation(version, self.subject))

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        responses={204: None},
        summary="Delete a version",
        description=(
            "Platform admins only, and only when no stored document was written under it: otherwise a 409 "
            "SCHEMA_VERSION_IN_USE naming the count in `details.documents` (and `details.migrations`, migrations "
            "that may still write under it). The last version of a subject stays (409 SCHEMA_VERSION_LAST)."
        ),
    )
    def delete(self, request: Request, subject: str, number: int) -> HttpResponse:
        services.schema_version_delete(version=self.version, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CompatibilityView(SubjectScopedView):
    permission_classes = [IsAdminUser]
    serializer_class = CompatibilityReportSerializer

    @extend_schema(
        tags=TAGS,
        parameters=[SUBJECT],
        request=CompatibilityInputSerializer,
        responses={200: CompatibilityReportSerializer},
        summary="Check a schema's compatibility",
        description=(
            "Platform admins only. What registering this schema would meet, without registering it: every "
            "incompatibility with the subject's versions under its mode (or `compatibility`, to try another), "
            "each with the JSON path in a document, the schema keyword and the reason."
        ),
        examples=[OpenApiExample("Budget and stage", value={"schema": EXTRA_V2}, request_only=True)],
    )
    def post(self, request: Request, subject: str) -> HttpResponse:
        data = CompatibilityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        report = services.compatibility_report(
            subject=self.subject, schema=data.validated_data["schema"], mode=data.validated_data.get("compatibility")
        )
        return Response(report)


class MigrationPlanView(SubjectScopedView):
    permission_classes = [IsAdminUser]
    serializer_class = PlanSerializer

    @extend_schema(
        tags=MIGRATION_TAGS,
        parameters=[SUBJECT, PlanParamsSerializer],
        responses={200: PlanSerializer},
        summary="Propose a migration plan",
        description=(
            "Platform admins only. The plan the registry proposes to move documents from version `from` to "
            "`to`, from the difference of the two schemas: `add_field` for a new property with a default, "
            "`remove_field` for one gone, `change_type` for a changed type, `map_values` for an enum that lost "
            "values, `set_default`. Edit it and send it to POST /schema-migrations."
        ),
    )
    def get(self, request: Request, subject: str) -> HttpResponse:
        params = PlanParamsSerializer.validated(request)
        plan = services.migration_plan_propose(
            subject=self.subject, from_number=params.get("from"), to_number=params.get("to")
        )
        return Response(
            {"subject": self.subject.name, "from": params.get("from"), "to": params.get("to"), "plan": plan}
        )


# --- migrations ---------------------------------------------------------------------------------------------


class MigrationListCreateView(GenericAPIView):
    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser]
    list_key = "migrations"
    queryset = DocumentMigration.objects.none()
    serializer_class = MigrationSerializer

    @extend_schema(
        tags=MIGRATION_TAGS,
        parameters=[MigrationListParamsSerializer],
        responses={200: MigrationSerializer(many=True)},
        summary="List document migrations",
        description="Platform admins only. Newest first; filter with `subject` and `status`.",
    )
    def get(self, request: Request) -> HttpResponse:
        params = MigrationListParamsSerializer.validated(request)
        page = self.paginate_queryset(selectors.migration_list(**params))
        return self.get_paginated_response([migration_representation(migration) for migration in page])

    @extend_schema(
        tags=MIGRATION_TAGS,
        request=MigrationCreateInputSerializer,
        responses={
            202: MigrationSerializer,
            200: OpenApiResponse(DryRunSerializer, description="The dry run's report (`dry_run: true`)."),
        },
        summary="Migrate a subject's documents",
        description=(
            "Platform admins only. Moves every stored document of `subject` written under version `from` to "
            "version `to`, applying `plan` (a list of operations: `add_field` {path, default}, `remove_field` "
            "{path}, `rename_field` {path, to}, `move_field` {path, to}, `change_type` {path, to, on_error}, "
            "`set_default` {path, value}, `map_values` {path, mapping: [{from, to}]}; paths are dotted, `*` "
            "for every item of a list). Without a plan, the registry's proposal is used.\n\n"
            "`dry_run: true` answers 200 with what would happen and writes nothing: how many documents change, "
            "a few before/after diffs, and every document that would fail validation against `to`. Otherwise "
            "the migration runs on a worker (202): in batches, each document's old value kept, progress as "
            "`schema_migration.progress` events; documents that fail are logged and left as they were, and "
            "when more than `abort_threshold` % fail, the run stops and restores everything (status `aborted`). "
            "A run a crash interrupted resumes after its last batch. `defer: true` leaves it `pending` for the "
            "deployment's `migrate_documents --pending`. One migration of a subject at a time (409 "
            "MIGRATION_ACTIVE)."
        ),
        examples=[
            OpenApiExample(
                "Dry run",
                value={
                    "subject": "project.extra",
                    "from": 1,
                    "to": 2,
                    "plan": EXTRA_PLAN,
                    "dry_run": True,
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request: Request) -> HttpResponse:
        data = MigrationCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        subject = selectors.subject_get_for_input(name=values["subject"])
        plan = values.get("plan")
        if values["dry_run"]:
            report = services.migration_dry_run(
                subject=subject, from_number=values["from"], to_number=values["to"], plan=plan
            )
            return Response(report)
        migration = services.migration_create(
            subject=subject,
            from_number=values["from"],
            to_number=values["to"],
            plan=plan,
            actor=request.user,
            abort_threshold=values["abort_threshold"],
            batch_size=values.get("batch_size"),
            defer=values["defer"],
        )
        migration = selectors.migration_get(migration_id=migration.id)
        return Response(migration_representation(migration), status=status.HTTP_202_ACCEPTED)


class MigrationScopedView(GenericAPIView):
    permission_classes = [IsAdminUser]
    parser_classes = [JSONParser]
    queryset = DocumentMigration.objects.none()
    serializer_class = MigrationSerializer

    @cached_property
    def migration(self) -> DocumentMigration:
        return selectors.migration_get(migration_id=self.kwargs["migration_id"])


class MigrationDetailView(MigrationScopedView):
    @extend_schema(
        tags=MIGRATION_TAGS,
        responses={200: MigrationSerializer},
        summary="One document migration",
        description="Platform admins only. Its status, counts and progress (0 to 1).",
    )
    def get(self, request: Request, migration_id: int) -> HttpResponse:
        return Response(migration_representation(self.migration))


class MigrationLogView(MigrationScopedView):
    list_key = "entries"
    serializer_class = LogEntrySerializer

    @extend_schema(
        tags=MIGRATION_TAGS,
        parameters=[LogParamsSerializer],
        responses={200: LogEntrySerializer(many=True)},
        summary="A migration's log",
        description=(
            "Platform admins only. What happened, oldest first: the start, every document that failed with the "
            "JSON path and reason, every document a rollback left alone, the end. Filter with `level`."
        ),
    )
    def get(self, request: Request, migration_id: int) -> HttpResponse:
        params = LogParamsSerializer.validated(request)
        page = self.paginate_queryset(selectors.migration_log(migration=self.migration, **params))
        return self.get_paginated_response([log_representation(entry) for entry in page])


class MigrationRollbackView(MigrationScopedView):
    @extend_schema(
        tags=MIGRATION_TAGS,
        request=None,
        responses={202: MigrationSerializer},
        summary="Roll a migration back",
        description=(
            "Platform admins only. Restores every document the migration changed exactly as it was (status "
            "`rolling_back`, then `rolled_back`); a running migration stops after its current batch. A document "
            "changed since the migration wrote it is left as it is now and logged. A migration already rolled "
            "back or aborted is a 409 MIGRATION_NOT_ROLLBACKABLE."
        ),
    )
    def post(self, request: Request, migration_id: int) -> HttpResponse:
        services.migration_rollback(migration=self.migration, actor=request.user)
        migration = selectors.migration_get(migration_id=migration_id)
        return Response(migration_representation(migration), status=status.HTTP_202_ACCEPTED)
