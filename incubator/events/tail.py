"""The per-process tail of the outbox, for a channel layer that is not shared between processes.

With the in-memory layer (the embedded default) an event written by a Celery worker, another process, never
reaches this process's layer. While anything here is subscribed, one task per web process reads the table
every EVENTS_TAIL_INTERVAL_MS and hands new rows to the local topic groups; subscribers drop the duplicates
of what the process published itself. Ids missing between two rows (a transaction that has not committed
yet, or rolled back) are looked for again for 30 s, so an event that commits late is not skipped.
"""

import asyncio
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from .selectors import event_find, event_newest_id, event_tail
from .topics import topic_group

logger = logging.getLogger(__name__)

HOLE_SECONDS = 30.0
MAX_HOLES = 1000
BATCH = 1000

_subscriptions = 0
_loop: asyncio.AbstractEventLoop | None = None
_task: "asyncio.Task[None] | None" = None


async def subscribed(count: int) -> None:
    """Count new subscriptions; start the tail if it is not running on this loop. Its cursor is read before
    the subscriber reads its own floor, so every event after that floor is either tailed or already known."""
    global _subscriptions, _loop, _task
    _subscriptions += count
    if not count or not settings.EVENTS_TAIL:
        return
    loop = asyncio.get_running_loop()
    if _task is None or _task.done() or _loop is not loop:
        _loop = loop
        cursor = await database_sync_to_async(event_newest_id)()
        _task = loop.create_task(_tail(cursor))


def unsubscribed(count: int) -> None:
    global _subscriptions
    _subscriptions = max(0, _subscriptions - count)


def local_loop() -> asyncio.AbstractEventLoop | None:
    """The loop whose sockets read the in-memory layer (its queues belong to that loop, so a publish from
    another thread must be handed to it), or None where the layer is shared (Redis) or nothing listens."""
    if not settings.EVENTS_TAIL or _loop is None or _loop.is_closed() or not _loop.is_running():
        return None
    return _loop


def _read(cursor: int, holes: dict[int, float]) -> tuple[list[dict[str, Any]], int, dict[int, float]]:
    now = time.monotonic()
    rows = event_find(ids=list(holes)) if holes else []
    found = {row["id"] for row in rows}
    holes = {id_: since for id_, since in holes.items() if id_ not in found and now - since < HOLE_SECONDS}
    new = event_tail(after=cursor, limit=BATCH)
    expected = cursor + 1
    for row in new:
        if row["id"] - expected <= MAX_HOLES - len(holes):
            holes.update(dict.fromkeys(range(expected, row["id"]), now))
        expected = row["id"] + 1
    if new:
        cursor = new[-1]["id"]
    return rows + new, cursor, holes


async def _tail(cursor: int) -> None:
    layer = get_channel_layer()
    holes: dict[int, float] = {}
    # The last id the tail passed on per topic: sent as `prev`, so a subscriber whose channel was full (the
    # in-memory layer drops too) sees the hole at the next event and fills it from the table.
    previous: dict[str, int] = {}
    while _subscriptions > 0:
        await asyncio.sleep(settings.EVENTS_TAIL_INTERVAL_MS / 1000)
        try:
            rows, cursor, holes = await database_sync_to_async(_read)(cursor, holes)
            for row in rows:
                prev = previous.get(row["topic"]) if row["id"] > previous.get(row["topic"], 0) else None
                message = {**row, "type": "event.message", "event_type": row["type"], "prev": prev}
                previous[row["topic"]] = max(row["id"], previous.get(row["topic"], 0))
                if len(previous) > 100_000:
                    previous.clear()
                await layer.group_send(topic_group(row["topic"]), message)
        except Exception:  # noqa: BLE001 - the tail outlives a database hiccup
            logger.warning("reading the outbox failed; trying again", exc_info=True)
