"""Error codes of the accounts app."""

from django.utils.translation import gettext_lazy as _
from rest_framework import status

from incubator.errors import ApiError, Conflict


class AccountConflict(Conflict):
    default_detail = _("An account with this email or username already exists.")


class InvalidCredentials(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    error_code = "AUTHENTICATION_FAILED"
    default_detail = _("Incorrect username/email or password.")


class WrongPassword(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "INVALID_INPUT"
    default_detail = _("The current password is incorrect.")


class TokenInvalid(ApiError):
    """A token that is malformed, forged, expired, spent (rotated or logged out) or whose user is gone."""

    status_code = status.HTTP_401_UNAUTHORIZED
    error_code = "TOKEN_INVALID"
    default_detail = _("Token is invalid or expired.")
