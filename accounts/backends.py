"""Django's authentication backend for the admin login: the same lockout as the API login."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

from incubator.errors import TooManyAttempts

from . import services
from .errors import InvalidCredentials


class LockoutBackend(ModelBackend):
    """authenticate() through services.user_authenticate: attempts counted per account and per address. A
    locked-out login raises PermissionDenied, which makes django.contrib.auth.authenticate() stop trying
    other backends and answer None; the admin's login form then says so (accounts.forms)."""

    def authenticate(
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        if username is None or password is None:
            return None
        address = BaseThrottle().get_ident(request) if request is not None else "internal"
        try:
            return services.user_authenticate(identifier=username, password=password, address=address)
        except InvalidCredentials:
            return None
        except TooManyAttempts as exc:
            if request is not None:
                request.login_locked_out = True  # type: ignore[attr-defined]
            raise PermissionDenied from exc
