"""The HTTP edge, on the event loop: a request is whole and bounded before a thread of the pool takes it.

Django runs on a bounded pool of threads (incubator.asgi). A2wsgi used to read the body from inside that
thread, so ten clients sending a body one byte every few seconds held every thread and the whole API
stopped. Here the body is read on the event loop first, where a waiting client costs a coroutine:
- a declared Content-Length over the limit is a 413 before anything is read; a body that grows past it while
  arriving (chunked) is a 413 as soon as it does;
- a body that stops arriving for BODY_IDLE_TIMEOUT seconds, or is not complete after BODY_TIMEOUT (JSON; an
  upload may take as long as it keeps arriving), is a 408;
- a chunked body is read like any other and handed on with its real Content-Length (Django reads
  Content-Length bytes and would otherwise see an empty body);
- a body the server cannot read (a broken chunked encoding, which granian reports as a disconnect) or framed
  both ways at once (Content-Length and Transfer-Encoding) is a 400, not the server's bare 500;
- raw bytes outside ASCII in the query string (`?q=中` unencoded) are percent-encoded as a browser would, so
  the WSGI layer does not fail to decode them.
Every refusal here has the contract's error body, in the language the client asked for.
"""

import asyncio
import contextlib
import logging
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import get_supported_language_variant, parse_accept_lang_header

from .exceptions import error_body
from .renderers import dumps

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

logger = logging.getLogger(__name__)

_CHUNK = 64 * 1024
_IN_MEMORY = 1024 * 1024  # bodies up to this stay in memory; larger ones (uploads) spill to a temporary file


def _percent_encode_non_ascii(raw: bytes) -> bytes:
    if raw.isascii() and b" " not in raw:
        return raw
    return b"".join(bytes([byte]) if 0x20 < byte < 0x7F else f"%{byte:02X}".encode() for byte in raw)


def _language(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"accept-language":
            for code, _ in parse_accept_lang_header(value.decode("latin1")):
                try:
                    return get_supported_language_variant(code)
                except LookupError:
                    continue
    return settings.LANGUAGE_CODE


async def refuse(send: Send, headers: list[tuple[bytes, bytes]], status: int, code: str, **details: Any) -> None:
    """Answer in the contract's body and close the connection (the rest of the body is never read)."""
    with translation.override(_language(headers)):
        body = dumps(error_body(status, code, None, details))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
                (b"x-request-id", uuid.uuid4().hex.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


class BufferedBody:
    """ASGI middleware for HTTP: reads and bounds the body on the event loop, then hands the application a
    receive() that replays it (see the module's docstring)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        scope = dict(scope)
        scope["query_string"] = _percent_encode_non_ascii(scope.get("query_string", b""))
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        declared: int | None = None
        chunked, multipart = False, False
        for name, value in headers:
            if name == b"content-length":
                if not value.isdigit() or declared is not None:
                    return await refuse(send, headers, 400, "INVALID_INPUT", header="Content-Length")
                declared = int(value)
            elif name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                multipart = value.lower().startswith(b"multipart/")
        if chunked and declared is not None:
            # Both framings at once (RFC 9112 6.3 lets a server refuse it: a sign of request smuggling). Clients
            # send it by mistake too, e.g. python-requests given a generator and a Content-Length, with a body
            # that is not chunked at all.
            return await refuse(send, headers, 400, "INVALID_INPUT", header="Transfer-Encoding")
        limit = settings.API_MAX_UPLOAD_BYTES if multipart else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if declared is not None and limit is not None and declared > limit:
            return await refuse(send, headers, 413, "PAYLOAD_TOO_LARGE", limit_bytes=limit, received_bytes=declared)

        body: Any = bytearray()
        size = 0

        async def unreadable() -> None:
            with contextlib.suppress(Exception):  # the client may be gone
                await refuse(send, headers, 400, "INVALID_INPUT", body="unreadable", received_bytes=size)

        started = time.monotonic()
        deadline = None if multipart else started + settings.API_BODY_TIMEOUT
        try:
            while True:
                timeout: float = settings.API_BODY_IDLE_TIMEOUT
                if deadline is not None:
                    timeout = min(timeout, deadline - time.monotonic())
                try:
                    message = await asyncio.wait_for(receive(), timeout=max(timeout, 0.001))
                except TimeoutError:
                    return await refuse(send, headers, 408, "REQUEST_TIMEOUT", received_bytes=size)
                except Exception:  # noqa: BLE001 - the server could not read the body (a broken chunked encoding)
                    logger.info("request body unreadable", exc_info=True)
                    return await unreadable()
                if message["type"] == "http.disconnect":
                    # The client went away, or the server could not read the body (granian reports a broken
                    # chunked encoding so): an answer is sent either way, since a server answers an application
                    # that sent none with a bare 500, and a client that is gone never reads it.
                    return await unreadable()
                chunk = message.get("body", b"")
                size += len(chunk)
                if limit is not None and size > limit:
                    return await refuse(send, headers, 413, "PAYLOAD_TOO_LARGE", limit_bytes=limit)
                if isinstance(body, bytearray) and size > _IN_MEMORY:
                    spooled = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
                    spooled.write(body)
                    body = spooled
                if isinstance(body, bytearray):
                    body.extend(chunk)
                else:
                    body.write(chunk)
                if not message.get("more_body", False):
                    break
            if chunked or declared != size:
                scope["headers"] = [
                    (name, value) for name, value in headers if name not in (b"content-length", b"transfer-encoding")
                ] + [(b"content-length", str(size).encode())]
            return await self.app(scope, self._replay(body, receive), send)
        finally:
            if not isinstance(body, bytearray):
                body.close()

    @staticmethod
    def _replay(body: Any, receive: Receive) -> Receive:
        if isinstance(body, bytearray):
            pending: list[bytes] | None = [bytes(body)]
        else:
            body.seek(0)
            pending = None
        done = False

        async def replay() -> Message:
            nonlocal done
            if done:
                return await receive()  # after the body: the client's disconnect, when it comes
            if pending is not None:
                done = True
                return {"type": "http.request", "body": pending[0], "more_body": False}
            chunk = body.read(_CHUNK)
            done = len(chunk) < _CHUNK
            return {"type": "http.request", "body": chunk, "more_body": not done}

        return replay
