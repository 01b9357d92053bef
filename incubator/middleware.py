"""Middleware for the API contract: request ids, trailing slashes, body limits and the error fallback."""

import json
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

from .batch import CacheBatch, batch_scope
from .exceptions import error_response
from .generations import generation_key
from .request_id import REQUEST_ID_RE, reset_request_id, set_request_id


class _BothModes:
    """Pure-Python middleware that runs in the server's own mode (no thread hop under ASGI)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        return self.after(request, self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        early = self.before(request)
        if early is not None:
            return self.after(request, early)
        return self.after(request, await self.get_response(request))

    def before(self, request: HttpRequest) -> HttpResponse | None:
        return None

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        return response


class RequestIdMiddleware(_BothModes):
    """Takes X-Request-ID from the client or a proxy when it is sane, makes one otherwise, echoes it back."""

    def before(self, request: HttpRequest) -> None:
        given = request.headers.get("X-Request-ID", "")
        request_id = given if REQUEST_ID_RE.fullmatch(given) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        request._request_id_token = set_request_id(request_id)  # type: ignore[attr-defined]

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        reset_request_id(request._request_id_token)  # type: ignore[attr-defined]
        return response


def _refused(request: HttpRequest, status: int, code: str, **details: Any) -> HttpResponse:
    """An error answered before LocaleMiddleware has run: in the request's language all the same."""
    with translation.override(translation.get_language_from_request(request)):
        return error_response(status, code, **details)


def _is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/")


class ApiPathMiddleware(_BothModes):
    """/api/v1/x and /api/v1/x/ are the same resource for every method: routes are declared without the
    slash and a trailing one is dropped here, so no redirect ever loses a POST body. A path with a NUL (%00)
    names nothing, on any route: a 404 here, before a lookup sends it to PostgreSQL, which refuses NUL in text
    (a 500 on /schemas/%00, even for anonymous clients)."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        path = request.path_info
        if "\x00" in path:
            return _refused(request, 404, "NOT_FOUND")
        if path.startswith("/api/") and len(path) > 5 and path.endswith("/"):
            request.path_info = path.rstrip("/")
        return None


class BodySizeLimitMiddleware(_BothModes):
    """Refuses a declared body over the limit with 413 before anything reads it."""

    def before(self, request: HttpRequest) -> HttpResponse | None:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _refused(request, 400, "INVALID_INPUT", details_header="Content-Length")
        content_type = request.META.get("CONTENT_TYPE", "")
        limit = (
            settings.API_MAX_UPLOAD_BYTES
            if content_type.startswith("multipart/")
            else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        )
        if limit is not None and length > limit:
            return _refused(request, 413, "PAYLOAD_TOO_LARGE", limit_bytes=limit, received_bytes=length)
        return None


class ApiErrorFallbackMiddleware(_BothModes):
    """Anything under /api/ that leaves with status >= 400 and a body not in the contract's shape (Django's
    404/500 pages, CSRF refusals, a 400 for a bad Host) is rewritten into the contract's error body."""

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.status_code < 400 or not _is_api(request):
            return response
        if response.get("Content-Type", "").startswith("application/json") and _is_contract_body(response):
            return response
        replacement = error_response(response.status_code)
        for header in ("Retry-After", "WWW-Authenticate", "Allow", "X-Request-ID"):
            if header in response:
                replacement[header] = response[header]
        return replacement


def _is_contract_body(response: HttpResponse) -> bool:
    if getattr(response, "streaming", False):
        return True
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and "error_code" in body and "status_code" in body


class CacheBatchMiddleware(_BothModes):
    """Opens the request's cache batch (incubator.batch); once the view is resolved, wants the generation
    tokens of the lists it declares in `generations`, so they travel with the rate-limit counters."""

    def before(self, request: HttpRequest) -> None:
        request._cache_batch_token = batch_scope.set(CacheBatch())  # type: ignore[attr-defined]

    def after(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        batch_scope.reset(request._cache_batch_token)  # type: ignore[attr-defined]
        return response

    def process_view(self, request: HttpRequest, view_func: Any, args: Any, kwargs: Any) -> None:
        names = getattr(getattr(view_func, "cls", None), "generations", ())
        batch = batch_scope.get()
        if names and batch is not None:
            batch.want(*(generation_key(name) for name in names))
