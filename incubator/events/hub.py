"""The process's fan-out of live events to its WebSocket subscribers.

A thousand sockets on one job's topic used to be a thousand members of the topic's channel-layer group: every
event became a thousand layer messages and a thousand consumer dispatches, the server's whole time at 20 events
a second (bench/live.py). Instead each event loop has one Hub per channel layer. It joins a topic's group once,
with its own channel, while any of its sockets reads the topic; one task reads that channel and hands each event
to the topic's subscribers (Subscriber.offer), which write it to their socket at once (Outbox) when nothing else
is in the way. Anything out of the ordinary (a hole before the event, a replay or a refill under way, a socket
that does not take its frames) goes to the subscriber's own consumer task, which has the time to deal with it.
"""

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from .selectors import event_last_ids, wire_localized, wire_translated
from .topics import topic_group

logger = logging.getLogger("incubator.websocket")

SETTLE_SECONDS = 0.05  # a fan-out waits this long at most for its sends before leaving the slow ones to tasks
RENEW_SECONDS = 3600  # group memberships are renewed this often (channels_redis lets them expire, group_expiry)

Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _resume(coroutine: Iterator[Any], waiting_on: Any) -> None:
    """Runs a coroutine that Outbox.push started and that stopped at `waiting_on` (what it yielded: the future it
    awaits, or None for a bare yield) to its end, as a Task would have."""
    loop = asyncio.get_running_loop()
    while True:
        if waiting_on is None:
            await asyncio.sleep(0)
        else:
            # asyncio's protocol: the coroutine yielded a future with _asyncio_future_blocking set; its owner
            # clears the flag, waits for the future, then resumes the coroutine, which reads the result itself.
            waiting_on._asyncio_future_blocking = False
            woken = loop.create_future()
            waiting_on.add_done_callback(partial(_set, woken))
            try:
                await woken
            except asyncio.CancelledError:
                close = getattr(coroutine, "close", None)
                if close is not None:
                    close()
                raise
        try:
            waiting_on = next(coroutine)
        except StopIteration:
            return


def _set(future: asyncio.Future[None], _done: Any) -> None:
    if not future.done():
        future.set_result(None)


class Outbox:
    """A socket's outgoing frames, in order, whoever writes them (the hub or the socket's consumer).

    A send is driven by hand, as a Task's first step would (next() on its __await__ iterator: granian's is no
    generator). Where the server takes the frame at once it ends there. Where it yields (granian's sends always
    wait for the server's writer; uvicorn's wait while the client does not read), the hub gathers the waits of
    a whole fan-out and waits for them together (`step`, then `settle`): one wake-up for a thousand sockets,
    where a task per send would cost a thousand. A send still waiting after that finishes in a task, and
    later frames queue behind it (`backlog`), so the order never changes."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.backlog: deque[str] = deque()
        self.stepping: Iterator[Any] | None = None  # a send started by step(), waiting for settle()
        self.task: asyncio.Task[None] | None = None
        self.waiting_since = 0.0  # monotonic time the current wait began
        self.error: BaseException | None = None  # the server refused a frame: the socket is gone
        self.slow_until = 0.0  # until then its sends finish in a task, outside the fan-outs' waits

    def step(self, text: str) -> Any:
        """Starts sending `text` (or queues it behind a send under way). Returns what the send waits on when
        it did not end at once: the caller then calls settle() with it, once it is done or has waited enough."""
        if self.error is not None:
            return None
        if self.task is not None or self.stepping is not None:
            self.backlog.append(text)
            return None
        iterator = self._send({"type": "websocket.send", "text": text}).__await__()
        try:
            waiting_on = next(iterator)
        except StopIteration:
            return None
        except Exception as exc:  # noqa: BLE001 - the socket was closed under us; its consumer is ending
            self.error = exc
            return None
        if waiting_on is None:  # a bare yield (asyncio.sleep(0)): resume it on the next turn of the loop
            waiting_on = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(_set, waiting_on, None)
        self.waiting_since = time.monotonic()
        if self.waiting_since < self.slow_until:  # it kept a fan-out waiting lately: it waits on its own
            self.task = asyncio.ensure_future(self._finish(iterator, waiting_on))
            return None
        self.stepping = iterator
        return waiting_on

    def settle(self, waiting_on: Any) -> None:
        """Carries on the send step() started: to its end when what it waited on is done (the usual case), else
        in a task, which then sends the backlog."""
        iterator, self.stepping = self.stepping, None
        if iterator is None:
            return
        if self.error is not None:  # the socket went (cancel()) while the fan-out waited: nothing to carry on
            close = getattr(iterator, "close", None)
            if close is not None:
                close()
            return
        if waiting_on is not None and waiting_on.done():
            try:
                waiting_on = next(iterator)
            except StopIteration:
                if self.backlog:
                    self.task = asyncio.ensure_future(self._finish(None, None))
                return
            except (Exception, asyncio.CancelledError) as exc:  # noqa: BLE001 - as in step (a cancelled write too)
                self.error = exc
                self.backlog.clear()
                return
        else:
            self.slow_until = time.monotonic() + 1.0
        self.task = asyncio.ensure_future(self._finish(iterator, waiting_on))

    def push(self, text: str) -> None:
        """Sends `text` in order; a send that waits finishes in a task (see flushed())."""
        waiting_on = self.step(text)
        if waiting_on is not None:  # this send started and waits (else it ended, or queued behind another)
            iterator, self.stepping = self.stepping, None
            self.task = asyncio.ensure_future(self._finish(iterator, waiting_on))

    async def _finish(self, iterator: Iterator[Any] | None, waiting_on: Any) -> None:
        try:
            if iterator is not None:
                await _resume(iterator, waiting_on)
            while self.backlog:
                self.waiting_since = time.monotonic()
                await self._send({"type": "websocket.send", "text": self.backlog.popleft()})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - as in step
            self.error = exc
            self.backlog.clear()
        finally:
            self.task = None

    def pending(self) -> int:
        """Frames not yet taken by the server (0 when nothing waits)."""
        busy = self.task is not None or self.stepping is not None
        return len(self.backlog) + 1 if busy else 0

    def waited(self) -> float:
        """Seconds the oldest frame not taken has waited."""
        busy = self.task is not None or self.stepping is not None
        return time.monotonic() - self.waiting_since if busy else 0.0

    async def flushed(self) -> None:
        """Returns once every frame pushed so far was taken by the server."""
        while self.task is not None or self.stepping is not None:
            if self.task is not None:
                await asyncio.shield(self.task)
            else:  # the hub is settling a fan-out that holds a send of this socket
                await asyncio.sleep(SETTLE_SECONDS / 5)

    def cancel(self) -> None:
        """The socket is gone: nothing more is sent, and a send a fan-out still holds is dropped at settle()."""
        self.error = ConnectionError("the socket is closed")
        self.backlog.clear()
        if self.task is not None:
            self.task.cancel()


class Hub:
    """Topics this event loop's sockets read, each joined once to its channel-layer group."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.channel: str | None = None
        self.subscribers: dict[str, dict[Any, None]] = {}  # topic -> subscribers, in the order they came
        self.lock = asyncio.Lock()  # joins and leaves, one at a time: the layer sees them in order
        self.reader: asyncio.Task[None] | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.renewed = time.monotonic()

    async def add(self, topic: str, subscriber: Any) -> None:
        async with self.lock:
            subscribers = self.subscribers.get(topic)
            if subscribers is None:
                if self.channel is None:
                    self.channel = await self.layer.new_channel()  # core layer: all "!" channels must share one prefix
                await self.layer.group_add(topic_group(topic), self.channel)
                subscribers = self.subscribers[topic] = {}
            subscribers[subscriber] = None
            if self.reader is None or self.reader.done():
                self.reader = asyncio.create_task(self._read())
            if self.watcher is None or self.watcher.done():
                self.watcher = asyncio.create_task(self._watch())

    async def remove(self, topic: str, subscriber: Any) -> None:
        async with self.lock:
            subscribers = self.subscribers.get(topic)
            if subscribers is None:
                return
            subscribers.pop(subscriber, None)
            if subscribers:
                return
            del self.subscribers[topic]
            try:
                await self.layer.group_discard(topic_group(topic), self.channel)
            except Exception:  # noqa: BLE001 - the layer is unreachable: its events are ignored here meanwhile
                logger.warning("hub: could not leave the group of %s", topic)
            if not self.subscribers:
                for task in (self.reader, self.watcher):
                    if task is not None:
                        task.cancel()
                # A receive cancelled ends its channel (channels_redis' pub/sub layer forgets it): a new one next time.
                self.reader = self.watcher = self.channel = None

    async def renew(self) -> None:
        """Joins every group again once an hour (a layer that expires memberships, or a Redis that restarted)."""
        if time.monotonic() - self.renewed < RENEW_SECONDS or self.lock.locked():
            return
        async with self.lock:
            self.renewed = time.monotonic()
            for topic in list(self.subscribers):
                await self.layer.group_add(topic_group(topic), self.channel)

    async def _read(self) -> None:
        assert self.channel is not None
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - Redis is unreachable: the subscribers' heartbeats refill later
                logger.warning("hub: the channel layer is unreachable; retrying")
                await asyncio.sleep(1.0)
                continue
            try:
                await self.deliver(message)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad message never stops the process's delivery
                logger.exception("hub: could not deliver a message")

    async def _watch(self) -> None:
        """Every heartbeat, one query for all the topics: a subscriber behind the table's newest event of a topic
        (a publish that failed, the last event of a burst a full layer dropped) catches up from the table. The
        newest ids are compared a moment after they were read, so events still on their way are not taken for
        lost ones."""
        while True:
            await asyncio.sleep(settings.EVENTS_STREAM_HEARTBEAT)
            topics = list(self.subscribers)
            if not topics:
                continue
            try:
                newest = await database_sync_to_async(event_last_ids)(topics=topics)
            except Exception:  # noqa: BLE001 - the database is unreachable: the next beat tries again
                logger.warning("hub: could not read the topics' newest events; retrying at the next heartbeat")
                continue
            await asyncio.sleep(min(1.0, settings.EVENTS_STREAM_HEARTBEAT / 2))
            for topic, event_id in newest.items():
                for subscriber in list(self.subscribers.get(topic, ())):
                    subscriber.behind(topic, event_id)

    async def deliver(self, message: dict[str, Any]) -> None:
        if message.get("type") != "event.message":
            return
        subscribers = self.subscribers.get(message.get("topic"))  # type: ignore[arg-type]
        if not subscribers:
            return
        wire = live_wire(message)
        # An event with stored texts is encoded once per language its readers want, others once for all.
        texts: dict[str | None, str] = {} if wire_translated(wire) else {None: encoded(wire)}
        waits: list[tuple[Outbox, Any]] = []
        for subscriber in list(subscribers):
            try:
                text = texts.get(None) or texts.get(subscriber.language) or ""
                if not text:
                    text = texts[subscriber.language] = encoded(wire, subscriber.language)
                waiting = subscriber.offer(message, wire, text)
            except Exception:  # noqa: BLE001 - one socket's fault never stops the others' delivery
                logger.exception("hub: delivery to %s failed", getattr(subscriber, "channel", "?"))
                continue
            if waiting is not None:
                waits.append(waiting)
        if waits:
            await _settle(waits)


async def _settle(waits: list[tuple[Outbox, Any]]) -> None:
    """Waits (SETTLE_SECONDS at most) until every send the fan-out started is done, then carries each on."""
    loop = asyncio.get_running_loop()
    all_done = loop.create_future()
    left = len(waits)

    def one_done(_done: Any) -> None:
        nonlocal left
        left -= 1
        if left == 0 and not all_done.done():
            all_done.set_result(None)

    for _outbox, waiting_on in waits:
        waiting_on._asyncio_future_blocking = False  # as a Task would, having taken the future
        waiting_on.add_done_callback(one_done)
    try:
        async with asyncio.timeout(SETTLE_SECONDS):
            await all_done
    except TimeoutError:
        pass  # a socket that does not read: its send goes on in a task, behind which its next frames queue
    finally:
        # Even when the hub is cancelled mid-wait (its last topic left): an outbox left stepping would queue its
        # socket's frames for ever.
        for outbox, waiting_on in waits:
            try:
                outbox.settle(waiting_on)
            except Exception:  # noqa: BLE001 - as in deliver
                logger.exception("hub: a send failed")


def live_wire(message: dict[str, Any]) -> dict[str, Any]:
    """What the client receives for a channel-layer event message."""
    return {
        "id": message["id"],
        "type": message["event_type"],
        "topic": message["topic"],
        "ts": message["ts"],
        "data": message["data"],
    }


_hubs: dict[int, tuple[asyncio.AbstractEventLoop, dict[int, Hub]]] = {}


def hub_for(layer: Any) -> Hub:
    """This event loop's hub for `layer` (tests run loops one after another; a server runs one)."""
    loop = asyncio.get_running_loop()
    entry = _hubs.get(id(loop))
    if entry is None or entry[0] is not loop:
        for key, (old, _hub) in list(_hubs.items()):
            if old.is_closed():
                del _hubs[key]
        entry = _hubs[id(loop)] = (loop, {})
    hubs = entry[1]
    hub = hubs.get(id(layer))
    if hub is None or hub.layer is not layer:
        hub = hubs[id(layer)] = Hub(layer)
    return hub


_texts: OrderedDict[tuple[Any, ...], str] = OrderedDict()


def encoded(message: dict[str, Any], language: str | None = None) -> str:
    """The JSON text of a message, for a reader in `language` (selectors.wire_localized); an event's is made once
    per process for all its sockets (a fan-out to a thousand sockets would otherwise encode the same event a
    thousand times), and once per language when it carries stored texts."""
    if not isinstance(message.get("id"), int):
        return json.dumps(message, ensure_ascii=False)
    if not wire_translated(message):
        language = None
    key = (message["id"], message.get("topic"), message.get("type"), message.get("ts"), language)
    text = _texts.get(key)
    if text is None:
        text = _texts[key] = json.dumps(wire_localized(message, language), ensure_ascii=False)
        if len(_texts) > 4096:
            _texts.popitem(last=False)
    return text
