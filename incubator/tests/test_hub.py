"""The process's fan-out (incubator.events.hub): one group membership per topic and process, sends driven without
a task each, waits gathered per fan-out, order kept behind a socket that does not read, and the subscriber's
fast path giving way to its consumer (a replay under way, a hole, an overflow)."""

import asyncio
import gc
from typing import Any
from unittest import mock

import pytest
from channels.layers import InMemoryChannelLayer
from django.test import override_settings

from incubator.asgi import collector_for_serving
from incubator.events import hub as hub_module
from incubator.events.hub import Hub, Outbox, hub_for
from incubator.events.stream import Subscriber, TooSlow, TopicState
from incubator.events.topics import topic_group

from .communicator import run


class Server:
    """An ASGI `send`: takes frames at once, or (held) makes each wait until release()."""

    def __init__(self, held: bool = False) -> None:
        self.held = held
        self.frames: list[str] = []
        self.waiting: list[asyncio.Future[None]] = []
        self.fail = False

    async def send(self, message: dict[str, Any]) -> None:
        if self.fail:
            raise RuntimeError("socket closed")
        if self.held:
            future = asyncio.get_running_loop().create_future()
            self.waiting.append(future)
            await future
        self.frames.append(message["text"])

    def release(self) -> None:
        self.held = False
        for future in self.waiting:
            if not future.done():
                future.set_result(None)


def message(event_id: int, topic: str = "job:1", prev: int | None = None) -> dict[str, Any]:
    return {
        "type": "event.message",
        "event_type": "job.progress",
        "id": event_id,
        "topic": topic,
        "ts": "2026-11-27T00:00:00.000Z",
        "data": {"进度": event_id},
        "prev": prev,
    }


# Outbox --------------------------------------------------------------------------------------------------------


def test_a_frame_the_server_takes_at_once_needs_no_task():
    async def talk():
        server = Server()
        outbox = Outbox(server.send)
        assert outbox.step("一") is None
        outbox.push("二")
        assert server.frames == ["一", "二"]
        assert outbox.task is None and outbox.stepping is None and outbox.pending() == 0

    run(talk())


def test_a_waiting_send_is_settled_once_done_without_a_task():
    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        waiting_on = outbox.step("a")
        assert waiting_on is server.waiting[0]
        assert outbox.step("b") is None  # queued behind the send under way
        server.release()
        outbox.settle(waiting_on)
        assert server.frames == ["a"]
        await outbox.flushed()
        assert server.frames == ["a", "b"]

    run(talk())


def test_a_send_still_waiting_goes_on_in_a_task_and_later_frames_keep_their_order():
    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        waiting_on = outbox.step("1")
        outbox.settle(waiting_on)  # not done: a task finishes it
        assert outbox.task is not None
        for text in "234":
            assert outbox.step(text) is None
        assert outbox.pending() == 4
        await asyncio.sleep(0.01)
        assert server.frames == []
        server.release()
        await asyncio.sleep(0)
        server.held = False
        await asyncio.wait_for(outbox.flushed(), 1)
        assert server.frames == ["1", "2", "3", "4"]
        assert outbox.task is None

    run(talk())


def test_a_server_that_refuses_a_frame_stops_the_outbox():
    async def talk():
        server = Server()
        server.fail = True
        outbox = Outbox(server.send)
        assert outbox.step("x") is None
        assert isinstance(outbox.error, RuntimeError)
        server.fail = False
        outbox.push("y")
        assert server.frames == []

    run(talk())


# Hub -----------------------------------------------------------------------------------------------------------


class Listener:
    """A subscriber as the hub sees it: offered each event."""

    def __init__(self, server: Server | None = None) -> None:
        self.outbox = Outbox((server or Server()).send)
        self.offered: list[int] = []

    def offer(self, message: dict[str, Any], wire: dict[str, Any], text: str) -> Any:
        self.offered.append(wire["id"])
        waiting_on = self.outbox.step(text)
        return None if waiting_on is None else (self.outbox, waiting_on)


def test_a_topic_is_one_group_membership_per_process_whatever_its_sockets():
    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        listeners = [Listener() for _ in range(3)]
        for listener in listeners:
            await hub.add("job:1", listener)
        assert set(layer.groups[topic_group("job:1")]) == {hub.channel}
        await layer.group_send(topic_group("job:1"), message(7))
        await asyncio.sleep(0.05)
        assert [listener.offered for listener in listeners] == [[7], [7], [7]]
        for listener in listeners[:2]:
            await hub.remove("job:1", listener)
        assert topic_group("job:1") in layer.groups
        await hub.remove("job:1", listeners[2])
        assert topic_group("job:1") not in layer.groups  # the last socket gone, the process leaves the group
        assert hub.reader is None and hub.watcher is None

    run(talk())


def test_one_socket_that_does_not_read_holds_up_a_fan_out_for_its_settle_time_only():
    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        stuck_server = Server(held=True)
        stuck, quick = Listener(stuck_server), Listener()
        await hub.add("job:1", stuck)
        await hub.add("job:1", quick)
        started = asyncio.get_running_loop().time()
        await asyncio.wait_for(hub.deliver(message(1)), 2)
        assert asyncio.get_running_loop().time() - started < hub_module.SETTLE_SECONDS + 0.5
        assert stuck.outbox.task is not None  # its send goes on in a task
        await hub.deliver(message(2))
        await hub.deliver(message(3))
        assert list(stuck.outbox.backlog) == [_text(2), _text(3)]
        assert quick.outbox.pending() == 0
        stuck_server.release()
        await asyncio.sleep(0)
        stuck_server.held = False
        await asyncio.wait_for(stuck.outbox.flushed(), 1)
        assert stuck_server.frames == [_text(1), _text(2), _text(3)]
        for listener in (stuck, quick):
            await hub.remove("job:1", listener)

    run(talk())


def test_a_fan_out_cut_short_still_hands_each_waiting_send_on():
    """The hub's reader is cancelled when its last topic goes, possibly mid-fan-out: a socket still open (it only
    unsubscribed) must not keep a send half-done, or its next frames would queue for ever."""

    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        fan_out = asyncio.create_task(hub_module._settle([(outbox, outbox.step("1"))]))
        await asyncio.sleep(0)
        fan_out.cancel()
        with pytest.raises(asyncio.CancelledError):
            await fan_out
        assert outbox.stepping is None and outbox.task is not None
        server.release()
        outbox.push("2")
        await asyncio.wait_for(outbox.flushed(), 1)
        assert server.frames == ["1", "2"]

    run(talk())


def _text(event_id: int) -> str:
    return hub_module.encoded(hub_module.live_wire(message(event_id)))


def test_each_event_loop_has_its_own_hub():
    layer = InMemoryChannelLayer()

    async def one() -> Hub:
        first = hub_for(layer)
        assert hub_for(layer) is first
        assert hub_for(InMemoryChannelLayer()) is not first
        return first

    assert run(one()) is not run(one())


# Subscriber ----------------------------------------------------------------------------------------------------


def subscriber_with(server: Server, woken: list[int]) -> Subscriber:
    subscriber = Subscriber(
        user=None,
        layer=None,
        channel="test",
        emit=_never,
        outbox=Outbox(server.send),
        wake=lambda: woken.append(1),
    )
    subscriber.topics["job:1"] = TopicState(floor=0, last=0)
    return subscriber


async def _never(message: dict[str, Any]) -> None:
    raise AssertionError("the fast path writes through the outbox")


def _offer(subscriber: Subscriber, event: dict[str, Any]) -> Any:
    wire = hub_module.live_wire(event)
    return subscriber.offer(event, wire, hub_module.encoded(wire))


def test_an_event_that_follows_is_written_at_once_and_a_duplicate_is_not():
    async def talk():
        server, woken = Server(), []
        subscriber = subscriber_with(server, woken)
        assert _offer(subscriber, message(1)) is None
        assert _offer(subscriber, message(2, prev=1)) is None
        assert _offer(subscriber, message(2, prev=1)) is None
        assert [frame.count('"id": 2') for frame in server.frames] == [0, 1]
        assert subscriber.topics["job:1"].last == 2 and not woken

    run(talk())


def test_a_hole_or_a_busy_subscriber_leaves_events_to_its_consumer_in_order():
    async def talk():
        server, woken = Server(), []
        subscriber = subscriber_with(server, woken)
        _offer(subscriber, message(5, prev=3))  # 3 and 4 never came: the consumer fills them from the table
        assert server.frames == [] and [m["id"] for m in subscriber.pending] == [5] and woken == [1]
        _offer(subscriber, message(6, prev=5))  # behind it, even though it follows: the order is kept
        assert [m["id"] for m in subscriber.pending] == [5, 6] and woken == [1]
        subscriber.pending.clear()
        async with subscriber.lock:  # a replay under way
            _offer(subscriber, message(7))
        assert [m["id"] for m in subscriber.pending] == [7] and server.frames == []
        _offer(subscriber, message(8))  # no `prev` to tell (a bare publish): still behind what waits
        assert [m["id"] for m in subscriber.pending] == [7, 8] and server.frames == []

    run(talk())


@override_settings(CHANNEL_LAYER_CAPACITY=3)
def test_a_consumer_that_falls_behind_catches_up_from_the_table_instead():
    async def talk():
        server, woken = Server(), []
        subscriber = subscriber_with(server, woken)
        async with subscriber.lock:
            for event_id in range(1, 6):
                _offer(subscriber, message(event_id, prev=event_id - 1 or None))
        assert subscriber.stale  # the pending events were let go: the table has them
        assert [m["id"] for m in subscriber.pending] == [5]
        assert _offer(subscriber, message(9, prev=8)) is None and server.frames == []
        caught: list[bool] = []

        async def catch_up() -> None:
            caught.append(True)

        subscriber.catch_up = catch_up  # type: ignore[method-assign]
        subscriber.live = _live_recorder(server)  # type: ignore[method-assign]
        await subscriber.drain()
        assert caught == [True] and not subscriber.stale

    run(talk())


def _live_recorder(server: Server) -> Any:
    async def live(event: dict[str, Any]) -> None:
        server.frames.append(str(event["id"]))

    return live


def test_the_hub_check_sends_a_subscriber_behind_the_table_to_catch_up():
    server, woken = Server(), []
    subscriber = subscriber_with(server, woken)
    subscriber.topics["job:1"].last = 4
    subscriber.behind("job:1", 4)
    assert not subscriber.stale and not woken
    subscriber.behind("job:1", 5)
    assert subscriber.stale and woken == [1]


@override_settings(CHANNEL_LAYER_CAPACITY=2)
def test_a_socket_that_stopped_taking_frames_is_too_slow():
    async def talk():
        server, woken = Server(held=True), []
        subscriber = subscriber_with(server, woken)
        waiting = _offer(subscriber, message(1))
        assert waiting is not None
        outbox, waiting_on = waiting
        outbox.settle(waiting_on)  # left to a task: the client does not read
        for event_id in range(2, 5):
            assert _offer(subscriber, message(event_id, prev=event_id - 1)) is None
        assert subscriber.stalled and woken
        backlog = len(outbox.backlog)
        _offer(subscriber, message(5, prev=4))
        assert len(outbox.backlog) == backlog  # nothing more is written to it
        with pytest.raises(TooSlow):
            await subscriber.drain()
        outbox.cancel()

    run(talk())


# Found in review: cancellations, bad messages, slow readers, bare yields, failed subscriptions ------------------


def test_unsubscribing_the_last_topic_while_a_fan_out_settles_leaves_the_outbox_working():
    """The hub's only socket unsubscribes while the hub waits for its send: remove() cancels the reader inside
    _settle, which then never settles the outboxes; the socket's next frame (its `unsubscribed`) never goes."""

    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        server = Server(held=True)  # granian: every send waits for the server's writer
        listener = Listener(server)
        await hub.add("job:1", listener)
        await layer.group_send(topic_group("job:1"), message(1))
        await asyncio.sleep(0.01)  # the reader is in _settle, waiting for the send
        assert listener.outbox.stepping is not None
        await hub.remove("job:1", listener)  # the client's `unsubscribe`
        await asyncio.sleep(0.01)
        server.release()  # the server takes the frame
        server.held = False
        listener.outbox.push("unsubscribed")  # the consumer's answer (StreamConsumer.send)
        await asyncio.wait_for(listener.outbox.flushed(), 1)  # TimeoutError: stepping is never cleared
        assert server.frames[-1] == "unsubscribed"

    run(talk())


def test_a_send_whose_future_is_cancelled_does_not_stop_the_hub_reader():
    """One socket's send future is cancelled (as a server may do when its connection goes): settle() lets the
    CancelledError out of next(), _settle only catches Exception, and the reader task ends. No socket of the
    process gets another event until some socket subscribes to a new... anything (add() restarts it)."""

    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        gone_server, quick_server = Server(held=True), Server()
        gone, quick = Listener(gone_server), Listener(quick_server)
        await hub.add("job:1", gone)
        await hub.add("job:1", quick)
        await layer.group_send(topic_group("job:1"), message(1))
        await asyncio.sleep(0.01)
        gone_server.waiting[0].cancel()  # the connection went: its write is cancelled
        await asyncio.sleep(0.01)
        await layer.group_send(topic_group("job:1"), message(2))
        await asyncio.sleep(0.1)
        assert not hub.reader.done(), "the hub's reader died"
        assert quick.offered == [1, 2]

    run(talk())


def test_a_malformed_message_does_not_stop_the_hub_reader():
    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        listener = Listener()
        await hub.add("job:1", listener)
        bad = message(1)
        del bad["ts"]  # an older publisher, a typo: live_wire raises KeyError in the reader
        await layer.group_send(topic_group("job:1"), bad)
        await layer.group_send(topic_group("job:1"), message(2))
        await asyncio.sleep(0.1)
        assert listener.offered == [2]

    run(talk())


def test_a_send_that_yields_a_bare_none_is_resumed():
    """step() reads a bare `yield` (await asyncio.sleep(0) inside the server's send, as websockets' legacy
    drain does on a closing transport) as "ended at once": stepping stays set, nobody resumes the send, the
    frame is never written and every later frame queues behind it for ever."""

    class Yielding(Server):
        async def send(self, message: dict[str, Any]) -> None:
            await asyncio.sleep(0)
            self.frames.append(message["text"])

    async def talk():
        server = Yielding()
        outbox = Outbox(server.send)
        outbox.push("one")
        await asyncio.wait_for(outbox.flushed(), 1)
        assert server.frames == ["one"]

    run(talk())


def test_a_subscribe_that_fails_after_joining_leaves_the_hub():
    """event_last_ids raises (the database blinks) after the hub joined the topic: the topic never reaches
    subscriber.topics, close() does not leave it, and the hub holds the subscriber (and its consumer) and
    the group membership for ever."""

    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        subscriber = Subscriber(user=None, layer=layer, channel="x", emit=None, hub=hub, outbox=None, wake=None)

        def boom(**_kwargs: Any) -> dict[str, int]:
            raise RuntimeError("database unreachable")

        with (
            mock.patch("incubator.events.stream.event_last_ids", boom),
            mock.patch("incubator.events.stream.tail.subscribed", mock.AsyncMock()),
        ):
            with pytest.raises(RuntimeError):
                await subscriber.subscribe(["job:1"], None)
        await subscriber.close()
        assert hub.subscribers == {}, "the closed subscriber is still in the hub"
        assert topic_group("job:1") not in layer.groups

    run(talk())


def test_sockets_that_read_slowly_do_not_hold_up_every_fan_out():
    """Clients that take each frame 60 ms after it is sent (a full TCP window) are never stalled, yet each
    fan-out that includes one whose previous send ended waits SETTLE_SECONDS: the hub does 20 such fan-outs a
    second at most, for every socket of the process. Three topics at 10 events a second, one such client on
    each: a quick client of the three topics falls further behind every second."""

    class Slow(Server):
        async def send(self, message: dict[str, Any]) -> None:
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.06, future.set_result, None)
            await future
            self.frames.append(message["text"])

    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        quick = Listener()
        topics = ["job:1", "job:2", "job:3"]
        for topic in topics:
            await hub.add(topic, Listener(Slow()))
            await hub.add(topic, quick)
        loop = asyncio.get_running_loop()
        sent_at: dict[int, float] = {}
        event_id = 0
        for _tick in range(30):  # 3 s
            for topic in topics:
                event_id += 1
                sent_at[event_id] = loop.time()
                await layer.group_send(topic_group(topic), message(event_id, topic=topic))
            await asyncio.sleep(0.1)
        behind = event_id - len(quick.offered)
        assert behind < 5, f"the quick client is {behind} events ({behind / 30:.1f} s) behind after 3 s"

    run(talk())


def test_a_socket_gone_while_a_fan_out_waits_gets_no_send_task():
    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        waiting_on = outbox.step("1")
        outbox.cancel()  # the consumer's disconnect
        outbox.settle(waiting_on)
        assert outbox.task is None and outbox.stepping is None
        outbox.push("2")
        assert outbox.task is None and not outbox.backlog

    run(talk())


# Paths the review found untested ---------------------------------------------------------------------------------


def test_a_hub_joins_its_groups_again_once_an_hour():
    async def talk():
        layer = InMemoryChannelLayer()
        hub = Hub(layer)
        listener = Listener()
        await hub.add("job:1", listener)
        layer.groups.clear()  # what an expiry or a Redis restart does to the memberships
        await hub.renew()
        assert topic_group("job:1") not in layer.groups  # not an hour yet
        hub.renewed -= hub_module.RENEW_SECONDS + 1
        await hub.renew()
        assert set(layer.groups[topic_group("job:1")]) == {hub.channel}
        await hub.remove("job:1", listener)

    run(talk())


def test_the_hubs_of_closed_event_loops_are_let_go():
    layer = InMemoryChannelLayer()
    loops: list[asyncio.AbstractEventLoop] = []  # kept alive, so that no new loop takes an old one's id

    async def one() -> None:
        loops.append(asyncio.get_running_loop())
        hub_for(layer)

    for _ in range(3):
        run(one())
    kept = [loop for loop, _hubs in hub_module._hubs.values()]
    assert loops[0] not in kept and loops[1] not in kept  # pruned when the next loop made its hub


@override_settings(EVENTS_STREAM_SEND_TIMEOUT=0)
def test_a_socket_whose_frame_waited_past_the_send_timeout_is_too_slow():
    async def talk():
        server, woken = Server(held=True), []
        subscriber = subscriber_with(server, woken)
        outbox, waiting_on = _offer(subscriber, message(1))
        outbox.settle(waiting_on)
        await asyncio.sleep(0.01)
        assert _offer(subscriber, message(2, prev=1)) is None
        assert subscriber.stalled and woken  # one frame behind only, but waiting too long
        outbox.cancel()

    run(talk())


def test_flushed_waits_while_a_fan_out_holds_the_sockets_send():
    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        waiting_on = outbox.step("1")
        outbox.push("2")  # the consumer's own frame, behind the hub's
        flushed = asyncio.create_task(outbox.flushed())
        await asyncio.sleep(0.03)
        assert not flushed.done()
        server.release()
        server.held = False
        outbox.settle(waiting_on)
        await asyncio.wait_for(flushed, 1)
        assert server.frames == ["1", "2"]

    run(talk())


def test_a_push_that_waits_finishes_in_a_task():
    """Under granian every send waits a turn: the consumer's own frames (authenticated, subscribed, replays)."""

    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        outbox.push("1")
        assert outbox.task is not None and outbox.stepping is None
        server.release()
        await asyncio.wait_for(outbox.flushed(), 1)
        assert server.frames == ["1"]

    run(talk())


def test_a_fan_out_whose_sends_all_end_at_once_does_not_wait_its_settle_time():
    async def talk():
        server = Server(held=True)
        outbox = Outbox(server.send)
        waiting_on = outbox.step("1")
        asyncio.get_running_loop().call_soon(server.release)
        started = asyncio.get_running_loop().time()
        await hub_module._settle([(outbox, waiting_on)])
        assert asyncio.get_running_loop().time() - started < hub_module.SETTLE_SECONDS / 2
        assert server.frames == ["1"] and outbox.task is None

    run(talk())


# The collector ---------------------------------------------------------------------------------------------------


def test_a_serving_process_freezes_what_it_loaded_and_collects_less_often():
    before = gc.get_threshold()
    try:
        collector_for_serving()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (50_000, 20, 20)
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
