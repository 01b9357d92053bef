"""A real ASGI server process: HTTP and WebSocket end to end, and readiness with the database unreachable."""

import json

import httpx
import pytest

from .communicator import run
from .live import asgi_server

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_http_and_websocket_end_to_end(server):
    import websockets

    with asgi_server(server) as base:
        register = httpx.post(
            f"{base}/api/v1/users/register/",
            json={
                "email": "wang@example.com",
                "username": "wang",
                "password": "Live-Server-2026",
                "display_name": "王五",
            },
        )
        assert register.status_code == 201, register.text
        tokens = httpx.post(
            f"{base}/api/v1/users/login", json={"email": "wang@example.com", "password": "Live-Server-2026"}
        ).json()
        me = httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {tokens['access']}"})
        assert me.json()["display_name"] == "王五"
        assert httpx.get(f"{base}/api/v1/nowhere").json()["error_code"] == "NOT_FOUND"
        assert httpx.get(f"{base}/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css").status_code == 200

        async def talk():
            ws_base = base.replace("http", "ws")
            async with websockets.connect(f"{ws_base}/ws/v1/health", origin="http://127.0.0.1") as ws:
                hello = json.loads(await ws.recv())
                assert hello["type"] == "hello" and set(hello) == {"id", "type", "ts", "data"}
                await ws.send(json.dumps({"type": "ping", "data": "你好"}))
                pong = json.loads(await ws.recv())
                assert pong["type"] == "pong" and pong["data"]["echo"] == "你好"
            async with websockets.connect(f"{ws_base}/ws/v1/nothing", origin="http://127.0.0.1") as ws:
                error = json.loads(await ws.recv())
                assert error["type"] == "error" and error["data"]["error_code"] == "NOT_FOUND"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd.code == 4404

        run(talk())


def test_database_unreachable_gives_503_naming_it():
    with asgi_server(DATABASE_URL="postgres://postgres@127.0.0.1:1/nowhere", DB_POOL_TIMEOUT="1") as base:
        assert httpx.get(f"{base}/api/v1/health").status_code == 200  # alive, but not ready
        ready = httpx.get(f"{base}/api/v1/health/ready", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["error_code"] == "SERVICE_UNAVAILABLE"
        assert ready.json()["details"]["unavailable"] == ["database"]
        login = httpx.post(f"{base}/api/v1/users/login", json={"email": "a@example.com", "password": "x"}, timeout=30)
        assert login.status_code == 503
        assert login.json()["error_code"] == "SERVICE_UNAVAILABLE"
