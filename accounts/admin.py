"""Django admin for accounts, and the admin site's own titles. Accounts are made and changed through
accounts.services (Django's UserAdmin forms still validate); simplejwt's token tables are not shown."""

import copy
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, AdminUserCreationForm, UserChangeForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from incubator.admin import ReadOnlyAdmin, apply_each, error_messages
from incubator.errors import ApiError, InvalidInput

from . import services
from .errors import AccountConflict
from .models import RevokedSession, User

# The admin site is the platform's; its titles live with the platform's accounts.
admin.site.site_header = _("Incubator administration")
admin.site.site_title = _("Incubator administration")
admin.site.index_title = _("Site administration")  # Django's own words (站点管理): no "X | X" title

# simplejwt registers its token tables. An admin never needs to read raw token rows, and its blacklist admin
# would let staff add or delete blacklist rows by hand (deleting one revives a revoked session) beside the
# services. What an admin does need, ending a user's sessions, is the "End all sessions" action on users (and
# happens by itself when an account is deactivated or given a new password).
for token_model in (OutstandingToken, BlacklistedToken):
    if admin.site.is_registered(token_model):
        admin.site.unregister(token_model)


class EmailUniqueMixin:
    """The email is unique case-insensitively (a functional constraint, whose own message names only the
    constraint): say so on the field, with the words registration uses."""

    def clean_email(self) -> str:
        email = self.cleaned_data["email"]  # type: ignore[attr-defined]
        others = User.objects.filter(email__iexact=email).exclude(pk=self.instance.pk)  # type: ignore[attr-defined]
        if email and others.exists():
            raise forms.ValidationError(AccountConflict.default_detail, code="unique")
        return email


class UserAddForm(EmailUniqueMixin, AdminUserCreationForm):
    pass


class UserEditForm(EmailUniqueMixin, UserChangeForm):
    def clean_profile(self) -> Any:
        # The same check the service makes, shown on the field instead of failing the save.
        profile = self.cleaned_data.get("profile")
        profile = {} if profile is None else profile
        if self.instance.pk is not None and not self.fields["profile"].has_changed(self.instance.profile, profile):
            return profile  # unchanged (as JSON): it keeps the version it was written under, as in the service
        try:
            services.profile_validate(profile)
        except InvalidInput as exc:
            raise forms.ValidationError(error_messages(exc)) from exc
        return profile


class PasswordSetForm(AdminPasswordChangeForm):
    """Django's admin password form validates; services.user_set_password sets it and ends every session."""

    actor: User  # set per request by UserAdmin.user_change_password

    def save(self, commit: bool = True) -> User:
        password = self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        self.user = services.user_set_password(user=self.user, actor=self.actor, password=password)
        return self.user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserAddForm
    form = UserEditForm
    change_password_form = PasswordSetForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    # Fits a 1400 px window beside the navigation and the filters; newest first (and filtered by date joined).
    list_display = ("username", "email", "display_name", "role", "is_staff", "is_active")
    list_filter = ("role", "is_staff", "is_superuser", "is_active", "locale", "date_joined")
    search_fields = ("username", "email", "display_name")
    ordering = ("-date_joined",)
    readonly_fields = ("last_login", "date_joined", "schema_version")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (
            _("Incubator profile"),
            {"fields": ("display_name", "avatar_url", "bio", "profile", "schema_version", "locale", "role")},
        ),
    )
    add_fieldsets = (
        (
            None,
            {"classes": ("wide",), "fields": ("username", "email", "password1", "password2", "role", "is_staff")},
        ),
    )
    actions = ["end_sessions", "deactivate"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Deleting an account would take its memberships with it behind the project services' back (member
        # counts, events, list totals) and is refused for project owners anyway: deactivate instead.
        return False

    def _refused(self, request: HttpRequest, exc: ApiError) -> HttpResponse:
        for message in error_messages(exc):
            self.message_user(request, message, level=messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:  # the POST runs in one transaction: a service's refusal rolls it all back
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ApiError as exc:
            return self._refused(request, exc)

    def user_change_password(self, request: HttpRequest, id: str, form_url: str = "") -> HttpResponse:
        # Django's view, with a form class that knows who is acting (the admin instance is shared by threads).
        view = copy.copy(self)
        view.change_password_form = type("PasswordSetForm", (PasswordSetForm,), {"actor": request.user})
        try:
            return DjangoUserAdmin.user_change_password(view, request, id, form_url)
        except ApiError as exc:
            return self._refused(request, exc)

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        if change:
            fields = (*services.USER_ADMIN_FIELDS, *services.USER_ADMIN_RELATIONS)
            saved = services.user_update(
                user=obj, actor=request.user, data={f: data[f] for f in fields if f in form.fields and f in data}
            )
        else:
            saved = services.user_create(
                actor=request.user,
                username=data["username"],
                email=data["email"],
                password=data["password1"] if data.get("set_usable_password", True) else None,
                role=data.get("role", User.Role.MEMBER),
                is_staff=data.get("is_staff", False),
            )
        for field in obj._meta.concrete_fields:  # the view goes on with its own instance (log entry, redirect)
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        pass  # groups and permissions were set by services.user_update; users have no inlines

    @admin.action(permissions=["change"], description=_("End all sessions of selected users"))
    def end_sessions(self, request: HttpRequest, queryset: QuerySet) -> None:
        apply_each(self, request, queryset, lambda user: services.user_sessions_end(user=user))

    @admin.action(permissions=["change"], description=_("Deactivate selected users (and end their sessions)"))
    def deactivate(self, request: HttpRequest, queryset: QuerySet) -> None:
        apply_each(
            self,
            request,
            queryset,
            lambda user: services.user_update(user=user, actor=request.user, data={"is_active": False}),
        )


@admin.register(RevokedSession)
class RevokedSessionAdmin(ReadOnlyAdmin):
    """A logout writes these rows (accounts.services.user_logout); deleting one would bring the session's access
    tokens back to life after Redis forgets its mark."""

    list_display = ("session", "expires_at")
    search_fields = ("session",)
