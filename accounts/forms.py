"""The admin's login form: says so when the account or address is locked out, instead of 'wrong password'."""

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


class AdminLoginForm(AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "locked_out": _("Too many failed logins. Please try again later."),
    }

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            if getattr(self.request, "login_locked_out", False):
                raise ValidationError(self.error_messages["locked_out"], code="locked_out") from None
            raise
