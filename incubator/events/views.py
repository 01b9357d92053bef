"""The outbox over plain HTTP: polling (`GET /api/v1/events`) and, for the OpenAPI document and a WSGI
deployment, the replay half of Server-Sent Events (the ASGI server streams that path live: sse.py)."""

from typing import Any

from django.http import HttpResponse
from django.utils import translation
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from incubator.errors import InvalidInput
from incubator.metrics import events_replayed
from incubator.renderers import ORJSONRenderer
from incubator.serializers import MAX_ID, QueryParamsSerializer

from .errors import TopicsForbidden
from .selectors import event_list, wire_localized
from .stream import Refused, parse_since, parse_topics
from .topics import topics_readable

TAGS = ["events"]
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class EventParamsSerializer(QueryParamsSerializer):
    topics = serializers.ListField(
        child=serializers.CharField(max_length=64),
        help_text='Topics, comma-separated or repeated: "job:12", "project:3", "dataset:5", "user:7".',
    )
    after = serializers.IntegerField(
        min_value=0, max_value=MAX_ID, required=False, default=0, help_text="The id of the last event seen."
    )
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, required=False, default=DEFAULT_LIMIT)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="Monotonic: the cursor to pass as `after`, `since` or Last-Event-ID.")
    type = serializers.CharField(help_text="See docs/events.md for every type and its data.")
    topic = serializers.CharField()
    ts = serializers.DateTimeField()
    data = serializers.DictField()


class EventPageSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    last_id = serializers.IntegerField(help_text="Pass it as `after` next time.")
    has_more = serializers.BooleanField(help_text="More events are waiting: ask again at once.")


def readable_topics(request: Request, value: Any) -> list[str]:
    try:
        topics = parse_topics(value)
    except Refused as exc:
        raise InvalidInput({"topics": [str(exc.message)]}) from exc
    readable = topics_readable(request.user, topics)
    refused = [topic for topic in topics if topic not in readable]
    if refused:
        raise TopicsForbidden(details={"field": "topics", "topics": refused})
    return topics


class EventListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=TAGS,
        parameters=[EventParamsSerializer],
        responses={200: EventPageSerializer},
        summary="Poll events",
        description=(
            "The live stream without a socket: the events of `topics` after `after`, oldest first. Keep `last_id` "
            "and pass it as `after` next time; with `has_more`, ask again at once. The same events, ids and "
            "authorization as `/ws/v1/stream` and the Server-Sent Events of `/api/v1/events/stream` (docs/events.md)."
        ),
    )
    def get(self, request: Request) -> Response:
        params = EventParamsSerializer.validated(request)  # builds only the fields sent: no defaults
        topics = readable_topics(request, params.get("topics"))
        after, limit = params.get("after", 0), params.get("limit", DEFAULT_LIMIT)
        rows = event_list(topics=topics, after=after, limit=limit + 1)
        language = translation.get_language()
        events = [wire_localized(row, language) for row in rows[:limit]]
        if after:  # a client that has seen events asks for what it missed
            events_replayed("polling", len(events))
        return Response(
            {"events": events, "last_id": events[-1]["id"] if events else after, "has_more": len(rows) > limit}
        )


class EventStreamRenderer(ORJSONRenderer):
    """Accepts `Accept: text/event-stream` (what EventSource sends); errors are still the JSON error body."""

    media_type = "text/event-stream"
    format = "sse"


class EventStreamView(APIView):
    """Reached only where the ASGI route does not take the path first (a WSGI server, the test client)."""

    permission_classes = [IsAuthenticated]
    renderer_classes = [ORJSONRenderer, EventStreamRenderer]

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter(
                "topics", OpenApiTypes.STR, description='Comma-separated topics, e.g. "job:12,project:3".'
            ),
            OpenApiParameter("since", OpenApiTypes.INT, required=False, description="The id of the last event seen."),
            OpenApiParameter(
                "Last-Event-ID",
                OpenApiTypes.INT,
                location=OpenApiParameter.HEADER,
                required=False,
                description="Sent by EventSource on reconnection; wins over `since`.",
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                # One event of the stream, as an SSE parser hands it over (OpenAPI 3.2's itemSchema, before 3.2).
                {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string", "description": "The event's id (send it back as Last-Event-ID)."},
                        "event": {"type": "string"},
                        "data": {"type": "string", "description": "The message `{id, type, ts, data}` as JSON."},
                        "retry": {"type": "integer"},
                    },
                },
                description=(
                    "Server-Sent Events: `id: <event id>` and `data: <the message as JSON>` per event, a `: heartbeat` "
                    "comment when idle. Missed events are replayed first, then live ones follow."
                ),
            )
        },
        summary="Stream events (Server-Sent Events)",
        description=(
            "The live stream over one long HTTP response, for clients that cannot open a WebSocket. Send the access "
            "token in the Authorization header (use a fetch-based EventSource, as the browser's own cannot set "
            "headers); reconnect with Last-Event-ID and receive exactly what was missed. Served on the event loop, "
            "so open streams do not hold request threads."
        ),
    )
    def get(self, request: Request) -> HttpResponse:
        from .sse import RETRY_MS, sse_frame

        params = EventParamsSerializer.validated(request)
        topics = readable_topics(request, params.get("topics"))
        try:
            since = parse_since(request.headers.get("Last-Event-ID") or request.query_params.get("since"))
        except Refused as exc:
            raise InvalidInput({"since": [str(exc.message)]}) from exc
        rows = event_list(topics=topics, after=since or 0, limit=MAX_LIMIT) if since is not None else []
        events_replayed("sse", len(rows))
        body = f"retry: {RETRY_MS}\n\n".encode() + b"".join(sse_frame(row, translation.get_language()) for row in rows)
        response = HttpResponse(body, content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache, no-store"
        return response
