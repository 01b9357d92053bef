"""Error codes of the live stream, registered with the others (the OpenAPI document's enum lists them)."""

from django.utils.translation import gettext_lazy as _
from rest_framework import status

from incubator.errors import ApiError


class NotAuthenticatedYet(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    error_code = "NOT_AUTHENTICATED"
    default_detail = _('Send {"type": "auth", "token": ...} first.')


class TokenExpired(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    error_code = "TOKEN_EXPIRED"
    default_detail = _("The access token has expired: refresh it and reconnect.")


class StreamTooSlow(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    error_code = "TOO_SLOW"
    default_detail = _("Messages were not taken fast enough: reconnect with the last id seen as since.")


class AccountInactive(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    error_code = "PERMISSION_DENIED"
    default_detail = _("This account is not active.")


class TopicsForbidden(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    error_code = "PERMISSION_DENIED"
    default_detail = _("You may not read these topics.")


class TopicsLost(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    error_code = "PERMISSION_DENIED"
    default_detail = _("You may no longer read these topics.")


class StreamTokenInvalid(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    error_code = "TOKEN_INVALID"
    default_detail = _("Token is invalid or expired.")


class StreamInternalError(ApiError):
    status_code = status.HTTP_500_INTERNAL_SERVER_ERROR
    error_code = "INTERNAL_ERROR"
    default_detail = _("Internal server error.")


class StreamNotAuthenticated(ApiError):
    status_code = status.HTTP_401_UNAUTHORIZED
    error_code = "NOT_AUTHENTICATED"
    default_detail = _("Authentication credentials were not provided.")


class StreamMethodNotAllowed(ApiError):
    status_code = status.HTTP_405_METHOD_NOT_ALLOWED
    error_code = "METHOD_NOT_ALLOWED"
    default_detail = _("Method not allowed.")
