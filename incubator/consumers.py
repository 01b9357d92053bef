"""WebSocket consumers of the shared plumbing: a health echo and the unknown-path refusal.

Both build on incubator.websocket.JsonConsumer, the base every app's consumers inherit.
"""

from typing import Any

from django.utils.translation import gettext_lazy as _

from .websocket import JsonConsumer, ws_message

__all__ = ["HealthConsumer", "JsonConsumer", "NotFoundConsumer", "ws_message"]


class HealthConsumer(JsonConsumer):
    """/ws/v1/health: answers {"type": "ping"} with "pong"; lets a client or a probe check the socket path."""

    async def connect(self) -> None:
        await self.accept()
        await self.send_message("hello", {"server": "incubator"})

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        if content.get("type") == "ping":
            await self.send_message("pong", {"echo": content.get("data")})
        else:
            await self.send_error(400, "INVALID_INPUT", _("Unknown message type."), type=content.get("type"))


class NotFoundConsumer(JsonConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send_error(404, "NOT_FOUND", _("No such WebSocket path."), path=self.scope.get("path", ""))
        await self.close(code=4404)
