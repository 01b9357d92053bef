"""Reading the outbox: replay by topic after a cursor, the previous event of a topic, the wire format."""

from collections.abc import Iterable
from typing import Any

from django.db.models import Max

from .models import Event

WIRE_FIELDS = ("id", "type", "topic", "created_at", "payload")
# In a payload: {path: {language: text}} for texts a worker stored in one language (a job's stage, a failure's
# message), by dotted path ("error.message"). Each reader receives its own language's (wire_localized), never
# this key.
TRANSLATED = "_translations"


def _ts(value: Any) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_wire(event: Event) -> dict[str, Any]:
    """The message clients receive: {"id", "type", "topic", "ts", "data"} (the stream's envelope plus topic)."""
    return {
        "id": event.id,
        "type": event.type,
        "topic": event.topic,
        "ts": _ts(event.created_at),
        "data": event.payload,
    }


def wire_translated(wire: dict[str, Any]) -> bool:
    """Whether readers in different languages receive different texts of this message."""
    data = wire.get("data")
    return isinstance(data, dict) and TRANSLATED in data


def wire_localized(wire: dict[str, Any], language: str | None) -> dict[str, Any]:
    """The message as a reader in `language` receives it: each text its payload's translations name, in that
    language, and the translations left out. Without that language's translation (or a language) the text reads
    as it was stored."""
    if not wire_translated(wire):
        return wire
    stored = wire["data"]
    data = {key: value for key, value in stored.items() if key != TRANSLATED}
    translations = stored[TRANSLATED]
    for path, texts in translations.items() if isinstance(translations, dict) else ():
        if not isinstance(texts, dict) or language not in texts:
            continue
        *parents, leaf = path.split(".")
        node: Any = data
        for name in parents:
            child = node.get(name)
            if not isinstance(child, dict):
                node = None
                break
            node[name] = node = dict(child)  # a copy: the stored payload is shared by every reader
        if node is not None and leaf in node:
            node[leaf] = texts[language]
    return {**wire, "data": data}


def _wire_row(row: tuple[Any, ...]) -> dict[str, Any]:
    id_, type_, topic, created_at, payload = row
    return {"id": id_, "type": type_, "topic": topic, "ts": _ts(created_at), "data": payload}


def event_list(*, topics: Iterable[str], after: int, limit: int, before: int | None = None) -> list[dict[str, Any]]:
    """Events of `topics` with `after < id (< before)`, oldest first, at most `limit`, in the wire format."""
    rows = Event.objects.filter(topic__in=list(topics), id__gt=after)
    if before is not None:
        rows = rows.filter(id__lt=before)
    return [_wire_row(row) for row in rows.order_by("id").values_list(*WIRE_FIELDS)[:limit]]


def event_find(*, ids: Iterable[int]) -> list[dict[str, Any]]:
    return [_wire_row(row) for row in Event.objects.filter(id__in=list(ids)).order_by("id").values_list(*WIRE_FIELDS)]


def event_prev(*, topic: str, before: int) -> int:
    """The id of the topic's event before `before` (0 when there is none): lets a subscriber see a hole."""
    return Event.objects.filter(topic=topic, id__lt=before).order_by("-id").values_list("id", flat=True).first() or 0


def event_last_ids(*, topics: Iterable[str]) -> dict[str, int]:
    """The newest event id of each topic (topics without events are absent)."""
    rows = Event.objects.filter(topic__in=list(topics)).values("topic").annotate(last=Max("id"))
    return {row["topic"]: row["last"] for row in rows}


def event_oldest_id() -> int | None:
    return Event.objects.order_by("id").values_list("id", flat=True).first()


def event_newest_id() -> int:
    return Event.objects.order_by("-id").values_list("id", flat=True).first() or 0


def event_tail(*, after: int, limit: int) -> list[dict[str, Any]]:
    """Every topic's events after `after`, oldest first (the per-process tail of the in-memory layer)."""
    rows = Event.objects.filter(id__gt=after).order_by("id").values_list(*WIRE_FIELDS)[:limit]
    return [_wire_row(row) for row in rows]
