"""Request body parsers."""

import io
import json
import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

from .errors import InvalidInput

# A \uD800-\uDFFF escape: half of a surrogate pair, valid JSON text but no character on its own.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_NUL_ESCAPE = re.compile(rb"\\u0000")


def _nul_path(data: Any, path: str = "") -> str | None:
    """Where in parsed JSON a key or a text holds a NUL character (a dotted path, "" for the body itself)."""
    if isinstance(data, str):
        return path if "\x00" in data else None
    if isinstance(data, dict):
        for key, value in data.items():
            inner = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return inner
            found = _nul_path(value, inner)
            if found is not None:
                return found
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found = _nul_path(value, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


class JSONParser(DRFJSONParser):
    """DRF's JSON parser, also refusing bodies nested too deeply to decode (a RecursionError, not a
    ValueError, which DRF would let through as a 500), and text that is not Unicode: a lone surrogate escape
    (backslash-u D800) decodes to a Python string that nothing downstream can encode (PostgreSQL, UTF-8 files, the
    idempotency fingerprint), so every layer after this one would have to guard against it. A NUL character
    (backslash-u 0000) is refused too, wherever it is (400 INVALID_INPUT naming its path): PostgreSQL stores no NUL
    in text or JSON, and a pipeline's step or a document's value holding one ended as a 500 when it was saved."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read()
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError as exc:
            raise ParseError(_("JSON nested too deeply.")) from exc
        if _SURROGATE_ESCAPE.search(raw):  # rare: pairs (escaped emoji) are fine, a half alone is not
            try:
                json.dumps(data, ensure_ascii=False).encode()
            except UnicodeEncodeError as exc:
                raise ParseError(_("Text must be Unicode: a lone UTF-16 surrogate escape is not a character.")) from exc
        if _NUL_ESCAPE.search(raw):  # rare too: "\\u0000" (an escaped backslash) is text, not a NUL
            try:
                where = _nul_path(data)
            except RecursionError:  # deeper than the decoder went: no real body
                raise ParseError(_("JSON nested too deeply.")) from None
            if where is not None:
                field = where.replace("\x00", "\\u0000")[:200] or "body"
                raise InvalidInput({field: [_("Null characters are not allowed.")]})
        return data
