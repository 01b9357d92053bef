from django.contrib import admin

from .models import Application, Membership, Project, ProjectTag, Tag


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    readonly_fields = ["joined_at"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "name",
        "status",
        "visibility",
        "owner",
        "member_count",
        "tag_list",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "visibility", "created_at", "updated_at")
    search_fields = ("name", "description", "owner__username", "owner__email")
    list_select_related = ("owner",)
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner"]
    readonly_fields = ("tags", "member_count", "schema_version", "created_at", "updated_at")
    inlines = [MembershipInline]
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over 100k rows on every admin page is not worth it

    @admin.display(description="tags")
    def tag_list(self, obj: Project) -> str:
        return ", ".join(obj.tags)


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "created_at")
    search_fields = ("name",)


@admin.register(ProjectTag)
class ProjectTagAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "tag")
    list_select_related = ("project", "tag")
    raw_id_fields = ("project", "tag")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "user", "role", "joined_at")
    list_filter = ("role", "joined_at")
    search_fields = ("project__name", "user__username", "user__email")
    list_select_related = ("project", "user")
    raw_id_fields = ("project", "user")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "applicant", "status", "created_at", "decided_at", "decided_by")
    list_filter = ("status", "created_at")
    search_fields = ("project__name", "applicant__username", "message")
    list_select_related = ("project", "applicant", "decided_by")
    raw_id_fields = ("project", "applicant", "decided_by")
