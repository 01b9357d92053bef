"""Django admin for the schema registry: subjects (described, their mode changed and new versions registered
through the services), versions (deprecated or deleted through the services), and document migrations with
their state and log, rolled back or started by an action."""

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from incubator.admin import ReadOnlyAdmin, ServiceAdmin, adopt, apply_each, error_messages
from incubator.errors import ApiError

from . import services
from .models import DocumentMigration, MigrationLogEntry, SchemaVersion, Subject


def _pretty(value: Any) -> str:
    return format_html("<pre style='white-space: pre-wrap'>{}</pre>", json.dumps(value, ensure_ascii=False, indent=2))


class SubjectAdminForm(forms.ModelForm):
    # Text, not forms.JSONField: an empty field shows empty (not "null") and means "no new version".
    new_schema = forms.CharField(
        label=_("New version"),
        required=False,
        help_text=_("A JSON Schema (Draft 2020-12) to register as the next version; checked against the mode."),
        widget=forms.Textarea(attrs={"rows": 12, "cols": 80, "class": "vLargeTextField"}),
    )

    class Meta:
        model = Subject
        fields = ("description", "compatibility")

    def clean_description(self) -> str:
        return self.cleaned_data["description"].replace("\r\n", "\n")

    def clean_new_schema(self) -> Any:
        text = self.cleaned_data.get("new_schema", "").strip()
        if not text:
            return None
        try:
            schema = json.loads(text)
        except ValueError as exc:
            raise forms.ValidationError(_("Enter a valid JSON.")) from exc
        # The checks registering makes, shown on the field with every reason, the text kept for another try.
        mode = self.cleaned_data.get("compatibility") or self.instance.compatibility
        try:
            report = services.compatibility_report(subject=self.instance, schema=schema, mode=mode)
        except ApiError as exc:
            raise forms.ValidationError(_explain(exc)) from exc
        if not report["compatible"]:
            raise forms.ValidationError(
                [_("Not compatible (%(mode)s).") % {"mode": mode}]
                + [f"{problem['path']}: {problem['message']}" for problem in report["incompatibilities"]]
            )
        return schema


def _explain(exc: ApiError) -> list[str]:
    details = exc.details.get("errors") or {}
    lines = [f"{field}: {message}" for field, messages in details.items() for message in messages]
    return lines or error_messages(exc)


class VersionInline(admin.TabularInline):
    model = SchemaVersion
    fields = ("number", "deprecated", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Subject)
class SubjectAdmin(ServiceAdmin):
    form = SubjectAdminForm
    list_display = ("name", "compatibility", "current_number", "managed", "updated_at")
    list_filter = ("compatibility", "managed")
    search_fields = ("name", "description")
    readonly_fields = ("name", "managed", "current_number", "current_schema", "created_at", "updated_at")
    fields = ("name", "description", "compatibility", "managed", "current_number", "current_schema", "new_schema")
    inlines = [VersionInline]

    @admin.display(description=_("current schema"))
    def current_schema(self, obj: Subject) -> str:
        version = obj.versions.filter(number=obj.current_number).first()
        return _pretty(version.schema) if version else "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # subjects are declared by the apps that store their documents

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Subject, form: forms.ModelForm, change: bool) -> None:
        data = {f: form.cleaned_data[f] for f in ("description", "compatibility") if f in form.cleaned_data}
        saved = services.subject_update(subject=obj, actor=request.user, data=data)
        if form.cleaned_data.get("new_schema") is not None:
            services.schema_version_register(subject=saved, schema=form.cleaned_data["new_schema"], actor=request.user)
            saved.refresh_from_db()
        adopt(obj, saved)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # versions: read-only


@admin.register(SchemaVersion)
class SchemaVersionAdmin(ServiceAdmin):
    list_display = ("subject", "number", "deprecated", "created_by", "created_at")
    list_filter = ("deprecated", "subject")
    search_fields = ("subject__name",)
    list_select_related = ("subject", "created_by")
    fields = ("subject", "number", "deprecated", "schema_shown", "fingerprint", "created_by", "created_at")
    readonly_fields = ("subject", "number", "schema_shown", "fingerprint", "created_by", "created_at")
    actions = ["deprecate", "undeprecate"]

    @admin.display(description=_("schema"))
    def schema_shown(self, obj: SchemaVersion) -> str:
        return _pretty(obj.schema)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a new version is registered on its subject's page (checked against the mode)

    def save_model(self, request: HttpRequest, obj: SchemaVersion, form: forms.ModelForm, change: bool) -> None:
        saved = services.schema_version_update(
            version=obj, actor=request.user, data={"deprecated": form.cleaned_data["deprecated"]}
        )
        adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: SchemaVersion) -> None:
        services.schema_version_delete(version=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            services.schema_version_delete(version=version, actor=request.user)

    @admin.action(description=_("Deprecate the selected versions"))
    def deprecate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.apply_each(
            request,
            queryset,
            lambda version: services.schema_version_update(
                version=version, actor=request.user, data={"deprecated": True}
            ),
        )

    @admin.action(description=_("Undo the deprecation of the selected versions"))
    def undeprecate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.apply_each(
            request,
            queryset,
            lambda version: services.schema_version_update(
                version=version, actor=request.user, data={"deprecated": False}
            ),
        )


class LogInline(admin.TabularInline):
    model = MigrationLogEntry
    fields = ("created_at", "level", "document_id", "path", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0
    ordering = ("id",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).order_by("id")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(DocumentMigration)
class DocumentMigrationAdmin(ReadOnlyAdmin):
    list_display = ("id", "subject", "from_number", "to_number", "status", "processed", "failed", "created_at")
    list_filter = ("status", "subject")
    list_select_related = ("subject",)
    fields = (
        "subject",
        "from_number",
        "to_number",
        "status",
        "plan_shown",
        "abort_threshold",
        "batch_size",
        "total",
        "processed",
        "changed",
        "failed",
        "restored",
        "error_code",
        "error_message",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    inlines = [LogInline]
    actions = ["roll_back", "run_now"]

    @admin.display(description=_("plan"))
    def plan_shown(self, obj: DocumentMigration) -> str:
        return _pretty(obj.plan)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The page and the actions; every field is read-only, so nothing is saved from the form.
        return bool(request.user.is_staff) if obj is None else False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_staff)

    @admin.action(description=_("Roll back the selected migrations"))
    def roll_back(self, request: HttpRequest, queryset: QuerySet) -> None:
        apply_each(
            self,
            request,
            queryset,
            lambda migration: services.migration_rollback(migration=migration, actor=request.user),
        )

    @admin.action(description=_("Run the selected pending migrations now"))
    def run_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        apply_each(self, request, queryset, lambda migration: services.migration_start(migration=migration))
