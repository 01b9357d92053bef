"""WebSocket consumers of the shared plumbing: a health echo and the unknown-path refusal."""

import uuid
from datetime import UTC, datetime
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer


def ws_message(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """The envelope of every WebSocket message: {"id", "type", "ts", "data"}."""
    ts = datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"id": uuid.uuid4().hex, "type": type_, "ts": ts, "data": data}


class HealthConsumer(AsyncJsonWebsocketConsumer):
    """/ws/v1/health: answers {"type": "ping"} with "pong"; lets a client or a probe check the socket path."""

    async def connect(self) -> None:
        await self.accept()
        await self.send_json(ws_message("hello", {"server": "incubator"}))

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json(ws_message("pong", {"echo": content.get("data")}))
        else:
            await self.send_json(
                ws_message(
                    "error", {"status_code": 400, "error_code": "INVALID_INPUT", "message": "unknown message type"}
                )
            )


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send_json(
            ws_message("error", {"status_code": 404, "error_code": "NOT_FOUND", "message": "no such WebSocket path"})
        )
        await self.close(code=4404)
