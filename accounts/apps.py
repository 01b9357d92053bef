from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from incubator.events.topics import topic_kind_register

        from .selectors import user_topic_readable

        topic_kind_register("user", user_topic_readable)  # who may read `user:{id}` on the live stream

        from schema_registry.declarations import Documents, subject_declare

        subject_declare(
            "user.profile",
            description="A user's free-form profile fields (the `profile` object of the account API).",
            documents=Documents("accounts.User", "profile"),
        )

        from django.contrib import admin

        from .forms import AdminLoginForm

        admin.site.login_form = AdminLoginForm  # says "locked out" rather than "wrong password"
