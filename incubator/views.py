"""Views of the shared plumbing: the JSON 404 for unknown API paths and Django's error handlers."""

import sys
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from .exceptions import error_response
from .request_id import current_request_id


def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(404, "NOT_FOUND", path=request.path)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OperationalError, InterfaceError)):
            return error_response(503, "SERVICE_UNAVAILABLE", unavailable=["database"])
        return error_response(500, "INTERNAL_ERROR", request_id=current_request_id())
    return defaults.server_error(request)
