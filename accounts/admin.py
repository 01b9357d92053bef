from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "id",
        "username",
        "email",
        "display_name",
        "role",
        "is_staff",
        "is_active",
        "date_joined",
        "last_login",
    )
    list_filter = ("role", "is_staff", "is_superuser", "is_active", "locale", "date_joined")
    search_fields = ("username", "email", "display_name")
    ordering = ("-date_joined",)
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Incubator profile"), {"fields": ("display_name", "avatar_url", "bio", "locale", "role")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "password1", "password2", "role")}),)
