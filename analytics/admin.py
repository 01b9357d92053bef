"""Django admin for analytics: exports are shown (who asked for what, how it went), never edited here; their
creators delete them through the API, and the sweeper expires their files."""

from django.contrib import admin

from incubator.admin import ReadOnlyAdmin

from .models import Export


@admin.register(Export)
class ExportAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "created_by", "report", "format", "status", "row_count", "size", "created_at")
    list_filter = ("status", "report", "format", "created_at")
    search_fields = ("public_id", "created_by__username", "report", "error_code")
    list_select_related = ("created_by",)
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
