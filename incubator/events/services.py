"""Writing events: the row in the caller's transaction, the live publish only after commit."""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from .models import Event

logger = logging.getLogger(__name__)

EVENTS_GROUP = "events"


def event_record(
    *, type: str, topic: str, subject_type: str, subject_id: Any, payload: dict[str, Any], actor_id: int | None = None
) -> Event:
    """Write the outbox row; must be called inside the transaction that makes the change it describes."""
    event = Event.objects.create(
        type=type,
        topic=topic,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=payload,
        actor_id=actor_id,
    )
    transaction.on_commit(lambda: event_publish(event=event))
    return event


def event_publish(*, event: Event) -> None:
    """Best effort: a lost publish is recovered by clients replaying from the table by id."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": "event.message",
        "id": event.id,
        "event_type": event.type,
        "topic": event.topic,
        "ts": event.created_at.isoformat().replace("+00:00", "Z"),
        "data": event.payload,
    }
    try:
        async_to_sync(layer.group_send)(EVENTS_GROUP, message)
    except Exception:  # noqa: BLE001 - never fail the request after its commit
        logger.warning("event %s not published live; clients will replay it", event.id, exc_info=True)
