from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Accounts")

    def ready(self) -> None:
        from django.contrib import admin

        from .forms import AdminLoginForm

        admin.site.login_form = AdminLoginForm  # says "locked out" rather than "wrong password"
