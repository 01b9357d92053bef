"""The one list shape: {"<plural>": [...], "pagination": {page, page_size, total, total_pages, next, previous}}."""

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from .renderers import ORJSONRenderer


def _positive_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ValidationError({name: [_("Must be a positive integer.")]})
    return value


def _is_page(part: str) -> bool:
    key = part.partition("=")[0]
    return (unquote_plus(key) if "%" in key or "+" in key else key) == "page"


class PageNumberPagination(pagination.BasePagination):
    """Page numbers with an exact total. A view may supply `list_total(queryset)` to count more cheaply
    (projects cache their counts); a view names its list key with `list_key`."""

    page_size = 20
    max_page_size = 100

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list:
        self.request = request
        self.list_key = getattr(view, "list_key", "results")
        self.page_size_value = min(_positive_int(request, "page_size", self.page_size), self.max_page_size)
        self.page = _positive_int(request, "page", 1)
        counter: Callable[[QuerySet], int] | None = getattr(view, "list_total", None)
        self.total = counter(queryset) if counter else queryset.count()
        self.total_pages = max(1, math.ceil(self.total / self.page_size_value))
        if self.page > self.total_pages:
            raise NotFound(
                _("Page %(page)d is past the last page (%(last)d).") % {"page": self.page, "last": self.total_pages}
            )
        offset = (self.page - 1) * self.page_size_value
        if self.total == 0:
            return []
        return list(queryset[offset : offset + self.page_size_value])

    def get_pagination(self) -> dict[str, Any]:
        has_next, has_previous = self.page < self.total_pages, self.page > 1
        next_link = previous_link = None
        if has_next or has_previous:
            # The client's own query string, as it encoded it, with `page` set in its place (appended when
            # absent, left out for page 1), without decoding and re-encoding every parameter.
            base = self.request.build_absolute_uri(self.request.path)
            parts = [part for part in self.request.META.get("QUERY_STRING", "").split("&") if part]
            slot = next((i for i, part in enumerate(parts) if _is_page(part)), len(parts))
            others = [part for part in parts if not _is_page(part)]

            def link(page: int) -> str:
                query = "&".join([*others[:slot], *([f"page={page}"] if page > 1 else []), *others[slot:]])
                return f"{base}?{query}" if query else base

            next_link = link(self.page + 1) if has_next else None
            previous_link = link(self.page - 1) if has_previous else None
        return {
            "page": self.page,
            "page_size": self.page_size_value,
            "total": self.total,
            "total_pages": self.total_pages,
            "next": next_link,
            "previous": previous_link,
        }

    def get_paginated_response(self, data: list) -> HttpResponse:
        body = {self.list_key: data, "pagination": self.get_pagination()}
        renderer = getattr(self.request, "accepted_renderer", None)
        if isinstance(renderer, ORJSONRenderer):
            # The same bytes the renderer would write, without DRF's Response: it is a TemplateResponse rendered
            # after the view returns, for nothing a list needs.
            return HttpResponse(renderer.render(body), content_type=self.request.accepted_media_type)
        return Response(body)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": [self.list_key_for_schema, "pagination"],
            "properties": {self.list_key_for_schema: schema, "pagination": PAGINATION_SCHEMA},
        }

    list_key_for_schema = "results"

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            {
                "name": "page",
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1},
                "description": "Page number, from 1. A page past the last one is a 404.",
            },
            {
                "name": "page_size",
                "required": False,
                "in": "query",
                "schema": {"type": "integer", "minimum": 1, "default": self.page_size},
                "description": f"Items per page (default {self.page_size}); more than {self.max_page_size} is "
                f"served as {self.max_page_size}, and `pagination.page_size` says so.",
            },
        ]


PAGINATION_SCHEMA = {
    "type": "object",
    "required": ["page", "page_size", "total", "total_pages", "next", "previous"],
    "properties": {
        "page": {"type": "integer", "example": 1},
        "page_size": {"type": "integer", "example": 20},
        "total": {"type": "integer", "example": 57},
        "total_pages": {"type": "integer", "example": 3},
        "next": {"type": "string", "format": "uri", "nullable": True},
        "previous": {"type": "string", "format": "uri", "nullable": True},
    },
}
