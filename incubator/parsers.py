"""Request body parsers."""

import io
import json
import re
from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DRFJSONParser

# A \uD800-\uDFFF escape: half of a surrogate pair, valid JSON text but no character on its own.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JSONParser(DRFJSONParser):
    """DRF's JSON parser, also refusing bodies nested too deeply to decode (a RecursionError, not a
    ValueError, which DRF would let through as a 500), and text that is not Unicode: a lone surrogate escape
    (backslash-u D800) decodes to a Python string that nothing downstream can encode (PostgreSQL, UTF-8 files, the
    idempotency fingerprint), so every layer after this one would have to guard against it."""

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
        return data
