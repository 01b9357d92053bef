"""Swagger UI and Redoc pages, served from bundled assets (drf-spectacular-sidecar), never from a CDN."""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

from .exceptions import error_response


class _ReadOnlyPage:
    """The documentation pages are HTML rendered from a template: OPTIONS names the methods, and any other
    method than GET/HEAD is a 405 in the contract's body, answered before DRF would render through the page's
    template (which has no error page: that was a 500)."""

    def dispatch(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if request.method in ("GET", "HEAD"):
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        response = HttpResponse(status=204) if request.method == "OPTIONS" else error_response(405)
        response["Allow"] = "GET, HEAD, OPTIONS"
        return response


class SwaggerView(_ReadOnlyPage, SpectacularSwaggerView):
    pass


class RedocView(_ReadOnlyPage, SpectacularRedocView):
    pass
