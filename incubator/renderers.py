"""JSON rendered with orjson: several times faster than the standard library on list pages."""

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from django.utils.functional import Promise
from rest_framework.renderers import BaseRenderer


def _default(value: Any) -> Any:
    if isinstance(value, Promise):
        return str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# Datetimes are formatted in C as the contract's "2023-10-26T10:00:00Z" (UTC, whole seconds); Django hands
# out UTC-aware datetimes with USE_TZ, and serializers that format their own strings are unaffected.
OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_OMIT_MICROSECONDS | orjson.OPT_NON_STR_KEYS


def dumps(data: Any) -> bytes:
    try:
        return orjson.dumps(data, default=_default, option=OPTIONS)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
    # An integer past 64 bits, which orjson refuses: JSON has no such limit, and PostgreSQL's jsonb hands one back
    # for a number it was given as 1e149 (numeric keeps no exponent). Rare: the standard library writes it exactly.
    return json.dumps(data, default=_default_text, ensure_ascii=False, separators=(",", ":")).encode()


def _default_text(value: Any) -> Any:
    """_default, plus what orjson formats itself: datetimes as the contract's UTC "...Z", dates, UUIDs."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.replace(microsecond=0, tzinfo=None).isoformat() + "Z"
    if isinstance(value, date | UUID):
        return str(value) if isinstance(value, UUID) else value.isoformat()
    return _default(value)


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition; no charset parameter

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if data is None:
            return b""
        return dumps(data)
