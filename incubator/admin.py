"""Django admin plumbing every app shares: admins that write through services, read-only admins, and the
messages a service's refusal becomes on an admin page."""

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as django_delete_selected
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.encoding import force_str
from django.utils.translation import gettext

from .errors import ApiError, InvalidInput, flatten_errors


def error_messages(exc: ApiError | ValidationError) -> list[str]:
    """A service's refusal as plain sentences, field by field for invalid input."""
    if isinstance(exc, ValidationError):
        return list(exc.messages)
    if isinstance(exc, InvalidInput) and exc.errors:
        return [message for messages_ in flatten_errors(exc.errors).values() for message in messages_]
    return [force_str(exc.detail)]


def adopt(obj: Model, saved: Model) -> None:
    """The admin view goes on with its own instance (log entry, redirect, inlines): give it what the service
    saved, primary key included."""
    for field in obj._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


@admin.action(permissions=["delete"], description=django_delete_selected.short_description)
def delete_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
    """Django's bulk delete (confirmation page, log entries), all or nothing: delete_queryset calls a service
    per row, and one refusal undoes the rows before it."""
    with transaction.atomic():
        return django_delete_selected(modeladmin, request, queryset)


class ServiceAdmin(admin.ModelAdmin):
    """Base of the admins that write through services (save_model, save_related, delete_model,
    delete_queryset, actions). A service's refusal (an incubator.errors error) rolls the whole request back
    and comes back as an error message on the page it was sent from, never as a 500 or half a write."""

    def _refused(self, request: HttpRequest, exc: ApiError | ValidationError) -> HttpResponse:
        for message in error_messages(exc):
            self.message_user(request, message, level=messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:  # Django runs the POST in one transaction: the exception leaving it rolls back every write
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ApiError, ValidationError) as exc:  # a model's own validation, should a service let it through
            return self._refused(request, exc)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except (ApiError, ValidationError) as exc:
            return self._refused(request, exc)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        try:  # bulk delete (an atomic action) raising after its confirmation page
            return super().changelist_view(request, extra_context)
        except (ApiError, ValidationError) as exc:
            return self._refused(request, exc)

    def apply_each(self, request: HttpRequest, queryset: Iterable[Model], write: Callable[[Model], Any]) -> None:
        apply_each(self, request, queryset, write)


def apply_each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: Iterable[Model], write: Callable[[Model], Any]
) -> None:
    """An admin action: one service call per selected row, each its own transaction. A row the service refuses
    is reported and left as it was; the others are done and logged."""
    rows = list(queryset)
    done = 0
    for obj in rows:
        try:
            write(obj)
        except (ApiError, ValidationError) as exc:
            for message in error_messages(exc):
                modeladmin.message_user(request, f"{obj}: {message}", level=messages.ERROR)
        else:
            done += 1
            modeladmin.log_change(request, obj, gettext("Changed by an admin action."))
    if done:
        text = gettext("Done: %(done)d of %(total)d selected.")
        modeladmin.message_user(request, text % {"done": done, "total": len(rows)}, level=messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only as a side effect of services: shown, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
