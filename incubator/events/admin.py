from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "topic", "subject_type", "subject_id", "actor_id", "created_at")
    list_filter = ("type", "subject_type")
    search_fields = ("topic", "type", "subject_id")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request):  # the outbox is written by services only
        return False

    def has_change_permission(self, request, obj=None):
        return False
