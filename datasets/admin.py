"""Django admin for datasets: names, descriptions and metadata are edited through datasets.services (the
metadata checked against its schema on the form), versions are shown with their status, lineage and profile,
and deleted (files too) through the services; files are uploaded through the API, which checks them."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from incubator.admin import ReadOnlyAdmin, ServiceAdmin, adopt, delete_selected, error_messages
from incubator.errors import InvalidInput

from . import services
from .models import Dataset, DatasetUpload, DatasetVersion, FileDeletion


class DatasetAdminForm(forms.ModelForm):
    class Meta:
        model = Dataset
        fields = ("project", "name", "description", "metadata")

    def clean_description(self) -> str:
        return self.cleaned_data["description"].replace("\r\n", "\n")

    def clean_metadata(self) -> Any:
        # The same check the service makes, shown on the field instead of failing the save.
        metadata = self.cleaned_data.get("metadata")
        metadata = {} if metadata is None else metadata
        if self.instance.pk is not None and not self.fields["metadata"].has_changed(self.instance.metadata, metadata):
            return metadata  # unchanged (as JSON): it keeps the version it was written under, as in the service
        try:
            services.metadata_validate(metadata)
        except InvalidInput as exc:
            raise forms.ValidationError(error_messages(exc)) from exc
        return metadata


class VersionInline(admin.TabularInline):
    model = DatasetVersion
    fields = ("number", "status", "format", "file_name", "size_shown", "row_count", "parent_number", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-number",)

    @admin.display(description=_("size"))
    def size_shown(self, obj: DatasetVersion) -> str:
        return filesizeformat(obj.size)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(ServiceAdmin):
    form = DatasetAdminForm
    list_display = ("name", "project", "version_count", "latest_status", "created_by", "created_at")
    list_filter = ("latest_version__status", "latest_version__format", "created_at")
    search_fields = ("name", "description", "project__name")
    list_select_related = ("project", "latest_version", "created_by")
    autocomplete_fields = ["project"]
    readonly_fields = ("version_count", "schema_version", "created_by", "created_at", "updated_at")
    inlines = [VersionInline]
    actions = [delete_selected]
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description=_("status"), ordering="latest_version__status")
    def latest_status(self, obj: Dataset) -> str:
        return obj.latest_version.get_status_display() if obj.latest_version else "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A dataset stays in its project: moving it would move its files' permissions with it.
        return (*self.readonly_fields, "project") if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Dataset, form: forms.ModelForm, change: bool) -> None:
        data = {f: form.cleaned_data[f] for f in (*services.DATASET_FIELDS, "metadata") if f in form.cleaned_data}
        if change:
            saved = services.dataset_update(dataset=obj, actor=request.user, data=data)
        else:
            saved = services.dataset_create(project=form.cleaned_data["project"], actor=request.user, data=data)
        adopt(obj, saved)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # versions: read-only

    def delete_model(self, request: HttpRequest, obj: Dataset) -> None:
        services.dataset_delete(dataset=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for dataset in queryset:
            services.dataset_delete(dataset=dataset, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected  # the service decides what goes with a dataset


@admin.register(DatasetVersion)
class DatasetVersionAdmin(ServiceAdmin):
    list_display = ("__str__", "status", "format", "size_shown", "row_count", "profile_status", "created_at")
    list_filter = ("status", "format", "source", "profile_status", "created_at")
    search_fields = ("dataset__name", "file_name", "sha256")
    list_select_related = ("dataset",)
    actions = [delete_selected]
    list_per_page = 50
    show_full_result_count = False
    fields = (
        "dataset",
        "number",
        "status",
        "progress",
        "error_code",
        "error_message",
        "error_details",
        "source",
        "file_name",
        "format",
        "content_type",
        "encoding",
        "delimiter",
        "size",
        "sha256",
        "original",
        "parquet",
        "parquet_size",
        "csv",
        "row_count",
        "columns",
        "parent",
        "parent_number",
        "pipeline",
        "profile_status",
        "profile_progress",
        "profile",
        "profile_error",
        "created_by",
        "created_at",
        "ready_at",
        "profiled_at",
    )
    readonly_fields = fields

    @admin.display(description=_("size"), ordering="size")
    def size_shown(self, obj: DatasetVersion) -> str:
        return filesizeformat(obj.size)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions come from uploads and pipelines, through the API

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # versions are immutable

    def delete_model(self, request: HttpRequest, obj: DatasetVersion) -> None:
        services.dataset_version_delete(version=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            services.dataset_version_delete(version=version, actor=request.user)


@admin.register(DatasetUpload)
class DatasetUploadAdmin(ReadOnlyAdmin):
    list_display = ("dataset", "file_name", "status", "size", "part_count", "created_at", "expires_at")
    list_filter = ("status", "created_at")
    search_fields = ("dataset__name", "file_name", "sha256")
    list_select_related = ("dataset",)


@admin.register(FileDeletion)
class FileDeletionAdmin(ReadOnlyAdmin):
    """Files whose delete failed, waiting for datasets.file_deletions_retry: a long list, or a growing attempt
    count, says the storage has been unreachable for a while."""

    list_display = ("name", "attempts", "next_attempt_at", "created_at", "last_error")
    search_fields = ("name",)
