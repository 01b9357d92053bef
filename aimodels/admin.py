"""Django admin for training: jobs are shown and cancelled or retried (an action, through the services);
models are renamed and their versions staged through the services; jobs are started through the API."""

from typing import Any

from django import forms
from django.contrib import admin
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from incubator.admin import ReadOnlyAdmin, ServiceAdmin, adopt, apply_each, delete_selected

from . import services
from .models import Model, ModelVersion, TrainingJob


@admin.action(description=_("Cancel the selected jobs"))
def cancel_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    apply_each(modeladmin, request, queryset, lambda job: services.job_cancel(job=job, actor=request.user))


@admin.action(description=_("Retry the selected jobs"))
def retry_jobs(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    apply_each(modeladmin, request, queryset, lambda job: services.job_retry(job=job, actor=request.user))


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "algorithm",
        "project",
        "status",
        "progress",
        "attempt",
        "worker",
        "created_at",
        "finished_at",
    )
    list_filter = ("status", "algorithm", "task", "created_at")
    search_fields = ("algorithm", "model_name", "project__name", "worker", "error_code")
    list_select_related = ("project",)
    actions = [cancel_jobs, retry_jobs]
    list_per_page = 50
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_view_permission(request)  # the list and its actions; rows are read-only


class ModelAdminForm(forms.ModelForm):
    class Meta:
        model = Model
        fields = ("name", "description")


class ModelVersionInline(admin.TabularInline):
    model = ModelVersion
    fields = ("number", "stage", "algorithm", "job", "artifact_size", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Model)
class ModelAdmin(ServiceAdmin):
    form = ModelAdminForm
    list_display = ("name", "project", "task", "version_count", "created_at")
    list_filter = ("task", "created_at")
    search_fields = ("name", "description", "project__name")
    list_select_related = ("project",)
    readonly_fields = ("project", "task", "version_count", "created_by", "created_at", "updated_at")
    inlines = [ModelVersionInline]
    actions = [delete_selected]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # models are made by jobs, or through the API

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        data = {field: form.cleaned_data[field] for field in ("name", "description") if field in form.cleaned_data}
        adopt(obj, services.model_update(model=obj, actor=request.user, data=data))

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        services.model_delete(model=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for model in queryset:
            services.model_delete(model=model, actor=request.user)


def _stage_action(stage: str, label: Any) -> Any:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        apply_each(
            modeladmin,
            request,
            queryset,
            lambda version: services.model_version_stage(version=version, actor=request.user, stage=stage),
        )

    action.__name__ = f"stage_{stage}"
    return admin.action(description=label)(action)


@admin.register(ModelVersion)
class ModelVersionAdmin(ServiceAdmin):
    list_display = ("__str__", "stage", "algorithm", "dataset_version", "artifact_size", "created_at")
    list_filter = ("stage", "algorithm", "created_at")
    search_fields = ("model__name", "algorithm", "artifact_sha256")
    list_select_related = ("model", "dataset_version__dataset")
    actions = [
        _stage_action("production", _("Promote to production")),
        _stage_action("staging", _("Move to staging")),
        _stage_action("archived", _("Archive")),
        delete_selected,
    ]
    readonly_fields = (
        "model",
        "number",
        "stage",
        "job",
        "dataset_version",
        "algorithm",
        "hyperparameters",
        "artifact",
        "artifact_size",
        "artifact_sha256",
        "signature",
        "metrics",
        "feature_importances",
        "created_by",
        "created_at",
        "stage_changed_at",
    )
    fields = readonly_fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return obj is None and super().has_change_permission(request)  # actions on the list; rows are read-only

    def delete_model(self, request: HttpRequest, obj: ModelVersion) -> None:
        services.model_version_delete(version=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for version in queryset:
            services.model_version_delete(version=version, actor=request.user)
