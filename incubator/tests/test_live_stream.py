"""The live stream on a real ASGI server process, fed by another process (this one) through the channel layer
(Redis when REDIS_URL is set, as in .ci/run) or the server's tail of the table (the embedded default):
WebSocket auth and replay with `since`, Server-Sent Events with Last-Event-ID, polling, open SSE streams
that do not hold request threads, and a client that stops reading."""

import asyncio
import base64
import json
import os
import socket
import time
from datetime import timedelta

import httpx
import pytest
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.tests.factories import UserFactory
from projects.tests.factories import make_project

from .communicator import run
from .live import asgi_server
from .test_stream import _unpublished, in_chinese, in_thread, record, record_translated

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]


def access(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


@pytest.fixture
def owner_and_topic():
    owner = UserFactory()
    project = make_project(owner, name="实时项目")
    return owner, f"project:{project.pk}"


async def receive(ws, timeout: float = 10) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


async def receive_events(ws, count: int, timeout: float = 10) -> list[dict]:
    got: list[dict] = []
    while len(got) < count:
        message = await receive(ws, timeout)
        assert message["type"] != "error", message
        if message["type"] != "heartbeat":
            got.append(message)
    return got


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
def test_websocket_replay_then_live_across_a_reconnect(server, owner_and_topic):
    import websockets

    owner, topic = owner_and_topic
    token = access(owner)
    with asgi_server(server) as base:
        url = base.replace("http", "ws") + "/ws/v1/stream"

        async def talk():
            async with websockets.connect(url, subprotocols=["incubator.v1", f"bearer.{token}"]) as ws:
                assert ws.subprotocol == "incubator.v1"
                assert (await receive(ws))["type"] == "authenticated"
                await ws.send(json.dumps({"type": "subscribe", "topics": [topic]}))
                assert (await receive(ws))["type"] == "subscribed"
                written = await in_thread(record, topic, 5)
                got = await receive_events(ws, 5)
                assert [m["id"] for m in got] == written and got[0]["data"]["名"] == "项目"
            # Away: these are missed, then replayed on reconnect; live ones follow with no gap or duplicate.
            missed = await in_thread(record, topic, 3)
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "auth", "token": token}))
                assert (await receive(ws))["type"] == "authenticated"
                await ws.send(json.dumps({"type": "subscribe", "topics": [topic], "since": written[-1]}))
                assert (await receive(ws))["type"] == "subscribed"
                live = asyncio.create_task(in_thread(record, topic, 4))
                got = await receive_events(ws, 7)
                later = await live
                assert [m["id"] for m in got] == missed + later
                with pytest.raises(TimeoutError):
                    await receive_events(ws, 1, timeout=1)

        run(talk())


def test_websocket_refusals_on_a_real_server(owner_and_topic):
    import websockets

    owner, topic = owner_and_topic
    stranger_token = access(UserFactory())
    expired = AccessToken.for_user(owner)
    expired.set_exp(lifetime=-timedelta(seconds=5))
    expired_token = str(expired)
    with asgi_server("granian", EVENTS_STREAM_AUTH_TIMEOUT="1") as base:
        url = base.replace("http", "ws") + "/ws/v1/stream"

        async def talk():
            async with websockets.connect(url) as ws:  # no token in time
                assert (await receive(ws))["data"]["error_code"] == "NOT_AUTHENTICATED"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await receive(ws)
                assert closed.value.rcvd.code == 4001
            async with websockets.connect(url) as ws:
                await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
                assert (await receive(ws))["data"]["error_code"] == "TOKEN_INVALID"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await receive(ws)
                assert closed.value.rcvd.code == 4001
            async with websockets.connect(url, subprotocols=[f"bearer.{expired_token}"]) as ws:
                assert (await receive(ws))["data"]["error_code"] == "TOKEN_EXPIRED"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await receive(ws)
                assert closed.value.rcvd.code == 4001 and closed.value.rcvd.reason == "TOKEN_EXPIRED"
            async with websockets.connect(url, subprotocols=[f"bearer.{stranger_token}"]) as ws:
                assert (await receive(ws))["type"] == "authenticated"
                await ws.send(json.dumps({"type": "subscribe", "topics": [f"user:{owner.pk}"], "since": 0}))
                error = await receive(ws)
                assert error["data"]["status_code"] == 403 and error["data"]["details"]["topics"] == [
                    f"user:{owner.pk}"
                ]

        run(talk())


def sse_events(lines, count: int) -> list[dict]:
    got, event_id, data = [], None, []
    for line in lines:
        if line.startswith("id: "):
            event_id = int(line[4:])
        elif line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            message = json.loads("\n".join(data))
            assert message["id"] == event_id
            got.append(message)
            data, event_id = [], None
            if len(got) == count:
                return got
    raise AssertionError(f"the stream ended after {len(got)} events")


def test_server_sent_events_with_last_event_id_and_polling(owner_and_topic):
    owner, topic = owner_and_topic
    headers = {"Authorization": f"Bearer {access(owner)}"}
    with asgi_server("granian") as base:
        written = record(topic, 4)
        with httpx.stream(
            "GET",
            f"{base}/api/v1/events/stream",
            params={"topics": topic},
            headers={**headers, "Last-Event-ID": str(written[1])},
            timeout=10,
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            lines = response.iter_lines()
            assert [m["id"] for m in sse_events(lines, 2)] == written[2:]
            later = record(topic, 2)
            assert [m["id"] for m in sse_events(lines, 2)] == later
        with httpx.stream(  # stored texts in the reader's language
            "GET",
            f"{base}/api/v1/events/stream",
            params={"topics": topic},
            headers={**headers, "Last-Event-ID": str(later[-1]), "Accept-Language": "zh-CN,zh;q=0.9"},
            timeout=10,
        ) as response:
            lines = response.iter_lines()
            translated = record_translated(topic)
            [event] = sse_events(lines, 1)
            assert event["id"] == translated and in_chinese(event)
            later.append(translated)
        assert httpx.get(f"{base}/api/v1/events/stream", params={"topics": topic}).status_code == 401
        forbidden = httpx.get(
            f"{base}/api/v1/events/stream",
            params={"topics": f"user:{owner.pk + 1000}"},
            headers=headers,
        )
        assert forbidden.status_code == 403 and forbidden.json()["error_code"] == "PERMISSION_DENIED"
        polled = httpx.get(f"{base}/api/v1/events", params={"topics": topic, "after": written[0]}, headers=headers)
        assert polled.status_code == 200, polled.text
        assert [e["id"] for e in polled.json()["events"]] == [*written[1:], *later]


def test_two_hundred_open_sse_streams_do_not_hold_request_threads(owner_and_topic):
    """Four request threads; if a stream held one, the fifth stream would leave no thread for anything else."""
    owner, topic = owner_and_topic
    headers = {"Authorization": f"Bearer {access(owner)}"}
    with asgi_server("granian", WEB_THREADS="4", DB_POOL_MAX="4") as base:

        async def load():
            limits = httpx.Limits(max_connections=300, max_keepalive_connections=0)
            async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30, headers=headers) as client:
                streams = []
                for _ in range(200):
                    request = client.build_request("GET", "/api/v1/events/stream", params={"topics": topic})
                    streams.append(await client.send(request, stream=True))
                assert all(r.status_code == 200 for r in streams)
                started = time.monotonic()
                answers = await asyncio.gather(*(client.get("/api/v1/projects") for _ in range(20)))
                assert all(a.status_code == 200 for a in answers)
                assert time.monotonic() - started < 20  # served, not queued behind the streams
                written = await in_thread(record, topic, 1)
                first = streams[0].aiter_lines()
                async for line in first:
                    if line.startswith("id: "):
                        assert int(line[4:]) == written[0]
                        break
                for stream in streams:
                    await stream.aclose()

        run(load())


def _raw_websocket(port: int, token: str, topic: str):
    """A client that does the handshake, subscribes, then never reads: a tiny receive buffer, no library
    reading frames into memory behind the test's back."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: bearer.{token}\r\n\r\n"
        ).encode()
    )
    assert sock.recv(12) == b"HTTP/1.1 101"
    payload = json.dumps({"type": "subscribe", "topics": [topic]}).encode()
    mask = os.urandom(4)
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return sock


@pytest.mark.parametrize("server", ["uvicorn"])  # granian's ASGI send never waits for the socket (docs/events.md)
def test_a_client_that_stops_reading_is_dropped_and_the_others_carry_on(server, owner_and_topic):
    import websockets

    owner, topic = owner_and_topic
    token = access(owner)
    with asgi_server(server, EVENTS_STREAM_SEND_TIMEOUT="5") as base:
        port = int(base.rsplit(":", 1)[1])
        url = base.replace("http", "ws") + "/ws/v1/stream"

        async def talk():
            slow = await in_thread(_raw_websocket, port, token, topic)
            async with websockets.connect(url, subprotocols=[f"bearer.{token}"]) as fast:
                assert (await receive(fast))["type"] == "authenticated"
                await fast.send(json.dumps({"type": "subscribe", "topics": [topic]}))
                assert (await receive(fast))["type"] == "subscribed"
                await asyncio.sleep(0.5)
                # ~50 MB that the slow client never reads: more than the sockets' buffers hold.
                written = await in_thread(_big_events, topic, 800)
                got = await receive_events(fast, len(written), timeout=30)
                assert [m["id"] for m in got] == written
                assert httpx.get(f"{base}/api/v1/health", timeout=5).status_code == 200
            # Past the send timeout with its buffers full (50 MB cannot fit), the slow client is dropped: it
            # finds its connection closed before the end of what was written.
            await asyncio.sleep(7)
            slow.settimeout(30)
            received = 0
            while chunk := slow.recv(1 << 20):
                received += len(chunk)
            slow.close()
            assert received < 800 * 60_000

        run(talk())


def _big_events(topic: str, n: int) -> list[int]:
    from django.db import transaction

    from incubator.events.services import event_record

    ids = []
    for i in range(n):
        with transaction.atomic():
            event = event_record(
                type="project.updated", topic=topic, subject_type="t", subject_id=i, payload={"blob": "数" * 10_000}
            )
        ids.append(event.id)
    return ids


__all__ = ["_unpublished"]


def test_sse_answers_cors_for_the_allowed_origins_only(owner_and_topic):
    owner, topic = owner_and_topic
    with asgi_server("granian", CORS_ALLOWED_ORIGINS="http://localhost:5173") as base:
        preflight = httpx.options(
            f"{base}/api/v1/events/stream",
            headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization, last-event-id",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert "authorization" in preflight.headers["access-control-allow-headers"]
        other = httpx.options(f"{base}/api/v1/events/stream", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        refused = httpx.get(
            f"{base}/api/v1/events/stream", params={"topics": topic}, headers={"Origin": "http://localhost:5173"}
        )
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "http://localhost:5173"
        # As everywhere in the API: credentials first (401), then the method (405); no preflight without both
        # an allowed Origin and Access-Control-Request-Method.
        assert httpx.post(f"{base}/api/v1/events/stream").json()["error_code"] == "NOT_AUTHENTICATED"
        assert httpx.options(f"{base}/api/v1/events/stream").status_code == 401
        headers = {"Authorization": f"Bearer {access(owner)}"}
        assert httpx.post(f"{base}/api/v1/events/stream", headers=headers).json()["error_code"] == "METHOD_NOT_ALLOWED"
        assert httpx.request("TRACE", f"{base}/api/v1/events/stream", headers=headers).status_code == 405
        assert httpx.options(f"{base}/api/v1/events/stream", headers=headers).headers["allow"] == "GET, HEAD, OPTIONS"
