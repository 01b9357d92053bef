"""The outbox in Django admin: read-only, because events are written by services only, in the transaction of
the change they describe, and clients replay them by id (an edited or deleted row would rewrite history)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "topic", "subject_type", "subject_id", "actor_id", "created_at")
    list_filter = ("type", "subject_type")
    search_fields = ("topic", "type", "subject_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Event._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
