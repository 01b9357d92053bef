"""WebSocket plumbing: malformed frames get a contract error (never an exception), and the Origin rule."""

import json

import pytest
from channels.routing import URLRouter
from django.urls import re_path

from incubator.asgi import application

from .communicator import WebsocketCommunicator, run

BROWSER = [(b"origin", b"http://127.0.0.1:5173")]
ERROR_CODES = {"INVALID_INPUT", "PARSE_ERROR"}


async def connected(path="/ws/v1/health", headers=BROWSER, app=application):
    communicator = WebsocketCommunicator(app, path, headers=headers)
    accepted, _ = await communicator.connect()
    assert accepted
    return communicator


def assert_error_message(message, status_code, error_codes):
    assert set(message) == {"id", "type", "ts", "data"}
    assert message["type"] == "error"
    assert message["ts"].endswith("Z")
    data = message["data"]
    assert set(data) == {"status_code", "error_code", "message", "details"}
    assert data["status_code"] == status_code
    assert data["error_code"] in error_codes
    assert isinstance(data["message"], str) and data["message"]
    assert isinstance(data["details"], dict)
    return data


MALFORMED = [
    pytest.param({"text": "not json"}, "PARSE_ERROR", id="not-json"),
    pytest.param({"text": ""}, "PARSE_ERROR", id="empty-text"),
    pytest.param({"text": '{"type": "ping"'}, "PARSE_ERROR", id="truncated"),
    pytest.param({"text": "[" * 100_000}, "PARSE_ERROR", id="nested-too-deep"),
    pytest.param({"text": "[1, 2]"}, "INVALID_INPUT", id="array"),
    pytest.param({"text": '"ping"'}, "INVALID_INPUT", id="string"),
    pytest.param({"text": "null"}, "INVALID_INPUT", id="null"),
    pytest.param({"bytes": b'{"type": "ping"}'}, "INVALID_INPUT", id="binary"),
]


@pytest.mark.parametrize(("frame", "error_code"), MALFORMED)
def test_malformed_frame_gets_an_error_and_the_socket_stays_open(frame, error_code):
    async def talk():
        ws = await connected()
        assert (await ws.receive_json_from())["type"] == "hello"
        await ws.send_input({"type": "websocket.receive", **frame})
        data = assert_error_message(await ws.receive_json_from(), 400, {error_code})
        # Still open and still answering.
        await ws.send_json_to({"type": "ping", "data": 1})
        pong = await ws.receive_json_from()
        assert pong["type"] == "pong" and pong["data"] == {"echo": 1}
        await ws.disconnect()
        return data

    run(talk())


def test_error_message_follows_accept_language():
    async def message_in(language):
        ws = await connected(headers=[*BROWSER, (b"accept-language", language)])
        await ws.receive_json_from()
        await ws.send_to(text_data="not json")
        data = (await ws.receive_json_from())["data"]
        await ws.disconnect()
        return data["message"]

    english, chinese = run(message_in(b"en-US,en;q=0.9")), run(message_in(b"zh-CN,zh;q=0.9"))
    assert english.isascii()
    assert not chinese.isascii()


def test_unknown_message_type_is_a_contract_error():
    async def talk():
        ws = await connected()
        await ws.receive_json_from()
        await ws.send_json_to({"type": "dance"})
        data = assert_error_message(await ws.receive_json_from(), 400, {"INVALID_INPUT"})
        assert data["details"] == {"type": "dance"}
        await ws.disconnect()

    run(talk())


def test_unknown_path_is_a_404_error_then_close_4404():
    async def talk():
        ws = await connected("/ws/v1/nothing")
        assert_error_message(await ws.receive_json_from(), 404, {"NOT_FOUND"})
        assert (await ws.receive_output())["code"] == 4404

    run(talk())


def test_base_consumer_renders_service_errors_and_hides_bugs(caplog):
    from incubator.errors import NotFound
    from incubator.websocket import JsonConsumer

    class Raising(JsonConsumer):
        """A future app's consumer with a service error and a bug: the base class keeps both in the contract."""

        async def receive_json(self, content, **kwargs):
            if content["type"] == "missing":
                raise NotFound(details={"project_id": 7})
            raise RuntimeError("a bug")

    app = URLRouter([re_path(r"^ws/test$", Raising.as_asgi())])

    async def talk():
        ws = await connected("/ws/test", app=app)
        await ws.send_json_to({"type": "missing"})
        data = assert_error_message(await ws.receive_json_from(), 404, {"NOT_FOUND"})
        assert data["details"] == {"project_id": 7}
        await ws.send_json_to({"type": "boom"})
        data = assert_error_message(await ws.receive_json_from(), 500, {"INTERNAL_ERROR"})
        assert "a bug" not in json.dumps(data)
        assert (await ws.receive_output())["code"] == 1011

    run(talk())
    assert any(record.exc_info and "a bug" in str(record.exc_info[1]) for record in caplog.records)


# --- Origin: checked when a browser sends it, absent for scripts and apps (token auth decides later).


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="no-origin"),
        pytest.param([(b"origin", b"http://127.0.0.1:8000")], id="allowed-host"),
        pytest.param([(b"origin", b"http://localhost:5173")], id="cors-origin"),
    ],
)
def test_connection_accepted(headers):
    async def talk():
        ws = await connected(headers=headers)
        assert (await ws.receive_json_from())["type"] == "hello"
        await ws.disconnect()

    run(talk())


def test_cors_allowed_origin_that_is_not_an_allowed_host(settings):
    settings.ALLOWED_HOSTS = ["api.example.com"]
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    async def accepted(origin):
        ws = WebsocketCommunicator(application, "/ws/v1/health", headers=[(b"origin", origin)])
        ok, _ = await ws.connect()
        await ws.disconnect()
        return ok

    assert run(accepted(b"https://app.example.com"))
    assert run(accepted(b"https://api.example.com"))
    assert not run(accepted(b"http://app.example.com"))  # another scheme is another origin
    assert not run(accepted(b"https://evil.example.com"))


@pytest.mark.parametrize("origin", [b"https://evil.example.com", b"null", b"not a url"])
def test_foreign_origin_refused(origin):
    async def talk():
        ws = WebsocketCommunicator(application, "/ws/v1/health", headers=[(b"origin", origin)])
        accepted, _ = await ws.connect()
        assert not accepted

    run(talk())
