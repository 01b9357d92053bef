"""GET /api/v1/events/stream as Server-Sent Events, served on the event loop.

HTTP requests run on a bounded pool of threads (incubator.asgi); an SSE response lasts as long as the client
stays, so it must not hold one of them. incubator.asgi routes this one path here, beside the WebSocket
router; the Django view at the same path (views.EventStreamView) serves the replay only and closes, for a
WSGI deployment and the OpenAPI document. Same authorization as the REST API (the Authorization header,
checked again at every heartbeat), the same topics and cursor as the WebSocket (`Last-Event-ID`, else
`?since=`), the same gap rules. Django's middleware does not run here, so CORS is answered here too.
"""

import asyncio
import contextlib
import json
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import translation

from incubator.errors import ApiError, InvalidInput
from incubator.exceptions import error_body
from incubator.metrics import live_connection_closed, live_connection_opened
from incubator.websocket import scope_language, ws_message

from .auth import StreamAuthError, stream_authenticate
from .errors import StreamMethodNotAllowed, StreamNotAuthenticated, TopicsForbidden, TopicsLost
from .selectors import wire_localized
from .stream import Refused, Subscriber, TooSlow, parse_since, parse_topics
from .topics import user_control_group

PATHS = frozenset({"/api/v1/events/stream", "/api/v1/events/stream/"})
RETRY_MS = 3000
ALLOWED_HEADERS = b"authorization, last-event-id, accept-language, cache-control, x-request-id"


def sse_frame(message: dict[str, Any], language: str | None = None) -> bytes:
    """One SSE event: the id line when the message is an event (the cursor), the whole message as data, its stored
    texts in the reader's `language`."""
    head = f"id: {message['id']}\n" if isinstance(message.get("id"), int) else ""
    message = wire_localized(message, language)
    return f"{head}data: {json.dumps(message, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    return {name.decode("latin1").lower(): value.decode("latin1") for name, value in scope.get("headers", [])}


def _cors(headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The CORS headers django-cors-headers would add for this origin (CORS_ALLOWED_ORIGINS)."""
    origin = headers.get("origin")
    if not origin or origin not in settings.CORS_ALLOWED_ORIGINS:
        return []
    cors = [(b"access-control-allow-origin", origin.encode("latin1")), (b"vary", b"Origin")]
    if getattr(settings, "CORS_ALLOW_CREDENTIALS", False):
        cors.append((b"access-control-allow-credentials", b"true"))
    return cors


async def _respond_error(send: Any, scope: dict[str, Any], error: ApiError, cors: list[tuple[bytes, bytes]]) -> None:
    with translation.override(scope_language(scope)):
        body = json.dumps(
            error_body(error.status_code, error.error_code, error.lazy_message, error.details), ensure_ascii=False
        ).encode()
    headers = [(b"content-type", b"application/json; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    if error.status_code == 401:
        headers.append((b"www-authenticate", b'Bearer realm="api"'))
    if error.status_code == 405:
        headers.append((b"allow", b"GET, HEAD, OPTIONS"))
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers + cors})
    await send({"type": "http.response.body", "body": body})


async def event_stream_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    headers = _headers(scope)
    cors = _cors(headers)
    preflight = scope["method"] == "OPTIONS" and "access-control-request-method" in headers
    if preflight and cors:  # a browser's CORS preflight carries no credentials (django-cors-headers does the same)
        allow = [
            (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
            (b"access-control-allow-headers", ALLOWED_HEADERS),
            (b"access-control-max-age", b"86400"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": allow + cors})
        await send({"type": "http.response.body", "body": b""})
        return
    # As everywhere in the API: who is asking comes first (401), then whether the method exists (405).
    authorization = headers.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        await _respond_error(send, scope, StreamNotAuthenticated(), cors)
        return
    token = authorization[7:].strip()
    try:
        user, expires = await database_sync_to_async(stream_authenticate)(token)
    except StreamAuthError as exc:
        await _respond_error(send, scope, exc.error, cors)
        return
    if scope["method"] == "OPTIONS":
        allow = [(b"allow", b"GET, HEAD, OPTIONS"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 200, "headers": allow + cors})
        await send({"type": "http.response.body", "body": b""})
        return
    if scope["method"] not in {"GET", "HEAD"}:
        error = StreamMethodNotAllowed(details={"method": scope["method"]})
        await _respond_error(send, scope, error, cors)
        return
    query = parse_qs(scope.get("query_string", b"").decode("latin1"))
    try:
        topics = parse_topics(",".join(query.get("topics", [])))
        since = parse_since(headers.get("last-event-id") or (query.get("since") or query.get("after") or [None])[0])
    except Refused as exc:
        await _respond_error(send, scope, InvalidInput({exc.details.get("field", "topics"): [exc.message]}), cors)
        return
    layer = get_channel_layer()
    channel = await layer.new_channel()

    async def emit(message: dict[str, Any]) -> None:
        try:
            frame = {"type": "http.response.body", "body": sse_frame(message, language), "more_body": True}
            await asyncio.wait_for(send(frame), settings.EVENTS_STREAM_SEND_TIMEOUT)
        except TimeoutError as exc:
            raise TooSlow() from exc

    language = scope_language(scope)
    subscriber = Subscriber(user=user, layer=layer, channel=channel, emit=emit, transport="sse", language=language)
    readable, refused = await subscriber.check_topics(topics)
    if refused:
        await _respond_error(send, scope, TopicsForbidden(details={"field": "topics", "topics": refused}), cors)
        return
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache, no-store"),
            (b"x-accel-buffering", b"no"),  # nginx: pass each event on at once
            (b"vary", b"Authorization, Accept-Language"),
            *cors,
        ],
    }
    await send(start)
    if scope["method"] == "HEAD":
        await send({"type": "http.response.body", "body": b""})
        return
    live_connection_opened("sse")
    try:
        await send({"type": "http.response.body", "body": f"retry: {RETRY_MS}\n\n".encode(), "more_body": True})
        with translation.override(scope_language(scope)):
            await _serve(send, receive, subscriber, token, readable, since, expires)
    finally:
        live_connection_closed("sse")


async def _serve(
    send: Any, receive: Any, subscriber: Subscriber, token: str, topics: list[str], since: int | None, expires: float
) -> None:
    layer, channel = subscriber.layer, subscriber.channel

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def emit_error(error: ApiError) -> None:
        body = error_body(error.status_code, error.error_code, error.lazy_message, error.details)
        await subscriber.emit(ws_message("error", body))

    gone = asyncio.create_task(disconnected())
    incoming: asyncio.Task[Any] | None = None
    control = user_control_group(subscriber.user.pk)
    try:
        await layer.group_add(control, channel)
        await subscriber.subscribe(topics, since)
        next_beat = time.monotonic() + settings.EVENTS_STREAM_HEARTBEAT
        while not gone.done():
            if incoming is None:
                incoming = asyncio.create_task(layer.receive(channel))
            timeout = max(0.0, min(next_beat - time.monotonic(), expires - time.time()))
            done, _pending = await asyncio.wait({incoming, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                break
            message: dict[str, Any] = {}
            if incoming in done:
                message, incoming = incoming.result(), None
                if message.get("type") == "event.message":
                    await subscriber.live(message)
                    if subscriber.lagging:  # the last events of a burst may be gone too: look in a second
                        next_beat = min(next_beat, time.monotonic() + 1)
                    continue
            # A heartbeat, the token's expiry or an access change: check the token, then the topics.
            try:
                subscriber.user, expires = await database_sync_to_async(stream_authenticate)(token)
            except StreamAuthError as exc:
                await emit_error(exc.error)
                break
            lost = await subscriber.check()
            if lost:
                await emit_error(TopicsLost(details={"topics": lost}))
                if not subscriber.topics:
                    break
            if not done:
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": b": heartbeat\n\n", "more_body": True}),
                    settings.EVENTS_STREAM_SEND_TIMEOUT,
                )
                next_beat = time.monotonic() + settings.EVENTS_STREAM_HEARTBEAT
    except (TooSlow, TimeoutError):
        pass  # the client reconnects with Last-Event-ID and replays what it missed
    finally:
        for task in (gone, incoming):
            if task is not None:
                task.cancel()
        with contextlib.suppress(Exception):
            await subscriber.close()
            await layer.group_discard(control, channel)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(send({"type": "http.response.body", "body": b"", "more_body": False}), 5)
