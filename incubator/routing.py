"""WebSocket routes under /ws/v1/ (the live stream: incubator.events)."""

from django.urls import re_path

from .consumers import HealthConsumer, NotFoundConsumer
from .events.consumers import StreamConsumer

websocket_urlpatterns = [
    re_path(r"^ws/v1/stream/?$", StreamConsumer.as_asgi()),
    re_path(r"^ws/v1/health/?$", HealthConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
