"""Topics of the live stream: their names, their channel-layer groups, and who may read them.

A topic is `kind:id` (`project:12`, `job:7`, `dataset:3`, `user:5`). The shared package knows no app, so each
app registers, in its AppConfig.ready, the function that says whether a user may read a topic of its kind
(`topic_kind_register`); the stream, SSE and polling all ask `topics_readable`.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

TOPIC_RE = re.compile(r"^(?P<kind>[a-z][a-z_]{0,30}):(?P<id>[1-9][0-9]{0,17})$")

Reader = Callable[[Any, list[int]], set[int]]
_READERS: dict[str, Reader] = {}


def topic_kind_register(kind: str, reader: Reader) -> None:
    """`reader(user, ids)` returns the ids among `ids` the user may read (one query for all of them)."""
    _READERS[kind] = reader


def topic_kinds() -> list[str]:
    return sorted(_READERS)


def topic_parse(topic: Any) -> tuple[str, int] | None:
    """(kind, id) of a well-formed topic of a registered kind, else None."""
    if not isinstance(topic, str):
        return None
    match = TOPIC_RE.match(topic)
    if match is None or match["kind"] not in _READERS:
        return None
    return match["kind"], int(match["id"])


def topic_group(topic: str) -> str:
    """The channel-layer group of a topic (group names allow letters, digits, '-', '_' and '.', not ':')."""
    return "topic." + topic.replace(":", ".")


def user_control_group(user_id: int) -> str:
    """Where a user's open streams hear that their access changed (a membership was removed, say)."""
    return f"stream-user.{user_id}"


def topics_readable(user: Any, topics: Iterable[str]) -> set[str]:
    """The topics among `topics` (well-formed ones) that `user` may read now: one query per kind."""
    by_kind: dict[str, list[int]] = {}
    for topic in topics:
        parsed = topic_parse(topic)
        if parsed is not None:
            by_kind.setdefault(parsed[0], []).append(parsed[1])
    if user is None or not user.is_authenticated or not user.is_active:
        return set()
    readable: set[str] = set()
    for kind, ids in by_kind.items():
        readable.update(f"{kind}:{id_}" for id_ in _READERS[kind](user, ids))
    return readable
