"""The project's error codes and the exception classes that carry them (rendered by exceptions.py)."""

from typing import Any, ClassVar

from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.exceptions import APIException

# Every error_code the API can answer with, and its default localized message. Apps add theirs by
# subclassing ApiError; the OpenAPI document lists the whole registry.
ERROR_CODES: dict[str, Any] = {
    "INVALID_INPUT": _("Invalid input."),
    "PARSE_ERROR": _("Malformed request body."),
    "NOT_AUTHENTICATED": _("Authentication credentials were not provided."),
    "AUTHENTICATION_FAILED": _("Incorrect authentication credentials."),
    "TOKEN_INVALID": _("Token is invalid or expired."),
    "PERMISSION_DENIED": _("You do not have permission to perform this action."),
    "NOT_FOUND": _("Not found."),
    "METHOD_NOT_ALLOWED": _("Method not allowed."),
    "NOT_ACCEPTABLE": _("Could not satisfy the request Accept header."),
    "CONFLICT": _("The request conflicts with the current state."),
    "PAYLOAD_TOO_LARGE": _("Request body is too large."),
    "REQUEST_TIMEOUT": _("The request body did not arrive in time."),
    "UNSUPPORTED_MEDIA_TYPE": _("Unsupported media type."),
    "RATE_LIMITED": _("Too many requests. Please try again later."),
    "INTERNAL_ERROR": _("Internal server error."),
    "SERVICE_UNAVAILABLE": _("Service temporarily unavailable."),
}

# The code used when only an HTTP status is known (Django's own error pages, middleware refusals).
STATUS_CODES: dict[int, str] = {
    400: "INVALID_INPUT",
    401: "NOT_AUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    408: "REQUEST_TIMEOUT",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}


def code_for_status(status_code: int) -> str:
    if status_code in STATUS_CODES:
        return STATUS_CODES[status_code]
    return "INTERNAL_ERROR" if status_code >= 500 else "INVALID_INPUT"


class ApiError(APIException):
    """Base of the project's errors: an HTTP status, a stable error_code, a localized message, details."""

    status_code: int = status.HTTP_400_BAD_REQUEST
    error_code: ClassVar[str] = "INVALID_INPUT"
    default_detail: Any = _("Invalid input.")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ERROR_CODES.setdefault(cls.error_code, cls.default_detail)

    def __init__(self, message: Any = None, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(detail=message if message is not None else self.default_detail, code=self.error_code)
        self.details = details or {}
        # As given (a lazy translation stays lazy): `detail` is rendered in the language active now, while an
        # error made before the client's language is active (a stream's) is rendered from this once it is.
        self.lazy_message = message if message is not None else self.default_detail


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """A nested error structure ({"tags": {"0": ["..."]}}) as {"field.path": [messages]}, in field order."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            flat.update(flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(detail, list) and detail and all(not isinstance(item, dict | list) for item in detail):
        flat[prefix or "non_field_errors"] = [force_str(item) for item in detail]
    elif isinstance(detail, list):
        for index, value in enumerate(detail):
            if value:
                flat.update(flatten_errors(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "non_field_errors"] = [force_str(detail)]
    return flat


def validation_details(detail: Any) -> dict[str, Any]:
    """The contract's details of a validation error: the first bad field, its first message, and every error."""
    errors = flatten_errors(detail)
    if not errors:
        return {}
    field, messages = next(iter(errors.items()))
    return {"field": field, "message": messages[0], "errors": errors}


class InvalidInput(ApiError):
    """Raised by services and selectors for bad input, field by field: InvalidInput({"tags": ["..."]}).
    Rendered exactly like a serializer's validation error, so a caller cannot tell which layer refused."""

    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "INVALID_INPUT"
    default_detail = _("Invalid input.")

    def __init__(self, errors: dict[str, Any] | None = None, message: Any = None) -> None:
        super().__init__(message, details=validation_details(errors or {}))
        self.errors = errors or {}


class NotFound(ApiError):
    status_code = status.HTTP_404_NOT_FOUND
    error_code = "NOT_FOUND"
    default_detail = _("Not found.")


class PermissionDenied(ApiError):
    status_code = status.HTTP_403_FORBIDDEN
    error_code = "PERMISSION_DENIED"
    default_detail = _("You do not have permission to perform this action.")


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    error_code = "CONFLICT"
    default_detail = _("The request conflicts with the current state.")


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    error_code = "PAYLOAD_TOO_LARGE"
    default_detail = _("Request body is too large.")


class ServiceUnavailable(ApiError):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    error_code = "SERVICE_UNAVAILABLE"
    default_detail = _("Service temporarily unavailable.")


class TooManyAttempts(ApiError):
    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    error_code = "RATE_LIMITED"
    default_detail = _("Too many requests. Please try again later.")

    def __init__(self, wait: int, message: Any = None) -> None:
        super().__init__(message, details={"retry_after": wait})
        self.wait = wait
