"""The HTTP edge (incubator.edge.BufferedBody), driven as ASGI: bodies read and bounded before the app runs."""

import asyncio
import json

import pytest

from incubator.edge import BufferedBody


class Recorder:
    """An ASGI app that records the scope and the whole body it was handed, and answers 200."""

    def __init__(self):
        self.scope = None
        self.body = b""

    async def __call__(self, scope, receive, send):
        self.scope = scope
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def run(app, *, headers=(), chunks=(b"",), query=b"", delay=0.0, disconnect=False):
    """Send `chunks` as the request body (more_body on all but the last); returns (status, body json, sent)."""
    messages = [
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    ]
    if disconnect:
        messages = [*messages[:-1], {"type": "http.disconnect"}]
    sent = []

    async def receive():
        if messages:
            if delay:
                await asyncio.sleep(delay)
            return messages.pop(0)
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "query_string": query, "headers": list(headers)}
    asyncio.run(BufferedBody(app)(scope, receive, send))
    if not sent:
        return None, None, sent
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return sent[0]["status"], (json.loads(body) if sent[0]["status"] != 200 else body), sent


def test_a_chunked_body_is_handed_on_whole_with_its_real_length():
    app = Recorder()
    status, _, _ = run(app, headers=[(b"transfer-encoding", b"chunked")], chunks=[b'{"display', b'_name": "', b'x"}'])
    assert status == 200 and app.body == b'{"display_name": "x"}'
    assert (b"content-length", b"21") in app.scope["headers"]
    assert not any(name == b"transfer-encoding" for name, _ in app.scope["headers"])


def test_a_chunked_body_past_the_limit_is_a_413_as_soon_as_it_is(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    app = Recorder()
    status, body, _ = run(app, headers=[(b"transfer-encoding", b"chunked")], chunks=[b"12345", b"67890", b"1", b"2"])
    assert status == 413 and body["error_code"] == "PAYLOAD_TOO_LARGE" and app.scope is None


def test_a_declared_length_past_the_limit_is_refused_before_reading(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    app = Recorder()
    status, body, _ = run(app, headers=[(b"content-length", b"11")], chunks=[b"never read"], delay=60)
    assert status == 413 and body["details"] == {"limit_bytes": 10, "received_bytes": 11}


@pytest.mark.parametrize("value", [b"abc", b"-1", b"1e3", b""])
def test_a_malformed_content_length_is_a_400(value):
    status, body, _ = run(Recorder(), headers=[(b"content-length", value)])
    assert status == 400 and body["error_code"] == "INVALID_INPUT"


def test_a_body_that_stops_arriving_is_a_408_in_the_clients_language(settings):
    settings.API_BODY_IDLE_TIMEOUT = 0.05
    app = Recorder()
    status, body, sent = run(
        app, headers=[(b"content-length", b"5"), (b"accept-language", b"en")], chunks=[b"1", b"2345"], delay=0.2
    )
    assert status == 408 and body["error_code"] == "REQUEST_TIMEOUT" and app.scope is None
    assert body["message"] == "The request body did not arrive in time."
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_json_body_must_be_complete_within_the_total_timeout(settings):
    settings.API_BODY_IDLE_TIMEOUT, settings.API_BODY_TIMEOUT = 5, 0.2
    status, body, _ = run(Recorder(), chunks=[b"1"] * 20, delay=0.03)
    assert status == 408 and body["error_code"] == "REQUEST_TIMEOUT"


def test_an_upload_may_take_as_long_as_it_keeps_arriving(settings):
    settings.API_BODY_IDLE_TIMEOUT, settings.API_BODY_TIMEOUT = 5, 0.2
    app = Recorder()
    status, _, _ = run(
        app, headers=[(b"content-type", b"multipart/form-data; boundary=x")], chunks=[b"1"] * 20, delay=0.03
    )
    assert status == 200 and app.body == b"1" * 20


def test_a_large_body_spills_to_disk_and_replays_intact():
    app = Recorder()
    chunks = [bytes([index % 251]) * 100_000 for index in range(30)]
    status, _, _ = run(app, headers=[(b"content-type", b"multipart/form-data; boundary=x")], chunks=chunks)
    assert status == 200 and app.body == b"".join(chunks)


def test_raw_non_ascii_in_the_query_string_is_percent_encoded():
    app = Recorder()
    run(app, query="q=中 文&x=1".encode())
    assert app.scope["query_string"] == b"q=%E4%B8%AD%20%E6%96%87&x=1"


def test_a_body_that_ends_in_a_disconnect_never_reaches_the_app_and_is_answered_400():
    # A client gone, or a body the server could not read (granian reports a broken chunked encoding as a
    # disconnect): without an answer, the server would send its own bare 500.
    app = Recorder()
    status, body, _ = run(app, chunks=[b"1", b"2"], disconnect=True)
    assert (status, body["error_code"], body["details"]) == (
        400,
        "INVALID_INPUT",
        {"body": "unreadable", "received_bytes": 1},
    )
    assert app.scope is None


def test_a_body_the_server_fails_to_read_is_a_400():
    app = Recorder()
    sent = []

    async def receive():
        raise RuntimeError("bad chunk size")

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/v1/x", "query_string": b"", "headers": []}
    asyncio.run(BufferedBody(app)(scope, receive, send))
    assert sent[0]["status"] == 400 and json.loads(sent[1]["body"])["details"]["body"] == "unreadable"
    assert app.scope is None


@pytest.mark.parametrize("length", [b"5", b"0"])
def test_content_length_with_transfer_encoding_is_a_400_before_reading(length):
    app = Recorder()
    headers = [(b"content-length", length), (b"transfer-encoding", b"chunked")]
    status, body, _ = run(app, headers=headers, chunks=[b"hello"])
    assert (status, body["details"]) == (400, {"header": "Transfer-Encoding"}) and app.scope is None
