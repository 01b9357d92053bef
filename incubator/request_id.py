"""The id of the request being served, for logs and 500 bodies; Celery tasks run under the id of the request
(or task) that sent them (incubator.celery)."""

import contextvars
import re
import uuid

# What a client or proxy may send as X-Request-ID, and what a task message may carry.
REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")  # whole values only: fullmatch (a "$" let "abc\n" through)

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def current_request_id() -> str:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def set_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def reset_request_id(token: contextvars.Token) -> None:
    try:
        _request_id.reset(token)
    except ValueError:  # set in another context (a task ended elsewhere than it began): leave the current one
        pass
