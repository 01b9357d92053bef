"""/ws/v1/stream: the outbox over a WebSocket (docs/events.md has the protocol and every message).

Client messages: auth {token}, subscribe {topics, since}, unsubscribe {topics}, ping. Close codes: 4001 not
authenticated (no valid token within EVENTS_STREAM_AUTH_TIMEOUT seconds, a bad or expired one), 4003 the
account was deactivated, 4400 a malformed message, 4008 a client too slow to take its messages.
"""

import asyncio
import contextlib
import logging
import random
import time
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from incubator.errors import ApiError, InvalidInput, ServiceUnavailable
from incubator.websocket import JsonConsumer, ws_message

from .auth import StreamAuthError, stream_authenticate, user_is_active
from .errors import (
    AccountInactive,
    NotAuthenticatedYet,
    StreamInternalError,
    StreamTokenInvalid,
    StreamTooSlow,
    TokenExpired,
    TopicsForbidden,
    TopicsLost,
)
from .hub import Outbox, encoded, hub_for
from .stream import Refused, Subscriber, TooSlow, parse_since, parse_topics
from .topics import user_control_group

logger = logging.getLogger("incubator.websocket")

BEARER_PREFIX = "bearer."


def _close_code(exc: StreamAuthError) -> int:
    """4001 for a refused token; 1013 (try again later) when it could not be checked (the cache is down)."""
    return 1013 if exc.error.status_code == 503 else 4001


class StreamConsumer(JsonConsumer):
    outbox: Outbox | None = None  # every text frame goes through it, the hub's events and the consumer's own

    async def dispatch(self, message: dict[str, Any]) -> None:
        """channels closes stale database connections before every handler: a hop to the one shared sync
        thread per message per socket, most of the server's time under fan-out (bench/live.py). The handlers
        here reach the database only through database_sync_to_async, which does that itself."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.user: Any = None
        self.subscriber: Subscriber | None = None
        self.timers: dict[str, asyncio.Task[None]] = {}
        self.closing = False
        self.layer_lost = False
        self.expires = float("inf")
        self.outbox = Outbox(self.base_send)
        offered = [p for p in self.scope.get("subprotocols") or [] if isinstance(p, str)]
        token = next((p[len(BEARER_PREFIX) :] for p in offered if p.startswith(BEARER_PREFIX)), None)
        # A browser fails the handshake unless the server picks one of the protocols it offered.
        plain = [p for p in offered if not p.startswith(BEARER_PREFIX)]
        await self.accept(subprotocol=(plain or offered or [None])[0])
        if token is not None:
            await self._authenticate(token)
        else:
            self._timer("auth", self._wake(settings.EVENTS_STREAM_AUTH_TIMEOUT, "stream.deadline"))

    def _timer(self, name: str, coroutine: Any) -> None:
        old = self.timers.pop(name, None)
        if old is not None:
            old.cancel()
        self.timers[name] = asyncio.create_task(coroutine)

    # Timers wake the consumer through its own channel, so their work runs in its dispatch, one message at a
    # time like everything else (granian ignores a close sent from another task).

    async def _wake(self, delay: float, type_: str, *, repeat: bool = False, first: float | None = None) -> None:
        await asyncio.sleep(delay if first is None else first)
        while True:
            try:
                await self.channel_layer.send(self.channel_name, {"type": type_})
            except Exception:  # noqa: BLE001 - the channel layer (Redis) is unreachable
                # Never lose a tick or the expiry: the token's checks resume as soon as the layer is back. Until
                # then the client's own messages find the socket out of touch and close it (receive).
                logger.warning("stream %s: channel layer unreachable for %s; retrying", self.channel_name, type_)
                self.layer_lost = True
                await asyncio.sleep(1.0)
                continue
            self.layer_lost = False
            if not repeat:
                return
            await asyncio.sleep(delay)

    async def stream_deadline(self, message: dict[str, Any]) -> None:
        if self.user is None:
            await self._close(4001, NotAuthenticatedYet())

    async def stream_expired(self, message: dict[str, Any]) -> None:
        if time.time() >= self.expires:
            await self._close(4001, TokenExpired())

    async def stream_tick(self, message: dict[str, Any]) -> None:
        try:
            await self._check()
            await self._emit(ws_message("heartbeat", {}))
        except TooSlow:
            await self._too_slow()

    async def send(self, text_data: str | None = None, bytes_data: bytes | None = None, close: bool = False) -> None:
        """Text frames go through the outbox, behind the events the hub wrote there, and return once the server
        took them; a close goes straight to the server."""
        if text_data is None or close or self.outbox is None:
            await super().send(text_data, bytes_data, close)
            return
        self.outbox.push(text_data)
        await self.outbox.flushed()

    async def _close(self, code: int, error: ApiError) -> None:
        """Send the error, then close with `code` (its reason: the error code)."""
        if self.closing:
            return
        self.closing = True
        if self.subscriber is not None:
            self.subscriber.closed = True  # the hub writes nothing more after the error
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                self.send_error(error.status_code, error.error_code, error.lazy_message, **error.details), 2
            )
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.close(code=code, reason=error.error_code), 2)

    async def _emit(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            async with asyncio.timeout(settings.EVENTS_STREAM_SEND_TIMEOUT):
                await self.send(text_data=encoded(message, self.language))
        except TimeoutError as exc:
            raise TooSlow() from exc

    async def _authenticate(self, token: Any) -> None:
        try:
            user, expires = await database_sync_to_async(stream_authenticate)(token)
        except StreamAuthError as exc:
            await self._close(_close_code(exc), exc.error)
            return
        if self.user is not None and user.pk != self.user.pk:
            await self._close(4001, StreamTokenInvalid(_("A stream stays with the user who opened it.")))
            return
        self.token = token  # kept to check at every heartbeat that it was not revoked; never logged
        if self.user is None:
            self.user = user
            self.subscriber = Subscriber(
                user=user,
                layer=self.channel_layer,
                channel=self.channel_name,
                emit=self._emit,
                hub=hub_for(self.channel_layer),
                outbox=self.outbox,
                wake=self._wake_pending,
                language=self.language,
            )
            await self.channel_layer.group_add(user_control_group(user.pk), self.channel_name)
            deadline = self.timers.pop("auth", None)
            if deadline is not None:
                deadline.cancel()
            # The first beat at a random point of the interval: sockets opened together do not check together.
            beat = settings.EVENTS_STREAM_HEARTBEAT
            self._timer("heartbeat", self._wake(beat, "stream.tick", repeat=True, first=random.uniform(0.2, 1) * beat))
        self.expires = expires
        self._timer("expiry", self._wake(max(0.0, expires - time.time()), "stream.expired"))
        await self.send_message("authenticated", {"user_id": user.pk, "expires_at": int(expires)})

    async def _too_slow(self) -> None:
        logger.warning(
            "stream %s of user %s too slow: closing it with 4008", self.channel_name, getattr(self.user, "pk", None)
        )
        await self._close(4008, StreamTooSlow())
        # The close frame waits behind what the client does not read: end the consumer rather than hold its
        # channel, groups and timers for a client that may never answer (the server then drops the connection).
        await self.disconnect(4008)
        raise StopConsumer()

    async def _check(self) -> None:
        """The token again (logged out, password changed, account deactivated), then the topics' access."""
        if self.subscriber is None or self.closing:
            return
        try:
            user, _expires = await database_sync_to_async(stream_authenticate)(self.token)
        except StreamAuthError as exc:
            if exc.error.status_code == 503:
                await self._close(1013, exc.error)
                return
            active = await database_sync_to_async(user_is_active)(self.user.pk)
            await self._close(4001, exc.error) if active else await self._close(4003, AccountInactive())
            return
        self.user = self.subscriber.user = user
        lost = await self.subscriber.check()
        if lost:
            error = TopicsLost(details={"topics": lost})
            await self.send_error(error.status_code, error.error_code, error.lazy_message, **error.details)
            await self.send_message("unsubscribed", {"topics": lost})

    # Messages ------------------------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Anything that is not a JSON object of the protocol gets an error and the close code 4400."""
        if self.closing:
            return
        content = None
        if text_data is not None:
            with contextlib.suppress(ValueError, RecursionError):
                content = await self.decode_json(text_data)
        if not isinstance(content, dict):
            await self._close(4400, InvalidInput(message=_("A message must be a JSON object of the stream protocol.")))
            return
        # Checked here too, not only by the timers: while the channel layer is down their wake-ups cannot arrive.
        if self.user is not None and time.time() >= self.expires:
            await self._close(4001, TokenExpired())
            return
        if self.layer_lost:
            await self._close(1013, ServiceUnavailable(details={"unavailable": ["cache"]}))
            return
        try:
            await self.receive_json(content)
        except Refused as exc:
            await self._close(4400, ApiError(exc.message, details=exc.details))
        except TooSlow:
            await self._too_slow()
        except Exception:
            logger.exception("stream consumer failed")
            await self._close(1011, StreamInternalError())

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if self.closing:
            return
        kind = content.get("type")
        data = content.get("data") if isinstance(content.get("data"), dict) else {}

        def field(name: str) -> Any:
            return content.get(name, data.get(name))

        if kind == "ping":
            await self.send_message("pong", {"echo": field("echo")})
            return
        if kind == "auth":
            await self._authenticate(field("token"))
            return
        if self.user is None:
            await self._close(4001, NotAuthenticatedYet())
            return
        assert self.subscriber is not None
        if kind == "subscribe":
            topics, since = parse_topics(field("topics")), parse_since(field("since"))
            # Acknowledged once joined: the replay and the live events of these topics follow it.
            readable, refused = await self.subscriber.check_topics(topics)
            if refused:
                error = TopicsForbidden(details={"field": "topics", "topics": refused})
                await self.send_error(error.status_code, error.error_code, error.lazy_message, **error.details)
            if readable:

                async def joined() -> None:
                    await self.send_message("subscribed", {"topics": readable, "since": since})

                await self.subscriber.subscribe(readable, since, joined)
        elif kind == "unsubscribe":
            removed = await self.subscriber.unsubscribe(parse_topics(field("topics")))
            await self.send_message("unsubscribed", {"topics": removed})
        else:
            raise Refused(_("Unknown message type."), field="type", type=str(kind)[:40])

    # Channel layer -------------------------------------------------------------------------------------------

    def _wake_pending(self) -> None:
        """The hub left events (or a stalled socket) for this consumer's own task: stream_pending, soon."""
        waking = self.timers.get("pending")
        if waking is None or waking.done():
            self._timer("pending", self._wake(0, "stream.pending"))

    async def stream_pending(self, message: dict[str, Any]) -> None:
        if self.subscriber is None or self.closing:
            return
        await self._live(self.subscriber.drain())

    async def event_message(self, message: dict[str, Any]) -> None:
        # Only the hub is in the topics' groups; a message that reached this channel anyway is handled the same.
        if self.subscriber is None or self.closing:
            return
        await self._live(self.subscriber.live(message))

    async def _live(self, delivery: Any) -> None:
        assert self.subscriber is not None
        try:
            await delivery
        except TooSlow:
            await self._too_slow()
        if self.subscriber is not None and self.subscriber.lagging and "catch_up" not in self.timers:
            self._timer("catch_up", self._wake(1.0, "stream.catch_up"))

    async def stream_catch_up(self, message: dict[str, Any]) -> None:
        self.timers.pop("catch_up", None)
        if self.subscriber is None or self.closing:
            return
        try:
            await self.subscriber.catch_up()
        except TooSlow:
            await self._too_slow()

    async def access_changed(self, message: dict[str, Any]) -> None:
        try:
            await self._check()
        except TooSlow:
            await self._too_slow()

    async def disconnect(self, code: int) -> None:
        for task in self.timers.values():
            task.cancel()
        self.timers.clear()
        if self.subscriber is not None:
            await self.subscriber.close()
            self.subscriber = None
        if self.outbox is not None:
            self.outbox.cancel()
        if self.user is not None:
            await self.channel_layer.group_discard(user_control_group(self.user.pk), self.channel_name)
            self.user = None
