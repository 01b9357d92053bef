"""WebSocket plumbing every app's consumers build on: the message envelope, the base consumer, the Origin rule.

Apps import this module, never incubator.consumers (the import-linter contract keeps socket layers private).
"""

import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import ParseResult

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.security.websocket import OriginValidator as ChannelsOriginValidator
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.utils.translation.trans_real import parse_accept_lang_header

from .errors import ApiError
from .exceptions import error_body
from .metrics import live_connection_closed, live_connection_opened

logger = logging.getLogger("incubator.websocket")


def ws_message(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """The envelope of every WebSocket message: {"id", "type", "ts", "data"}."""
    ts = datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"id": uuid.uuid4().hex, "type": type_, "ts": ts, "data": data}


def scope_language(scope: dict[str, Any]) -> str:
    """The language of the handshake's Accept-Language, as LocaleMiddleware would choose it for HTTP."""
    header = next((value for name, value in scope.get("headers", []) if name == b"accept-language"), b"")
    for code, _q in parse_accept_lang_header(header.decode("latin1")):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return settings.LANGUAGE_CODE


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """Base of every consumer: JSON objects in, envelopes out, and every refusal in the contract's error body.

    Whatever a client sends (text that is not JSON, JSON that is not an object, a binary frame) it gets an
    `error` message and the socket stays open; a service's ApiError becomes the same error body HTTP would
    answer; an unexpected exception is logged (one JSON line) and answered INTERNAL_ERROR, then closed 1011.
    Subclasses implement receive_json(content: dict) and use send_message / send_error.
    """

    live = False  # counted in incubator_live_connections{transport="websocket"} from accept to the end

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # However the consumer ends (a disconnect, StopConsumer from a handler, a cancelled task), it is uncounted.
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self.live:
                self.live = False
                live_connection_closed("websocket")

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.language = scope_language(self.scope)
        await super().websocket_connect(message)

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        await super().accept(subprotocol, headers)
        if not self.live:
            self.live = True
            live_connection_opened("websocket")

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None:
            await self.send_error(400, "INVALID_INPUT", _("Binary frames are not accepted; send JSON text."))
            return
        try:
            content = await self.decode_json(text_data)
        except (ValueError, RecursionError) as exc:
            await self.send_error(400, "PARSE_ERROR", _("The message is not valid JSON."), reason=str(exc)[:200])
            return
        if not isinstance(content, dict):
            await self.send_error(400, "INVALID_INPUT", _("A message must be a JSON object."))
            return
        try:
            await self.receive_json(content, **kwargs)
        except ApiError as exc:
            await self.send_error(exc.status_code, exc.error_code, exc.lazy_message, **exc.details)
        except Exception:
            logger.exception("websocket consumer %s failed", type(self).__name__)
            await self.send_error(500, "INTERNAL_ERROR")
            await self.close(code=1011)

    async def send_message(self, type_: str, data: dict[str, Any]) -> None:
        await self.send_json(ws_message(type_, data))

    async def send_error(self, status_code: int, error_code: str, message: Any = None, **details: Any) -> None:
        with translation.override(getattr(self, "language", None) or scope_language(self.scope)):
            body = error_body(status_code, error_code, message, details)
        await self.send_message("error", body)


class OriginValidator(ChannelsOriginValidator):
    """Cross-site WebSocket hijacking guard that lets non-browser clients through.

    Browsers always send Origin, so when it is present it must match ALLOWED_HOSTS (any scheme and port) or
    CORS_ALLOWED_ORIGINS (exact scheme, host and port), else the handshake is refused with 403. Scripts,
    mobile apps and the Python `websockets` client send none and are let through: a page on another site
    cannot open a socket without Origin, and token authentication decides what such a client may do.
    Settings are read per connection, so overrides in tests apply.
    """

    def __init__(self, application: Any) -> None:
        super().__init__(application, allowed_origins=[])

    def valid_origin(self, parsed_origin: ParseResult | None) -> bool:
        if parsed_origin is None:
            return True
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        patterns = hosts + list(settings.CORS_ALLOWED_ORIGINS)
        return any(pattern == "*" or self.match_allowed_origin(parsed_origin, pattern) for pattern in patterns)
