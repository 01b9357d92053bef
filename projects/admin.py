"""Django admin for projects: every write goes through projects.services (events, search text and list totals
stay true); what no service writes (tag links, join applications' fields) is read-only."""

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.formats import date_format
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _

from incubator.admin import ReadOnlyAdmin, ServiceAdmin, adopt, delete_selected, error_messages
from incubator.errors import InvalidInput

from . import services
from .models import Application, Membership, Project, ProjectTag, PublicMembershipCount, Tag

OWNER = Membership.Role.OWNER.value
# Tags are typed as one line: commas, Chinese commas and enumeration commas all separate them.
TAG_SEPARATORS = re.compile(r"[,，、\n]")
TAGS_SHOWN = 3


def _role_choices(field: forms.Field, *, with_owner: bool) -> None:
    # The owner is chosen on the project (ownership transfer), never as a member's role.
    if not with_owner:
        field.choices = [(value, label) for value, label in field.choices if value != OWNER]


# --- projects -----------------------------------------------------------------------------------------------


class ProjectAdminForm(forms.ModelForm):
    tags = forms.CharField(
        label=_("tags"),
        required=False,
        help_text=_("Separated by commas, for example: 机器学习, NLP"),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )

    class Meta:
        model = Project
        fields = ("name", "description", "video_url", "status", "visibility", "owner", "tags", "extra")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["tags"] = ", ".join(self.instance.tags)

    def clean_description(self) -> str:
        # A browser sends a textarea's line breaks as CRLF: keep the API's LF, so saving another field in admin
        # does not rewrite the description.
        return self.cleaned_data["description"].replace("\r\n", "\n")

    def clean_tags(self) -> list[str]:
        try:
            return services.tags_normalize(TAG_SEPARATORS.split(self.cleaned_data["tags"]))
        except InvalidInput as exc:
            raise forms.ValidationError(error_messages(exc)) from exc

    def clean_extra(self) -> Any:
        # The same check the service makes, shown on the field instead of failing the save.
        extra = self.cleaned_data.get("extra")
        extra = {} if extra is None else extra
        if self.instance.pk is not None and not self.fields["extra"].has_changed(self.instance.extra, extra):
            return extra  # unchanged (as JSON): it keeps the version it was written under, as in the service
        try:
            services.extra_validate(extra)
        except InvalidInput as exc:
            raise forms.ValidationError(error_messages(exc)) from exc
        return extra


class MembershipInlineForm(forms.ModelForm):
    """A member's user is fixed once added (replacing one is a removal and an addition); the owner's row is
    fixed altogether (ownership moves with the project's owner field)."""

    class Meta:
        model = Membership
        fields = ("user", "role")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        is_owner = self.instance.pk is not None and self.instance.role == OWNER
        if self.instance.pk is not None:
            self.fields["user"].disabled = True
            widget = self.fields["user"].widget  # a fixed user: no add/change/view buttons beside it
            widget.can_add_related = widget.can_change_related = widget.can_view_related = False
        else:
            self.fields["user"].queryset = self.fields["user"].queryset.filter(is_active=True)
        if is_owner:
            self.fields["role"].disabled = True
            self.fields["role"].help_text = _("Change the project's owner to transfer ownership.")
        _role_choices(self.fields["role"], with_owner=is_owner)


class MembershipInlineFormSet(forms.BaseInlineFormSet):
    def add_fields(self, form: forms.Form, index: int | None) -> None:
        super().add_fields(form, index)
        instance = getattr(form, "instance", None)
        if "DELETE" in form.fields and instance is not None and instance.pk and instance.role == OWNER:
            form.fields["DELETE"].disabled = True


class MembershipInline(admin.TabularInline):
    model = Membership
    form = MembershipInlineForm
    formset = MembershipInlineFormSet
    fields = ("user", "role", "joined_at")
    readonly_fields = ("joined_at",)
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(ServiceAdmin):
    form = ProjectAdminForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # Seven short columns (a date, not a timestamp; "members", not "member count"): the changelist fits a
    # 1400 px window beside the navigation and the filters, in Chinese and in English.
    list_display = ("name", "status", "visibility", "owner", "members", "tag_summary", "created_on")
    list_filter = ("status", "visibility", "created_at", "updated_at")
    search_fields = ("name", "description", "owner__username", "owner__email")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner"]
    fields = (
        "name",
        "description",
        "video_url",
        "status",
        "visibility",
        "owner",
        "tags",
        "extra",
        "member_count",
        "schema_version",
        "created_at",
        "updated_at",
    )
    readonly_fields = ("member_count", "schema_version", "created_at", "updated_at")
    inlines = [MembershipInline]
    actions = [delete_selected, "make_public", "make_private", "mark_completed"]
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over 100k rows on every admin page is not worth it

    @admin.display(description=_("members"), ordering="member_count")
    def members(self, obj: Project) -> int:
        return obj.member_count

    @admin.display(description=_("created at"), ordering="created_at")
    def created_on(self, obj: Project) -> str:
        return date_format(localtime(obj.created_at), "SHORT_DATE_FORMAT")

    @admin.display(description=_("tags"))
    def tag_summary(self, obj: Project) -> str:
        shown = ", ".join(obj.tags[:TAGS_SHOWN])
        return f"{shown} +{len(obj.tags) - TAGS_SHOWN}" if len(obj.tags) > TAGS_SHOWN else shown

    def save_model(self, request: HttpRequest, obj: Project, form: forms.ModelForm, change: bool) -> None:
        data = {f: form.cleaned_data[f] for f in (*services.PROJECT_FIELDS, "tags", "extra") if f in form.cleaned_data}
        if change:
            saved = services.project_update(project=obj, actor=request.user, data=data)
        else:
            saved = services.project_create(owner=form.cleaned_data["owner"], data=data, actor=request.user)
        adopt(obj, saved)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        for formset in formsets:
            self.save_formset(request, form, formset, change)
        # After the members: a user added in the same submit can become the owner.
        project, owner = form.instance, form.cleaned_data.get("owner")
        if change and owner is not None and owner.pk != project.owner_id:
            saved = services.ownership_transfer(project=project, actor=request.user, user_id=owner.pk)
            adopt(project, saved)

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        if formset.model is not Membership:
            super().save_formset(request, form, formset, change)
            return
        project, actor = form.instance, request.user
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        deleted = formset.deleted_forms
        for member_form in formset.initial_forms:
            membership = member_form.instance
            if member_form in deleted:
                services.member_remove(project=project, actor=actor, user_id=membership.user_id)
                formset.deleted_objects.append(membership)
            elif "role" in member_form.changed_data:
                role = member_form.cleaned_data["role"]
                services.member_update(project=project, actor=actor, user_id=membership.user_id, role=role)
                formset.changed_objects.append((membership, ["role"]))
        for member_form in formset.extra_forms:
            if member_form.has_changed() and member_form not in deleted:
                user, role = member_form.cleaned_data["user"], member_form.cleaned_data["role"]
                added = services.member_add(project=project, actor=actor, user_id=user.pk, role=role)
                formset.new_objects.append(added)

    def delete_model(self, request: HttpRequest, obj: Project) -> None:
        services.project_delete(project=obj, actor=request.user)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with services.public_counts_batch():
            for project in queryset:
                services.project_delete(project=project, actor=request.user)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        # project_delete takes the members, applications and tag links with the project and decides who may
        # delete one with work under it; the admin's per-model delete permissions on those rows do not apply.
        return deleted, counts, set(), protected

    def _set_each(self, request: HttpRequest, queryset: QuerySet, data: dict[str, Any]) -> None:
        self.apply_each(request, queryset, lambda p: services.project_update(project=p, actor=request.user, data=data))

    @admin.action(permissions=["change"], description=_("Make selected projects public"))
    def make_public(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_each(request, queryset, {"visibility": Project.Visibility.PUBLIC.value})

    @admin.action(permissions=["change"], description=_("Make selected projects private"))
    def make_private(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_each(request, queryset, {"visibility": Project.Visibility.PRIVATE.value})

    @admin.action(permissions=["change"], description=_("Mark selected projects completed"))
    def mark_completed(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._set_each(request, queryset, {"status": Project.Status.COMPLETED.value})


# --- tags ---------------------------------------------------------------------------------------------------


class TagAdminForm(forms.ModelForm):
    class Meta:
        model = Tag
        fields = ("name",)

    def clean_name(self) -> str:
        try:
            names = services.tags_normalize([self.cleaned_data["name"]])
        except InvalidInput as exc:
            raise forms.ValidationError(error_messages(exc)) from exc
        if not names:
            raise forms.ValidationError(self.fields["name"].error_messages["required"], code="required")
        return names[0]


@admin.register(Tag)
class TagAdmin(ServiceAdmin):
    """Tags are made by project writes; here they can only be renamed (services.tag_rename rewrites every
    project carrying them). Deleting one would leave projects' tag lists behind, so there is no delete."""

    form = TagAdminForm
    list_display = ("name", "project_count", "created_at")
    search_fields = ("name",)
    fields = ("name", "created_at")
    readonly_fields = ("created_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(project_count=Count("project_links"))

    @admin.display(description=_("projects"), ordering="project_count")
    def project_count(self, obj: Tag) -> int:
        return obj.project_count

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Tag, form: forms.ModelForm, change: bool) -> None:
        adopt(obj, services.tag_rename(tag=obj, actor=request.user, name=form.cleaned_data["name"]))


@admin.register(ProjectTag)
class ProjectTagAdmin(ReadOnlyAdmin):
    """Written by project writes only (the project's tags field is what an admin edits)."""

    list_display = ("project", "tag")
    list_select_related = ("project", "tag")
    search_fields = ("tag__name", "project__name")


# --- members and applications -------------------------------------------------------------------------------


@admin.register(PublicMembershipCount)
class PublicMembershipCountAdmin(ReadOnlyAdmin):
    """Counted by the member and visibility services (`manage.py public_memberships_recount` counts them all
    again)."""

    list_display = ("user", "count")
    list_select_related = ("user",)
    search_fields = ("user__username",)
    ordering = ("-count", "user_id")


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("project", "user", "role")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        is_owner = self.instance.pk is not None and self.instance.role == OWNER
        if "role" in self.fields:
            if is_owner:
                self.fields["role"].disabled = True
                self.fields["role"].help_text = _("Change the project's owner to transfer ownership.")
            _role_choices(self.fields["role"], with_owner=is_owner)
        if "user" in self.fields:
            self.fields["user"].queryset = self.fields["user"].queryset.filter(is_active=True)


@admin.register(Membership)
class MembershipAdmin(ServiceAdmin):
    form = MembershipAdminForm
    list_display = ("project", "user", "role", "joined_at")
    list_filter = ("role", "joined_at")
    search_fields = ("project__name", "user__username", "user__email")
    list_select_related = ("project", "user")
    raw_id_fields = ("project", "user")
    actions = [delete_selected]

    def get_readonly_fields(self, request: HttpRequest, obj: Membership | None = None) -> tuple[str, ...]:
        # Moving a membership to another project or user is a removal and an addition.
        return ("project", "user", "joined_at") if obj is not None else ("joined_at",)

    def has_delete_permission(self, request: HttpRequest, obj: Membership | None = None) -> bool:
        if obj is not None and obj.role == OWNER:
            return False  # the owner leaves only by transferring ownership
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Membership, form: forms.ModelForm, change: bool) -> None:
        actor, role = request.user, form.cleaned_data.get("role", obj.role)
        if not change:
            project, user = form.cleaned_data["project"], form.cleaned_data["user"]
            adopt(obj, services.member_add(project=project, actor=actor, user_id=user.pk, role=role))
        elif "role" in form.changed_data:
            saved = services.member_update(project=obj.project, actor=actor, user_id=obj.user_id, role=role)
            adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        services.member_remove(project=obj.project, actor=request.user, user_id=obj.user_id)

    @transaction.atomic
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        with services.public_counts_batch():
            for membership in queryset.select_related("project"):
                services.member_remove(project=membership.project, actor=request.user, user_id=membership.user_id)


@admin.register(Application)
class ApplicationAdmin(ServiceAdmin, ReadOnlyAdmin):
    """Applications are submitted and withdrawn by applicants; an admin decides them with the actions."""

    list_display = ("project", "applicant", "status", "created_at", "decided_at", "decided_by")
    list_filter = ("status", "created_at")
    search_fields = ("project__name", "applicant__username", "message")
    list_select_related = ("project", "applicant", "decided_by")
    actions = ["approve", "reject"]

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("projects.change_application")

    @admin.action(permissions=["decide"], description=_("Approve selected applications (as members)"))
    def approve(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.apply_each(request, queryset, lambda a: services.application_approve(application=a, actor=request.user))

    @admin.action(permissions=["decide"], description=_("Reject selected applications"))
    def reject(self, request: HttpRequest, queryset: QuerySet) -> None:
        self.apply_each(
            request,
            queryset,
            lambda a: services.application_reject(application=a, actor=request.user, reason=""),
        )
