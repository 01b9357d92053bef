"""WebSocket routes under /ws/v1/ (live updates add theirs here)."""

from django.urls import re_path

from .consumers import HealthConsumer, NotFoundConsumer

websocket_urlpatterns = [
    re_path(r"^ws/v1/health/?$", HealthConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
