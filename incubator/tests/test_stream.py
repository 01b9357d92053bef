"""/ws/v1/stream in-process (the in-memory layer): authentication, topics and access, replay with `since`, live
delivery after commit, holes filled from the table, and the close codes."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.test import override_settings
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.tests.factories import UserFactory
from incubator.asgi import application
from incubator.events.models import Event
from incubator.events.services import event_record
from incubator.events.topics import topic_group
from projects import services as project_services
from projects.models import Project
from projects.tests.factories import add_member, make_project

from .communicator import WebsocketCommunicator, run

pytestmark = pytest.mark.django_db(transaction=True)


async def in_thread(fn, *args, **kwargs):
    """Sync database work from a test's event loop, in a thread that gives its connection back (the pool)."""
    return await database_sync_to_async(fn)(*args, **kwargs)


def _token(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


async def token_for(user) -> str:
    return await in_thread(_token, user)


def record(topic: str, n: int = 1, type_: str = "project.updated") -> list[int]:
    ids = []
    for i in range(n):
        with transaction.atomic():
            ids.append(
                event_record(
                    type=type_, topic=topic, subject_type="test", subject_id=i, payload={"n": i, "名": "项目"}
                ).id
            )
    return ids


TRANSLATED_TEXTS = {
    "stage": {"en": "Failed", "zh-hans": "失败"},
    "error.message": {"en": "No data", "zh-hans": "没有数据"},
}


def record_translated(topic: str) -> int:
    """An event whose stored texts (written in English by a worker) carry their translations."""
    with transaction.atomic():
        return event_record(
            type="project.updated",
            topic=topic,
            subject_type="test",
            subject_id=0,
            payload={"stage": "Failed", "error": {"code": "X", "message": "No data"}, "名": "项目"},
            translations={**TRANSLATED_TEXTS, "unknown.path": {"en": "x"}, "empty": None},
        ).id


def test_localizing_an_event_copies_what_it_changes():
    from incubator.events.selectors import wire_localized

    stored = {"stage": "Failed", "error": {"code": "X", "message": "No data"}, "_translations": TRANSLATED_TEXTS}
    wire = {"id": 1, "type": "project.updated", "topic": "project:1", "ts": "t", "data": stored}
    assert wire_localized(wire, "zh-hans")["data"]["error"] == {"code": "X", "message": "没有数据"}
    assert stored["error"]["message"] == "No data" and "_translations" in stored  # shared by every reader
    assert wire_localized(wire, "fr")["data"] == {"stage": "Failed", "error": {"code": "X", "message": "No data"}}
    plain = {**wire, "data": {"n": 1}}
    assert wire_localized(plain, "en") is plain


def in_chinese(event: dict) -> bool:
    """The translated event's texts, read in Chinese (and nothing of its translations left in it)."""
    assert event["data"] == {"stage": "失败", "error": {"code": "X", "message": "没有数据"}, "名": "项目"}, event
    return True


async def opened(subprotocols=None):
    ws = WebsocketCommunicator(application, "/ws/v1/stream", subprotocols=subprotocols)
    accepted, subprotocol = await ws.connect()
    assert accepted
    return ws, subprotocol


async def authed(user):
    ws, _ = await opened()
    await ws.send_json_to({"type": "auth", "token": await token_for(user)})
    message = await ws.receive_json_from()
    assert message["type"] == "authenticated" and message["data"]["user_id"] == user.pk
    return ws


async def closed_with(ws, code: int) -> dict:
    """The error message the server sent, then the close code."""
    error = await ws.receive_json_from()
    assert error["type"] == "error"
    assert (await ws.receive_output())["code"] == code
    return error["data"]


async def subscribe(ws, topics, since=None):
    await ws.send_json_to({"type": "subscribe", "topics": topics, "since": since})
    message = await ws.receive_json_from()
    assert message["type"] == "subscribed", message
    return message


async def events(ws, count: int, timeout: float = 3) -> list[dict]:
    got = [await ws.receive_json_from(timeout=timeout) for _ in range(count)]
    assert all(message["type"] not in {"error", "heartbeat"} for message in got), got
    return got


# Authentication ------------------------------------------------------------------------------------------------


def test_auth_message_then_subscribe_and_live_events_after_commit():
    owner = UserFactory()
    project = make_project(owner)

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [f"project:{project.pk}"])
        assert await ws.receive_nothing(0.1)
        await in_thread(project_services.project_update, project=project, actor=owner, data={"description": "新的描述"})
        [event] = await events(ws, 1)
        assert event["type"] == "project.updated" and event["topic"] == f"project:{project.pk}"
        assert set(event) == {"id", "type", "topic", "ts", "data"}
        assert event["data"]["changed"] == ["description"] and event["ts"].endswith("Z")
        latest = await in_thread(lambda: Event.objects.filter(topic=f"project:{project.pk}").latest("id").id)
        assert event["id"] == latest
        await ws.disconnect()

    run(talk())


def test_token_in_the_subprotocol_header_and_the_offered_protocol_is_chosen():
    user = UserFactory()

    async def talk():
        ws, chosen = await opened(["incubator.v1", f"bearer.{await token_for(user)}"])
        assert chosen == "incubator.v1"  # never the token
        assert (await ws.receive_json_from())["type"] == "authenticated"
        await subscribe(ws, [f"user:{user.pk}"])
        await ws.disconnect()

    run(talk())


@override_settings(EVENTS_STREAM_AUTH_TIMEOUT=0.2)
def test_no_token_in_time_closes_4001():
    async def talk():
        ws, _ = await opened()
        data = await closed_with(ws, 4001)
        assert data["error_code"] == "NOT_AUTHENTICATED" and data["status_code"] == 401

    run(talk())


@pytest.mark.parametrize("token", ["", "abc.def.ghi", 12, None, "x" * 5000])
def test_bad_token_closes_4001(token):
    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "auth", "token": token})
        assert (await closed_with(ws, 4001))["error_code"] == "TOKEN_INVALID"

    run(talk())


def test_expired_token_closes_4001_saying_so():
    user = UserFactory()
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=1))

    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "auth", "token": str(token)})
        assert (await closed_with(ws, 4001))["error_code"] == "TOKEN_EXPIRED"

    run(talk())


def test_a_token_expiring_during_the_session_closes_4001():
    user = UserFactory()
    token = AccessToken.for_user(user)
    # `exp` is whole seconds (rounded down): a 1 s lifetime left 0 to 1 s, gone before the socket asked when the
    # token was made late in a second. 2 s leaves at least one.
    token.set_exp(lifetime=timedelta(seconds=2))

    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "auth", "token": str(token)})
        assert (await ws.receive_json_from())["type"] == "authenticated"
        error = await ws.receive_json_from(timeout=3)
        assert error["data"]["error_code"] == "TOKEN_EXPIRED"
        assert (await ws.receive_output(timeout=2))["code"] == 4001

    run(talk())


def test_subscribing_before_auth_closes_4001():
    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "subscribe", "topics": ["project:1"]})
        assert (await closed_with(ws, 4001))["error_code"] == "NOT_AUTHENTICATED"

    run(talk())


def test_a_deactivated_user_is_refused():
    user = UserFactory(is_active=False)

    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "auth", "token": await token_for(user)})
        assert (await closed_with(ws, 4001))["error_code"] == "TOKEN_INVALID"

    run(talk())


# Messages -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"type": "subscribe", "topics": []},
        {"type": "subscribe", "topics": ""},
        {"type": "subscribe", "topics": ["project:0"]},
        {"type": "subscribe", "topics": ["nothing:1"]},
        {"type": "subscribe", "topics": [{"a": 1}]},
        {"type": "subscribe", "topics": ["project:1"], "since": -1},
        {"type": "subscribe", "topics": ["project:1"], "since": "x"},
        {"type": "subscribe", "topics": ["project:1"], "since": True},
        {"type": "dance"},
        {"data": 1},
    ],
)
def test_a_malformed_message_gets_an_error_and_closes_4400(message):
    user = UserFactory()

    async def talk_with_message():
        ws = await authed(user)
        await ws.send_json_to(message)
        data = await closed_with(ws, 4400)
        assert data["error_code"] == "INVALID_INPUT" and data["status_code"] == 400

    run(talk_with_message())


@pytest.mark.parametrize("frame", [{"text": "not json"}, {"text": "[1]"}, {"bytes": b"{}"}])
def test_a_frame_that_is_not_a_json_object_closes_4400(frame):
    async def talk():
        ws, _ = await opened()
        await ws.send_input({"type": "websocket.receive", **frame})
        assert (await closed_with(ws, 4400))["error_code"] == "INVALID_INPUT"

    run(talk())


def test_ping_pong_before_and_after_auth():
    user = UserFactory()

    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "ping", "echo": "你好"})
        assert (await ws.receive_json_from())["data"]["echo"] == "你好"
        await ws.send_json_to({"type": "auth", "token": await token_for(user)})
        await ws.receive_json_from()
        await ws.send_json_to({"type": "ping"})
        assert (await ws.receive_json_from())["type"] == "pong"
        await ws.disconnect()

    run(talk())


# Access -----------------------------------------------------------------------------------------------------------


def test_forbidden_topics_get_an_error_and_no_data_while_readable_ones_are_subscribed():
    owner, stranger = UserFactory(), UserFactory()
    private = make_project(owner, visibility="private")
    public = make_project(owner, name="公开项目")

    async def talk():
        ws = await authed(stranger)
        topics = [f"project:{private.pk}", f"project:{public.pk}", f"user:{owner.pk}", "job:999999", "dataset:999999"]
        await ws.send_json_to({"type": "subscribe", "topics": topics, "since": 0})
        error = await ws.receive_json_from()
        assert error["type"] == "error" and error["data"]["status_code"] == 403
        assert error["data"]["details"]["topics"] == [topics[0], *topics[2:]]
        subscribed = await ws.receive_json_from()
        assert subscribed["type"] == "subscribed" and subscribed["data"]["topics"] == [f"project:{public.pk}"]
        replayed = [await ws.receive_json_from() for _ in range(1)]
        assert [m["topic"] for m in replayed] == [f"project:{public.pk}"]  # its project.created, nothing private
        await in_thread(record, f"project:{private.pk}")
        assert await ws.receive_nothing(0.3)
        await ws.disconnect()

    run(talk())


def test_a_member_removed_from_a_private_project_stops_receiving_it():
    owner = UserFactory()
    project = make_project(owner, visibility="private")
    member = add_member(project, "member")
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(member)
        await subscribe(ws, [topic])
        await in_thread(project_services.member_remove, project=project, actor=owner, user_id=member.pk)
        removed = await ws.receive_json_from()
        assert removed["type"] == "member.removed"
        error = await ws.receive_json_from()
        assert error["type"] == "error" and error["data"]["details"]["topics"] == [topic]
        assert (await ws.receive_json_from())["type"] == "unsubscribed"
        await in_thread(record, topic)
        assert await ws.receive_nothing(0.3)
        await ws.disconnect()

    run(talk())


@override_settings(EVENTS_STREAM_HEARTBEAT=0.3)
def test_a_project_made_private_is_dropped_at_the_next_heartbeat():
    owner, reader = UserFactory(), UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(reader)
        await subscribe(ws, [topic])
        await in_thread(Project.objects.filter(pk=project.pk).update, visibility="private")
        error = await ws.receive_json_from(timeout=3)
        assert error["type"] == "error" and error["data"]["error_code"] == "PERMISSION_DENIED"
        assert (await ws.receive_json_from())["type"] == "unsubscribed"
        await ws.disconnect()

    run(talk())


# Replay, holes, duplicates ------------------------------------------------------------------------------------------


def test_reconnecting_with_since_receives_exactly_the_missed_events_in_order():
    owner = UserFactory()
    project = make_project(owner)
    other = make_project(owner, name="另一个")
    topic = f"project:{project.pk}"

    async def talk():
        first = await in_thread(record, topic, 3)
        await in_thread(record, f"project:{other.pk}", 2)  # not subscribed: never sent
        ws = await authed(owner)
        await subscribe(ws, [topic], since=first[0])
        got = await events(ws, 2)
        assert [m["id"] for m in got] == first[1:]
        assert await ws.receive_nothing(0.2)
        await ws.disconnect()
        missed = await in_thread(record, topic, 4)
        ws = await authed(owner)
        await subscribe(ws, [topic], since=first[-1])
        live = asyncio.create_task(in_thread(record, topic, 2))
        got = await events(ws, 6)
        await live
        ids = [m["id"] for m in got]
        assert ids[:4] == missed and len(set(ids)) == 6 and ids == sorted(ids)
        assert await ws.receive_nothing(0.3)
        await ws.disconnect()

    run(talk())


def test_a_dropped_live_message_is_filled_from_the_table_before_the_next():
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [topic])
        # Two events committed but never published (a full channel, a failed publish), then one that is.
        lost = await in_thread(_unpublished, topic, 2)
        shown = await in_thread(record, topic)
        got = await events(ws, 3)
        assert [m["id"] for m in got] == [*lost, *shown]
        await ws.disconnect()

    run(talk())


@override_settings(EVENTS_STREAM_HEARTBEAT=0.3, EVENTS_TAIL=False)
def test_a_lost_last_event_arrives_at_the_next_heartbeat():
    """The hub compares its topics with the table at every heartbeat (and lets events on their way arrive
    first, half a beat here): a subscriber behind it catches up. (Without the tail, which would bring it too.)"""
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [topic])
        lost = await in_thread(_unpublished, topic, 1)
        for _beat in range(5):  # a beat or two may come first
            if (message := await ws.receive_json_from(timeout=2))["type"] != "heartbeat":
                break
        assert message["id"] == lost[0]
        assert (await ws.receive_json_from(timeout=2))["type"] == "heartbeat"
        await ws.disconnect()

    run(talk())


def test_the_sockets_of_a_process_share_one_group_membership_per_topic():
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        sockets = [await authed(owner) for _ in range(3)]
        for ws in sockets:
            await subscribe(ws, [topic])
        layer = get_channel_layer()
        if isinstance(layer, InMemoryChannelLayer):
            assert len(layer.groups[topic_group(topic)]) == 1  # the hub's channel, not one per socket
        [event_id] = await in_thread(record, topic)
        for ws in sockets:
            assert [m["id"] for m in await events(ws, 1)] == [event_id]
        for ws in sockets:
            await ws.disconnect()
        if isinstance(layer, InMemoryChannelLayer):
            assert topic_group(topic) not in layer.groups
        # The process left the topic's group and stopped reading its channel: it starts again for a new socket.
        ws = await authed(owner)
        await subscribe(ws, [topic])
        [event_id] = await in_thread(record, topic)
        assert [m["id"] for m in await events(ws, 1)] == [event_id]
        await ws.disconnect()

    run(talk())


def test_a_message_published_twice_is_delivered_once():
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [topic])
        [event_id] = await in_thread(record, topic)
        [first] = await events(ws, 1)
        layer = get_channel_layer()
        message = {**first, "type": "event.message", "event_type": first["type"], "prev": None}
        await layer.group_send(topic_group(topic), message)
        assert await ws.receive_nothing(0.3)
        assert first["id"] == event_id
        await ws.disconnect()

    run(talk())


@override_settings(EVENTS_STREAM_MAX_REFILLS=1)
def test_a_client_that_keeps_falling_behind_is_closed_4008():
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [topic])
        await in_thread(_unpublished, topic, 1)
        await in_thread(record, topic)
        await events(ws, 2)  # one hole filled: still fine
        await in_thread(_unpublished, topic, 1)
        await in_thread(record, topic)
        data = await closed_with(ws, 4008)
        assert data["error_code"] == "TOO_SLOW"

    run(talk())


def _unpublished(topic: str, n: int) -> list[int]:
    return [
        Event.objects.create(type="project.updated", topic=topic, subject_type="t", subject_id=i, payload={}).id
        for i in range(n)
    ]


@override_settings(EVENTS_TAIL=True)  # the embedded default; with Redis the writer's publish brings them
def test_events_written_by_another_process_arrive_through_the_tail():
    """The in-memory layer is per process: a Celery worker's event reaches this process by the table's tail."""
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [topic])
        started = time.monotonic()
        # Written and never published here: what a worker's row looks like to this process.
        ids = await in_thread(_unpublished, topic, 3)
        got = await events(ws, 3, timeout=3)
        assert [m["id"] for m in got] == ids and time.monotonic() - started < 3
        await ws.disconnect()

    run(talk())


def test_event_record_refuses_a_type_missing_from_the_catalogue():
    with pytest.raises(ValueError), transaction.atomic():
        event_record(type="project.exploded", topic="project:1", subject_type="p", subject_id=1, payload={})
    with pytest.raises(ValueError), transaction.atomic():
        event_record(type="job.status", topic="project:1", subject_type="p", subject_id=1, payload={})


# Revocation -------------------------------------------------------------------------------------------------------


@override_settings(EVENTS_STREAM_HEARTBEAT=0.3)
def test_a_password_change_closes_the_stream_at_the_next_heartbeat():
    from accounts.models import User

    user = UserFactory()

    async def talk():
        ws = await authed(user)
        await in_thread(lambda: User.objects.filter(pk=user.pk).update(token_generation=5))
        data = await closed_with(ws, 4001)
        assert data["error_code"] == "TOKEN_INVALID"

    run(talk())


@override_settings(EVENTS_STREAM_HEARTBEAT=0.3)
def test_a_deactivated_account_is_closed_4003_even_with_no_topics():
    from accounts.models import User

    user = UserFactory()

    async def talk():
        ws = await authed(user)
        await in_thread(lambda: User.objects.filter(pk=user.pk).update(is_active=False))
        assert (await closed_with(ws, 4003))["error_code"] == "PERMISSION_DENIED"

    run(talk())


# Applications ---------------------------------------------------------------------------------------------------


def test_applications_reach_their_deciders_and_the_applicant_not_the_public():
    owner, applicant, visitor = UserFactory(), UserFactory(), UserFactory()
    project = make_project(owner, status="recruiting")

    async def talk():
        deciders, mine, public = await authed(owner), await authed(applicant), await authed(visitor)
        await subscribe(deciders, [f"applications:{project.pk}"])
        await subscribe(mine, [f"user:{applicant.pk}"])
        await subscribe(public, [f"project:{project.pk}"])
        await visitor_cannot(public, f"applications:{project.pk}")
        await in_thread(project_services.application_submit, project=project, applicant=applicant, message="我想加入")
        [seen] = await events(deciders, 1)
        [own] = await events(mine, 1)
        assert seen["type"] == own["type"] == "application.submitted" and seen["data"] == own["data"]
        assert await public.receive_nothing(0.3)
        for ws in (deciders, mine, public):
            await ws.disconnect()

    async def visitor_cannot(ws, topic):
        await ws.send_json_to({"type": "subscribe", "topics": [topic]})
        assert (await ws.receive_json_from())["data"]["status_code"] == 403

    run(talk())


def test_stored_texts_of_an_event_reach_each_socket_in_its_handshakes_language():
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"

    async def connected(language: bytes):
        ws = WebsocketCommunicator(application, "/ws/v1/stream", headers=[(b"accept-language", language)])
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "auth", "token": await token_for(owner)})
        assert (await ws.receive_json_from())["type"] == "authenticated"
        return ws

    async def talk():
        english, chinese = await connected(b"en-US,en;q=0.9"), await connected(b"zh-CN,zh;q=0.9")
        for ws in (english, chinese):  # both read the topic through the process's one hub
            await subscribe(ws, [topic])
        event_id = await in_thread(record_translated, topic)
        [in_english] = await events(english, 1)
        [read_in_chinese] = await events(chinese, 1)
        assert in_english["id"] == read_in_chinese["id"] == event_id
        assert in_english["data"] == {"stage": "Failed", "error": {"code": "X", "message": "No data"}, "名": "项目"}
        assert in_chinese(read_in_chinese)
        # Replayed from the table (a reconnect with since), in the new socket's language too.
        await chinese.disconnect()
        again = await connected(b"zh-hans")
        await subscribe(again, [topic], since=event_id - 1)
        assert in_chinese((await events(again, 1))[0])
        for ws in (english, again):
            await ws.disconnect()
        # The stored payload is untouched by the readers' copies.
        stored = await in_thread(lambda: Event.objects.get(pk=event_id).payload)
        assert stored["stage"] == "Failed" and stored["_translations"] == {
            **TRANSLATED_TEXTS,
            "unknown.path": {"en": "x"},
        }

    run(talk())


# Polling, the WSGI half of SSE, pruning ------------------------------------------------------------------------------


def test_polling_pages_through_a_topic_with_after(auth_client):
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"
    ids = [Event.objects.get(topic=topic).id, *record(topic, 4)]
    client = auth_client(owner)
    first = client.get("/api/v1/events", {"topics": topic, "limit": 3})
    assert first.status_code == 200
    body = first.json()
    assert [e["id"] for e in body["events"]] == ids[:3] and body["has_more"] and body["last_id"] == ids[2]
    assert set(body["events"][0]) == {"id", "type", "topic", "ts", "data"}
    rest = client.get("/api/v1/events", {"topics": topic, "after": body["last_id"]}).json()
    assert [e["id"] for e in rest["events"]] == ids[3:] and not rest["has_more"]
    empty = client.get("/api/v1/events", {"topics": topic, "after": ids[-1]}).json()
    assert empty == {"events": [], "last_id": ids[-1], "has_more": False}


def test_polling_and_the_wsgi_event_stream_read_stored_texts_in_the_requests_language(auth_client):
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"
    event_id = record_translated(topic)
    client = auth_client(owner)
    polled = client.get("/api/v1/events", {"topics": topic, "after": event_id - 1}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert in_chinese(polled.json()["events"][0])
    polled = client.get("/api/v1/events", {"topics": topic, "after": event_id - 1}, HTTP_ACCEPT_LANGUAGE="en")
    assert polled.json()["events"][0]["data"]["error"] == {"code": "X", "message": "No data"}
    streamed = client.get(
        "/api/v1/events/stream",
        {"topics": topic},
        HTTP_LAST_EVENT_ID=str(event_id - 1),
        HTTP_ACCEPT="text/event-stream",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    [data] = [line[6:] for line in streamed.content.decode().splitlines() if line.startswith("data: ")]
    assert in_chinese(json.loads(data))


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({}, 400, "INVALID_INPUT"),
        ({"topics": "nothing:1"}, 400, "INVALID_INPUT"),
        ({"topics": "project:1", "after": "-1"}, 400, "INVALID_INPUT"),
        ({"topics": "project:1", "limit": "0"}, 400, "INVALID_INPUT"),
        ({"topics": "user:999999"}, 403, "PERMISSION_DENIED"),
    ],
)
def test_polling_refusals(auth_client, params, status, code):
    response = auth_client(UserFactory()).get("/api/v1/events", params)
    assert response.status_code == status and response.json()["error_code"] == code


def test_polling_and_sse_need_a_logged_in_user(api_client):
    for path in ("/api/v1/events", "/api/v1/events/stream"):
        response = api_client.get(path, {"topics": "project:1"})
        assert response.status_code == 401 and response.json()["error_code"] == "NOT_AUTHENTICATED"


def test_the_wsgi_event_stream_replays_after_last_event_id_and_ends(auth_client):
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"
    ids = record(topic, 3)
    response = auth_client(owner).get(
        "/api/v1/events/stream", {"topics": topic}, HTTP_LAST_EVENT_ID=str(ids[0]), HTTP_ACCEPT="text/event-stream"
    )
    assert response.status_code == 200 and response["Content-Type"].startswith("text/event-stream")
    text = response.content.decode()
    assert text.startswith("retry: ")
    assert [int(line[4:]) for line in text.splitlines() if line.startswith("id: ")] == ids[1:]


def test_prune_deletes_only_events_past_the_retention(settings):
    from django.utils import timezone

    from incubator.events.services import events_prune

    settings.EVENTS_RETENTION_DAYS = 7
    old, recent = record("project:1", 3), record("project:1", 2)
    Event.objects.filter(id__in=old).update(created_at=timezone.now() - timedelta(days=8))
    Event.objects.filter(id=recent[0]).update(created_at=timezone.now() - timedelta(days=6, hours=23))
    assert events_prune(batch=2) == 3
    assert list(Event.objects.filter(id__in=old + recent).values_list("id", flat=True)) == recent


def test_replay_after_pruned_events_says_it_is_truncated():
    owner = UserFactory()
    project = make_project(owner)
    topic = f"project:{project.pk}"
    ids = record(topic, 4)
    Event.objects.filter(id__lte=ids[1]).delete()

    async def talk():
        ws = await authed(owner)
        await subscribe(ws, [topic], since=ids[0] - 1)
        truncated = await ws.receive_json_from()
        assert truncated["type"] == "replay.truncated" and truncated["data"]["reason"] == "pruned"
        assert [m["id"] for m in await events(ws, 2)] == ids[2:]
        await ws.disconnect()

    run(talk())


def test_a_refused_subscription_is_told_in_the_handshakes_language():
    owner, stranger = UserFactory(), UserFactory()
    project = make_project(owner, visibility="private")

    async def talk():
        ws = WebsocketCommunicator(application, "/ws/v1/stream", headers=[(b"accept-language", b"en-US,en;q=0.9")])
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "auth", "token": await token_for(stranger)})
        assert (await ws.receive_json_from())["type"] == "authenticated"
        await ws.send_json_to({"type": "subscribe", "topics": [f"project:{project.pk}"]})
        error = await ws.receive_json_from()
        assert error["type"] == "error" and error["data"]["message"] == "You may not read these topics."
        await ws.disconnect()

    run(talk())


def test_errors_follow_the_handshakes_accept_language():
    async def talk():
        ws = WebsocketCommunicator(application, "/ws/v1/stream", headers=[(b"accept-language", b"zh-CN,zh;q=0.9")])
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "subscribe", "topics": ["project:1"]})
        data = await closed_with(ws, 4001)
        assert data["message"] == '请先发送 {"type": "auth", "token": ...}。'

    run(talk())


def test_job_and_dataset_topics_follow_their_projects_visibility(fs_storage):
    from aimodels import services as job_services
    from aimodels.tests.factories import ready_version, spec
    from incubator.events.topics import topics_readable

    owner, member, stranger, admin = UserFactory(), UserFactory(), UserFactory(), UserFactory(is_staff=True)
    project = make_project(owner, visibility="private")
    add_member(project, "mentor", member)
    version = ready_version(project, owner, rows=60)
    job = job_services.job_create(project=project, version=version, actor=owner, data=spec())
    topics = [f"job:{job.pk}", f"dataset:{version.dataset_id}", f"project:{project.pk}", f"applications:{project.pk}"]
    assert topics_readable(owner, topics) == set(topics)
    assert topics_readable(admin, topics) == set(topics)
    assert topics_readable(member, topics) == set(topics[:3])  # a mentor reads, but does not decide applications
    assert topics_readable(stranger, topics) == set()
    Project.objects.filter(pk=project.pk).update(visibility="public")
    assert topics_readable(stranger, topics) == set(topics[:3])


# Redis (the channel layer, the revocation marks) unreachable ---------------------------------------------------


def _session_token(user):
    from accounts.tokens import token_pair_for

    return token_pair_for(user)


@override_settings(EVENTS_STREAM_HEARTBEAT=0.2)
def test_checks_survive_a_channel_layer_outage_and_a_message_meanwhile_closes_1013(monkeypatch):
    """The heartbeat that re-checks the token wakes the consumer through the channel layer. A failed wake-up
    killed its timer for good, so a session logged out during a Redis blip kept its socket (and replays)."""
    from accounts.tokens import session_revoke

    user = UserFactory()
    refresh = _session_token(user)
    layer = get_channel_layer()
    real_send = layer.send

    async def unreachable(channel, message):
        raise ConnectionError("Error 111 connecting to redis. Connection refused.")

    async def talk():
        ws, _ = await opened()
        await ws.send_json_to({"type": "auth", "token": str(refresh.access_token)})
        assert (await ws.receive_json_from())["type"] == "authenticated"
        monkeypatch.setattr(layer, "send", unreachable)
        await asyncio.sleep(0.6)  # ticks fail meanwhile
        await ws.send_json_to({"type": "ping"})
        data = await closed_with(ws, 1013)
        assert (data["error_code"], data["details"]["unavailable"]) == ("SERVICE_UNAVAILABLE", ["cache"])
        await ws.disconnect()  # the consumer ends here, not in a later test

        ws, _ = await opened()  # a second socket: the outage ends, its session is logged out meanwhile
        await ws.send_json_to({"type": "auth", "token": str(refresh.access_token)})
        assert (await ws.receive_json_from())["type"] == "authenticated"
        await asyncio.sleep(0.6)
        await in_thread(session_revoke, refresh)
        monkeypatch.setattr(layer, "send", real_send)
        while (message := await ws.receive_json_from(timeout=5))["type"] == "heartbeat":
            pass
        assert message["type"] == "error" and message["data"]["error_code"] == "TOKEN_INVALID"
        assert (await ws.receive_output())["code"] == 4001
        await ws.disconnect()

    monkeypatch.setattr(layer, "send", real_send)
    run(talk())


def test_a_stream_token_checked_while_the_cache_is_down_is_503_not_token_invalid(settings):
    """A client throws a TOKEN_INVALID token away: a Redis blip must not log every live user out."""
    from incubator.events.auth import StreamAuthError, stream_authenticate

    token = str(_session_token(UserFactory()).access_token)
    settings.CACHES = {
        "default": {
            "BACKEND": "incubator.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    with pytest.raises(StreamAuthError) as refused:
        stream_authenticate(token)
    assert (refused.value.error.status_code, refused.value.error.details) == (503, {"unavailable": ["cache"]})


# Loops one after another (tests) -------------------------------------------------------------------------------------


def test_a_receive_cancelled_in_one_loop_does_not_break_the_next_loops_receives():
    """channels_redis' core layer leaves a per-channel clean lock behind when a receive is cancelled while waiting
    for it (#313); a later loop's receive on the process's channel then failed with "bound to a different event
    loop" (CI's lists step, twice). `run` gives each loop a new layer, as a server's one loop has its own."""
    from channels_redis.core import RedisChannelLayer

    if not isinstance(get_channel_layer(), RedisChannelLayer):
        pytest.skip("only channels_redis' core layer (CHANNEL_LAYER_KIND=lists) keeps these locks")

    async def cancel_waiting_receives():
        layer = get_channel_layer()
        for attempt in range(300):
            channels = [await layer.new_channel() for _ in range(5)]
            for channel in channels:
                await layer.send(channel, {"type": "x"})
            receives = [asyncio.ensure_future(layer.receive(channel)) for channel in channels]
            await asyncio.sleep(attempt % 40 / 10_000)
            for receive in receives:
                receive.cancel()
            await asyncio.gather(*receives, return_exceptions=True)
            await asyncio.gather(*layer.receive_cleaners, return_exceptions=True)
            if layer.receive_clean_locks.wait_counts:  # every receive and cleaner is done: left behind
                return True
        return False

    async def receive_in_a_new_loop():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for n in range(3):
            await layer.send(channel, {"type": "y", "n": n})
        return [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(3)]

    if not run(cancel_waiting_receives()):
        pytest.skip("this channels_redis released every lock: nothing left behind to test")
    assert run(receive_in_a_new_loop()) == [0, 1, 2]


@pytest.mark.parametrize(
    ("language", "forbidden", "anonymous"),
    [
        ("en", "You may not read these topics.", "Authentication credentials were not provided."),
        ("zh-CN", "你无权读取这些主题。", None),
    ],
)
def test_the_event_streams_refusals_follow_accept_language(language, forbidden, anonymous):
    """The errors were made before the request's language was active: always in Chinese."""
    import httpx

    owner, stranger = UserFactory(), UserFactory()
    project = make_project(owner, visibility="private")
    token = _token(stranger)

    async def ask():
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            params = {"topics": f"project:{project.pk}"}
            headers = {"Accept-Language": language, "Accept": "text/event-stream"}
            refused = await client.get(
                "/api/v1/events/stream", params=params, headers={**headers, "Authorization": f"Bearer {token}"}
            )
            unknown = await client.get("/api/v1/events/stream", params=params, headers=headers)
            return refused, unknown

    refused, unknown = run(ask())
    assert refused.status_code == 403 and refused.json()["message"] == forbidden
    assert unknown.status_code == 401
    if anonymous is not None:
        assert unknown.json()["message"] == anonymous
