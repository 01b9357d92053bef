"""One client's live subscriptions, whatever carries them (the WebSocket consumer or the SSE response).

The rules that make the stream gap-free and duplicate-free:
- Join the topic's channel-layer group first, then replay from the table: an event committed in between
  arrives both ways and is delivered once (each topic remembers the ids it delivered).
- Every live message names the previous event of its topic (`prev`). When that is newer than the last one this
  client got, channels_redis dropped something (a full channel) or a publish failed: the hole is filled from
  the table before the message is delivered. Refilling too often means the client cannot keep up: TooSlow.
- At every heartbeat each topic's newest id is compared with the table (a lost last event), and access is
  checked again (a project that went private, a member removed), as it is at once on an `access.changed`.

A WebSocket subscriber reads its topics through the process's hub (hub.py): the hub offers it each event and it
writes the event to its socket at once when nothing is in the way; otherwise the event waits in `pending` and
the transport is woken to `drain()` it on its own task. An SSE subscriber joins the groups with its own channel.
"""

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _

from incubator.metrics import events_replayed
from incubator.websocket import ws_message

from . import tail
from .hub import Hub, Outbox, live_wire
from .selectors import event_last_ids, event_list, event_newest_id, event_oldest_id
from .topics import topic_group, topic_parse, topics_readable

REMEMBERED = 512  # ids remembered per topic to drop duplicates (replay and live overlap, the tail)
REPLAY_CHUNK = 500


class TooSlow(Exception):
    """The client does not take messages as fast as its topics produce them."""


class Refused(Exception):
    """A subscription request that names something malformed (400 INVALID_INPUT, close 4400)."""

    def __init__(self, message: Any, **details: Any) -> None:
        super().__init__(str(message))
        self.message, self.details = message, details


@dataclass
class TopicState:
    floor: int  # ids at or below it were before the subscription (or forgotten)
    last: int  # the newest id delivered (or the floor)
    seen: deque[int] = field(default_factory=deque)
    seen_set: set[int] = field(default_factory=set)

    def is_new(self, event_id: int) -> bool:
        return event_id > self.floor and event_id not in self.seen_set

    def remember(self, event_id: int) -> None:
        self.seen.append(event_id)
        self.seen_set.add(event_id)
        self.last = max(self.last, event_id)
        if len(self.seen) > REMEMBERED:
            forgotten = self.seen.popleft()
            self.seen_set.discard(forgotten)
            self.floor = max(self.floor, forgotten)


def parse_topics(value: Any) -> list[str]:
    """A non-empty list of distinct well-formed topics (`kind:id`), else Refused."""
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not value:
        raise Refused(_('topics must be a non-empty list of topics such as "job:12".'), field="topics")
    if len(value) > settings.EVENTS_STREAM_MAX_TOPICS:
        raise Refused(_("Too many topics."), field="topics", max=settings.EVENTS_STREAM_MAX_TOPICS)
    bad = [topic for topic in value if topic_parse(topic) is None]
    if bad:
        raise Refused(_("Unknown or malformed topics."), field="topics", topics=[str(t)[:80] for t in bad[:10]])
    return list(dict.fromkeys(value))


def parse_since(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.isdigit() and len(value) <= 18:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
        return value
    raise Refused(_("since must be the id of the last event seen (a whole number)."), field="since")


class Subscriber:
    """The subscriptions of one connection. `emit(message)` sends one message to the client (and raises
    TooSlow when the client does not take it); `channel` is the connection's channel-layer name."""

    def __init__(
        self,
        *,
        user: Any,
        layer: Any,
        channel: str,
        emit: Callable[[dict[str, Any]], Awaitable[None]],
        transport: str = "websocket",
        hub: Hub | None = None,
        outbox: Outbox | None = None,
        wake: Callable[[], None] | None = None,
        language: str | None = None,
    ):
        self.user, self.layer, self.channel, self.emit = user, layer, channel, emit
        self.language = language  # the client's: events' stored texts reach it in this language (the transport's)
        # With a hub: the socket's outbox, and `wake()` has the transport call drain() soon on its own task.
        self.hub, self.outbox, self.wake = hub, outbox, wake
        self.pending: deque[dict[str, Any]] = deque()  # events the hub offered that need the transport's task
        # Catch up from the table before anything else is written: pending outgrew CHANNEL_LAYER_CAPACITY and was
        # emptied, or the hub found the table ahead of what this client got (behind()).
        self.stale = False
        self.stalled = False  # the socket does not take its frames: the transport closes it (TooSlow)
        self.closed = False
        self.transport = transport  # websocket or sse: the label of the events it replays
        self.topics: dict[str, TopicState] = {}
        self.lock = asyncio.Lock()
        self.refills: deque[float] = deque()
        self.renewed = time.monotonic()
        # Set when a hole was filled: the layer dropped messages, so the last ones of a burst may be gone too,
        # with no later message to reveal them. The transport calls catch_up() a second later.
        self.lagging = False

    # Subscribing -------------------------------------------------------------------------------------------

    async def check_topics(self, topics: list[str]) -> tuple[list[str], list[str]]:
        """(readable, refused) among `topics`, in their order."""
        readable = await database_sync_to_async(topics_readable)(self.user, topics)
        return [t for t in topics if t in readable], [t for t in topics if t not in readable]

    async def subscribe(
        self, accepted: list[str], since: int | None, joined: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        """Join topics the user may read (check_topics), call `joined` (every event committed from then on will
        be delivered), then replay the topics after `since`."""
        async with self.lock:
            fresh = [topic for topic in accepted if topic not in self.topics]
            joined_now: list[str] = []
            try:
                for topic in fresh:
                    await self._join(topic)
                    joined_now.append(topic)
                await tail.subscribed(len(fresh))
                if since is None:
                    last = await database_sync_to_async(event_last_ids)(topics=fresh)
                    for topic in fresh:
                        self.topics[topic] = TopicState(floor=last.get(topic, 0), last=last.get(topic, 0))
                else:
                    for topic in fresh:
                        self.topics[topic] = TopicState(floor=since, last=since)
            except BaseException:
                for topic in joined_now:  # joined but never recorded: close() would not leave them
                    if topic not in self.topics:
                        await self._leave(topic)
                raise
            if joined is not None:
                await joined()
            if since is not None:
                await self._replay(accepted, since)

    async def unsubscribe(self, topics: Iterable[str]) -> list[str]:
        removed = []
        async with self.lock:
            for topic in topics:
                if self.topics.pop(topic, None) is not None:
                    await self._leave(topic)
                    removed.append(topic)
        tail.unsubscribed(len(removed))
        return removed

    async def close(self) -> None:
        self.closed = True
        self.pending.clear()
        await self.unsubscribe(list(self.topics))

    async def _join(self, topic: str) -> None:
        if self.hub is not None:
            await self.hub.add(topic, self)
        else:
            await self.layer.group_add(topic_group(topic), self.channel)

    async def _leave(self, topic: str) -> None:
        if self.hub is not None:
            await self.hub.remove(topic, self)
        else:
            await self.layer.group_discard(topic_group(topic), self.channel)

    async def _replay(self, topics: list[str], since: int) -> None:
        oldest = await database_sync_to_async(event_oldest_id)()
        if since and oldest is not None and since < oldest - 1:
            # Older events were pruned (EVENTS_RETENTION_DAYS): some of what the client missed is gone.
            await self.emit(_control("replay.truncated", topics=topics, since=since, reason="pruned"))
        after, sent = since, 0
        while True:
            rows = await database_sync_to_async(event_list)(topics=topics, after=after, limit=REPLAY_CHUNK)
            delivered = 0
            for row in rows:
                delivered += await self._deliver(row)
            events_replayed(self.transport, delivered)
            sent += len(rows)
            if len(rows) < REPLAY_CHUNK:
                return
            after = rows[-1]["id"]
            if sent >= settings.EVENTS_REPLAY_MAX:
                newest = await database_sync_to_async(event_newest_id)()
                for topic in topics:
                    state = self.topics.get(topic)
                    if state is not None:
                        state.floor = state.last = max(state.last, newest)
                await self.emit(_control("replay.truncated", topics=topics, since=since, reason="too_many"))
                return

    # Delivering --------------------------------------------------------------------------------------------

    async def _deliver(self, message: dict[str, Any]) -> bool:
        """Sends the message unless the client has it already; True if sent."""
        state = self.topics.get(message["topic"])
        if state is None or not state.is_new(message["id"]):
            return False
        state.remember(message["id"])
        await self.emit(message)
        return True

    def offer(self, message: dict[str, Any], wire: dict[str, Any], text: str) -> tuple[Outbox, Any] | None:
        """The hub's event (`message` from the layer, `wire` what the client gets, `text` its JSON): written to the
        socket now when it follows what the client has and nothing else is under way, else left for drain().
        Returns (outbox, what its send waits on) when the send did not end at once: the hub settles it."""
        if self.closed or self.stalled:
            return None
        if self.pending or self.stale or self.lock.locked():
            self._defer(message)
            return None
        state = self.topics.get(wire["topic"])
        if state is None:
            return None
        event_id, prev = wire["id"], message.get("prev")
        if isinstance(prev, int) and prev > state.last and event_id > state.last:
            self._defer(message)  # a hole before it: filled from the table on the transport's task
            return None
        if not state.is_new(event_id):
            return None
        state.remember(event_id)
        outbox = self.outbox
        assert outbox is not None
        waiting_on = outbox.step(text)
        if waiting_on is not None:
            return outbox, waiting_on
        if outbox.task is not None and (
            outbox.pending() > settings.CHANNEL_LAYER_CAPACITY or outbox.waited() > settings.EVENTS_STREAM_SEND_TIMEOUT
        ):
            self.stalled = True
            self._wake()
        return None

    def behind(self, topic: str, newest: int) -> None:
        """The hub's check: the table has `newest` on `topic`. A subscriber that did not get it catches up."""
        state = self.topics.get(topic)
        if state is not None and newest > state.last and not self.closed and not self.stale:
            self.stale = True
            self._wake()

    def _defer(self, message: dict[str, Any]) -> None:
        if len(self.pending) >= settings.CHANNEL_LAYER_CAPACITY:
            # What a full channel would drop: the table still has it all, and drain() catches up from there.
            self.pending.clear()
            self.stale = True
        else:
            self.pending.append(message)
        if len(self.pending) <= 1:
            self._wake()

    def _wake(self) -> None:
        if self.wake is not None:
            self.wake()

    async def drain(self) -> None:
        """On the transport's task: the events the hub could not write at once, in order, then a catch-up from
        the table when some had to be let go. TooSlow when the socket stopped taking frames."""
        if self.stalled:
            raise TooSlow()
        while self.pending and not self.closed:
            await self.live(self.pending.popleft())
        if self.stale and not self.closed:
            self.stale = False
            self.lagging = True
            await self.catch_up()

    async def live(self, message: dict[str, Any]) -> None:
        """A message from the channel layer: {"type": "event.message", "prev", "id", "type"...}."""
        wire = live_wire(message)
        async with self.lock:
            state = self.topics.get(wire["topic"])
            if state is None:
                return
            prev = message.get("prev")
            if isinstance(prev, int) and prev > state.last and wire["id"] > state.last:
                await self._refill(wire["topic"], state.last, before=wire["id"])
            await self._deliver(wire)

    async def _refill(self, topic: str, after: int, *, before: int | None = None) -> None:
        self.lagging = True
        now = time.monotonic()
        self.refills.append(now)
        while self.refills and self.refills[0] < now - 60:
            self.refills.popleft()
        if len(self.refills) > settings.EVENTS_STREAM_MAX_REFILLS:
            raise TooSlow()
        while True:
            rows = await database_sync_to_async(event_list)(
                topics=[topic], after=after, before=before, limit=REPLAY_CHUNK
            )
            for row in rows:
                await self._deliver(row)
            if len(rows) < REPLAY_CHUNK:
                return
            after = rows[-1]["id"]

    # Housekeeping ------------------------------------------------------------------------------------------

    async def check(self) -> list[str]:
        """At a heartbeat or when told access changed: drop what the user may no longer read (returned), fill
        what the table has that the layer did not bring, renew group memberships now and then."""
        if not self.topics:
            return []
        topics = list(self.topics)
        readable = await database_sync_to_async(_readable_now)(self.user, topics)
        lost = [topic for topic in topics if topic not in readable]
        if lost:
            await self.unsubscribe(lost)
        if self.hub is not None:  # the hub compares the topics with the table, once for all its subscribers
            await self.hub.renew()
            return lost
        await self.catch_up()
        async with self.lock:
            if time.monotonic() - self.renewed > 3600:
                self.renewed = time.monotonic()
                for topic in self.topics:
                    await self.layer.group_add(topic_group(topic), self.channel)
        return lost

    async def catch_up(self) -> None:
        """Deliver what the table has past each topic's last delivered event (what the layer did not bring)."""
        async with self.lock:
            self.lagging = False
            last = await database_sync_to_async(event_last_ids)(topics=list(self.topics))
            for topic, newest in last.items():
                state = self.topics.get(topic)
                if state is not None and newest > state.last:
                    await self._refill(topic, state.last)
            self.lagging = False


def _readable_now(user: Any, topics: list[str]) -> set[str]:
    # The user row again: a deactivated account stops reading at once.
    if user is not None and user.is_authenticated:
        try:
            user.refresh_from_db(fields=["is_active", "is_staff"])
        except ObjectDoesNotExist:
            return set()
    return topics_readable(user, topics)


def _control(type_: str, **data: Any) -> dict[str, Any]:
    return ws_message(type_, data)
