"""Views of the shared plumbing: the landing page, the favicon, the JSON 404 for unknown API paths and
Django's error handlers."""

import functools
import hashlib
import sys
from pathlib import Path
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition, require_safe

from .exceptions import database_lost, error_response
from .request_id import current_request_id

FAVICON = Path(__file__).resolve().parent / "static" / "favicon.ico"


# Exempt: nothing is read or changed here, and CSRF would answer a POST from a browser session 403, not 404.
@csrf_exempt
def api_not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    return error_response(404, "NOT_FOUND", path=request.path)


@require_safe
def landing(request: HttpRequest) -> HttpResponse:
    """/ : what this server is and where its documentation lives, in the visitor's language."""
    return render(request, "incubator/landing.html")


@functools.cache
def _favicon() -> tuple[bytes, str]:
    content = FAVICON.read_bytes()
    return content, hashlib.sha256(content).hexdigest()[:16]


@require_safe
@cache_control(public=True, max_age=7 * 24 * 3600)
@condition(etag_func=lambda request: _favicon()[1])
def favicon(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_favicon()[0], content_type="image/x-icon")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path_info.startswith("/api/"):
        exc = sys.exc_info()[1]
        if isinstance(exc, (OperationalError, InterfaceError)):
            database_lost()
            return error_response(503, "SERVICE_UNAVAILABLE", unavailable=["database"])
        return error_response(500, "INTERNAL_ERROR", request_id=current_request_id())
    return defaults.server_error(request)
