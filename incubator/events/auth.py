"""Who is on the other end of a stream: the same bearer-token authentication as the REST API (revoked and
logged-out tokens included), from a WebSocket message, a WebSocket subprotocol or an SSE request header."""

import time
from typing import Any

import jwt
from django.contrib.auth import get_user_model
from django.http import HttpRequest
from rest_framework.settings import api_settings

from incubator.batch import CACHE_ERRORS
from incubator.errors import ApiError, ServiceUnavailable

from .errors import StreamTokenInvalid, TokenExpired


class StreamAuthError(Exception):
    def __init__(self, error: ApiError) -> None:
        super().__init__(error.error_code)
        self.error = error
        self.code, self.message = error.error_code, error.detail


def _expiry(raw: str) -> float | None:
    try:
        exp = jwt.decode(raw, options={"verify_signature": False}).get("exp")
    except (jwt.PyJWTError, ValueError, TypeError):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def stream_authenticate(raw: Any) -> tuple[Any, float]:
    """(user, expiry as a Unix time) for an access token, else StreamAuthError (TOKEN_EXPIRED, TOKEN_INVALID)."""
    if not isinstance(raw, str) or not raw or len(raw) > 4096:
        raise StreamAuthError(StreamTokenInvalid())
    request = HttpRequest()
    request.META["HTTP_AUTHORIZATION"] = f"Bearer {raw}"
    found = None
    for authentication_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        try:
            found = authentication_class().authenticate(request)
        except CACHE_ERRORS as exc:
            # Whether the session was logged out is not known now: not TOKEN_INVALID (a client would throw a
            # good token away), a 503 naming the cache, as the API answers.
            raise StreamAuthError(ServiceUnavailable(details={"unavailable": ["cache"]})) from exc
        except Exception:  # noqa: BLE001 - every refusal is the same answer; the token is never logged
            found = None
        if found is not None:
            break
    exp = _expiry(raw)
    if found is None:
        if exp is not None and exp <= time.time():
            raise StreamAuthError(TokenExpired())
        raise StreamAuthError(StreamTokenInvalid())
    user, _token = found
    return user, exp if exp is not None else time.time() + 300


def user_is_active(user_id: int) -> bool:
    return get_user_model().objects.filter(pk=user_id, is_active=True).exists()
