"""The one exception handler: every error under /api/ leaves in the contract's body."""

import logging
import sys
import threading
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import IntegrityError, InterfaceError, OperationalError, connections
from django.http import Http404, HttpResponse
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from .errors import (
    ERROR_CODES,
    ApiError,
    Conflict,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    code_for_status,
    validation_details,
)
from .renderers import dumps
from .request_id import current_request_id

logger = logging.getLogger("incubator.errors")

_DRF_CODES: list[tuple[type[Exception], str]] = [
    (InvalidToken, "TOKEN_INVALID"),
    (drf_exceptions.NotAuthenticated, "NOT_AUTHENTICATED"),
    (drf_exceptions.AuthenticationFailed, "AUTHENTICATION_FAILED"),
    (drf_exceptions.PermissionDenied, "PERMISSION_DENIED"),
    (drf_exceptions.NotFound, "NOT_FOUND"),
    (drf_exceptions.MethodNotAllowed, "METHOD_NOT_ALLOWED"),
    (drf_exceptions.NotAcceptable, "NOT_ACCEPTABLE"),
    (drf_exceptions.UnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE"),
    (drf_exceptions.Throttled, "RATE_LIMITED"),
    (drf_exceptions.ParseError, "PARSE_ERROR"),
    (drf_exceptions.ValidationError, "INVALID_INPUT"),
]


_pool_check_lock = threading.Lock()


def database_lost() -> None:
    """After a database error: replace every connection of the pool. A connection found dead (PostgreSQL
    restarted or failed over, a backend terminated) means its idle siblings are most likely dead too, and
    without this each of them would cost one more request a 503. Not a test of each (pool.check()): a backend
    terminated with the others can still answer for the few milliseconds it takes to exit, and CI's fault test
    saw the next request get that connection. drain() closes the idle ones, opens new ones in the background,
    and closes those in use when they come back."""
    if not _pool_check_lock.acquire(blocking=False):
        return  # another thread is checking them
    try:
        for conn in connections.all(initialized_only=True):
            if conn.vendor == "postgresql" and conn.settings_dict["OPTIONS"].get("pool"):
                conn.pool.drain()
    except Exception:  # noqa: BLE001 - the request already answers 503; the pool also replaces on return
        logger.warning("database pool check failed", exc_info=True)
    finally:
        _pool_check_lock.release()


def error_body(status_code: int, error_code: str, message: Any = None, details: dict[str, Any] | None = None) -> dict:
    return {
        "status_code": status_code,
        "error_code": error_code,
        "message": force_str(message if message is not None else ERROR_CODES.get(error_code, "")),
        "details": details or {},
    }


def error_response(
    status_code: int, error_code: str | None = None, message: Any = None, **details: Any
) -> HttpResponse:
    """A contract error body outside DRF (middleware, Django's handlers, plain views)."""
    body = error_body(status_code, error_code or code_for_status(status_code), message, details)
    return HttpResponse(dumps(body), status=status_code, content_type="application/json")


def _code_for(exc: Exception) -> str:
    for cls, code in _DRF_CODES:
        if isinstance(exc, cls):
            return code
    return code_for_status(getattr(exc, "status_code", 500))


def object_storage_unreachable(exc: Exception) -> bool:
    """botocore could not reach the bucket (refused, timed out, cut off), or the bucket answered that it is
    unavailable (5xx). botocore is loaded only where object storage is configured: elsewhere nothing is one."""
    botocore = sys.modules.get("botocore.exceptions")
    if botocore is None:
        return False
    if isinstance(exc, (botocore.ConnectionError, botocore.HTTPClientError)):
        return True
    if isinstance(exc, botocore.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return isinstance(status, int) and status >= 500
    return False


def _raced(exc: Exception) -> ApiError | None:
    """What a write that raced a delete answers, instead of a 500. The row it named was deleted meanwhile (the
    service's locked re-read finds nothing: DoesNotExist), or a row it refers to was (a foreign key to a row no
    longer there: 404), or the row it deletes was referred to meanwhile (a foreign key still pointing at it: 409).
    Services check all of this before writing; only a concurrent request gets past the check."""
    if isinstance(exc, ObjectDoesNotExist):
        return NotFound()
    if not isinstance(exc, IntegrityError):
        return None
    cause = exc.__cause__
    if getattr(cause, "sqlstate", None) == "23503":  # PostgreSQL's foreign_key_violation
        if "still referenced" in str(cause):
            return Conflict(
                _("It is in use: something that refers to it was made while it was being deleted."),
                details={"reason": "in_use"},
            )
        return NotFound(_("Something this request refers to was deleted meanwhile."), details={"reason": "deleted"})
    if "FOREIGN KEY constraint failed" in str(exc):  # SQLite, which does not say which way
        return Conflict(
            _("Something this request refers to was deleted or changed meanwhile; try again."),
            details={"reason": "changed"},
        )
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    raced = _raced(exc)
    if raced is not None:
        logger.warning("a request raced another: %r", exc)
        exc = raced
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, (OperationalError, InterfaceError)):
        logger.warning("database unavailable: %s", exc)
        database_lost()
        exc = ServiceUnavailable(details={"unavailable": ["database"]})
    elif isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        logger.warning("cache unavailable: %s", exc)
        exc = ServiceUnavailable(details={"unavailable": ["cache"]})
    elif object_storage_unreachable(exc):
        logger.warning("object storage unavailable: %s", exc)
        exc = ServiceUnavailable(details={"unavailable": ["storage"]})
    elif isinstance(exc, TokenError):
        exc = InvalidToken(force_str(exc))
    elif isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = drf_exceptions.PermissionDenied()
    elif isinstance(exc, SuspiciousOperation):
        exc = drf_exceptions.ParseError(force_str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        # Unhandled: log the traceback with the request id, never send it.
        logger.exception("unhandled error", exc_info=exc)
        return Response(
            error_body(500, "INTERNAL_ERROR", details={"request_id": current_request_id()}),
            status=500,
        )

    if isinstance(exc, ApiError):
        body = error_body(response.status_code, exc.error_code, exc.detail, exc.details)
    elif isinstance(exc, drf_exceptions.ValidationError):
        body = error_body(response.status_code, "INVALID_INPUT", None, validation_details(exc.detail))
    else:
        code = _code_for(exc)
        detail = exc.detail if isinstance(exc, drf_exceptions.APIException) else None
        details: dict[str, Any] = {}
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            details["retry_after"] = int(exc.wait + 0.999)
        message = detail if isinstance(detail, str) else None
        if isinstance(exc, InvalidToken):
            message = ERROR_CODES["TOKEN_INVALID"]
        elif isinstance(exc, drf_exceptions.ParseError):
            # The parser's own text (line/column) is for developers; the message is for people.
            details["reason"] = force_str(detail)
            message = ERROR_CODES["PARSE_ERROR"]
        body = error_body(response.status_code, code, message, details)
    if response.status_code == 429 and "Retry-After" not in response:
        response["Retry-After"] = str(body["details"].get("retry_after", 60))
    response.data = body
    return response
