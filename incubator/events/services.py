"""Writing events: the row in the caller's transaction, the live publish per topic only after commit, and the
pruning of old rows. Reading them back is in selectors.py; delivering them is stream.py's."""

import asyncio
import logging
from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from incubator.generations import ANALYTICS_GENERATION, generation_bump_after_commit
from incubator.metrics import event_published

from . import tail
from .catalogue import EVENT_TYPES
from .models import Event
from .selectors import TRANSLATED, event_prev, event_wire
from .topics import topic_group, user_control_group

logger = logging.getLogger(__name__)

# Events that change no figure of analytics: progress ticks and learning-curve points arrive many times a second
# while work runs (the status event that ends the work bumps the generation anyway), and exports only read.
QUIET_EVENTS = frozenset(
    {
        "job.progress",
        "job.metric",
        "dataset.version.progress",
        "dataset.profile.progress",
        "schema_migration.progress",
        "export.status",
        "export.progress",
    }
)

# Membership changes make a user's open streams re-check what they may read, at once.
ACCESS_EVENTS = frozenset({"member.added", "member.updated", "member.removed", "project.ownership_transferred"})


def event_record(
    *,
    type: str,
    topic: str,
    subject_type: str,
    subject_id: Any,
    payload: dict[str, Any],
    actor_id: int | None = None,
    translations: dict[str, dict[str, str] | None] | None = None,
) -> Event:
    """Write the outbox row; must be called inside the transaction that makes the change it describes.
    `translations` ({dotted path in the payload: {language: text}}, as the worker stored them) let each reader
    receive those texts in their own language (selectors.wire_localized)."""
    translated = {path: texts for path, texts in (translations or {}).items() if texts}
    if translated:
        payload = {**payload, TRANSLATED: translated}
    kinds = EVENT_TYPES.get(type, ("", ""))[0]
    if not kinds or topic.partition(":")[0] not in kinds.split("|"):
        raise ValueError(f"event {type!r} on topic {topic!r} is not in incubator.events.catalogue")
    event = Event.objects.create(
        type=type,
        topic=topic,
        subject_type=subject_type,
        subject_id=str(subject_id),
        payload=payload,
        actor_id=actor_id,
    )
    if type not in QUIET_EVENTS:
        generation_bump_after_commit(ANALYTICS_GENERATION)
    transaction.on_commit(lambda: event_publish(event=event))
    return event


def event_publish(*, event: Event) -> None:
    """Best effort, after commit: a lost publish is recovered from the table (stream.py notices the hole when
    the next event of the topic names this one as `prev`, or at its next heartbeat)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        wire = event_wire(event)
        prev = event_prev(topic=event.topic, before=event.id)
        message = {**wire, "type": "event.message", "event_type": wire["type"], "prev": prev}
        loop = tail.local_loop()
        if loop is not None:  # the in-memory layer's queues belong to the server's loop: hand it over
            asyncio.run_coroutine_threadsafe(_send(layer, event, message), loop)
        else:
            async_to_sync(_send)(layer, event, message)
    except Exception:  # noqa: BLE001 - never fail the request after its commit
        logger.warning("event %s not published live; clients will replay it", event.id, exc_info=True)


async def _send(layer: Any, event: Event, message: dict[str, Any]) -> None:
    await layer.group_send(topic_group(event.topic), message)
    event_published(event.topic)
    user_id = event.payload.get("user_id") if event.type in ACCESS_EVENTS else None
    if event.type == "project.ownership_transferred":
        user_id = event.payload.get("previous_owner_id")
    if isinstance(user_id, int):
        await layer.group_send(user_control_group(user_id), {"type": "access.changed"})


def events_prune(*, now: Any = None, batch: int = 5000) -> int:
    """Delete events older than EVENTS_RETENTION_DAYS, in batches (a short lock each); returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.EVENTS_RETENTION_DAYS)
    removed = 0
    while True:
        ids = list(Event.objects.filter(created_at__lt=cutoff).order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return removed
        with transaction.atomic():
            removed += Event.objects.filter(id__in=ids).delete()[0]
