"""Safe retries of creating POSTs: the same Idempotency-Key and body within a day return the first answer.

A client that timed out cannot know whether its create happened; it retries with the same key. The key's
record is inserted in the same transaction as the create itself and holds its answer, so either both exist or
neither does: a retry finds the record (and gets the first answer, marked `Idempotent-Replayed: true`) or
finds nothing and creates. Two requests racing with one key serialize on the record's unique row: the second
waits for the first to commit and then replays it. Errors are not recorded (nothing was created), so a retry
after a 4xx or 5xx runs again.
"""

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle

from incubator.errors import InvalidInput
from incubator.renderers import dumps

from .errors import IdempotencyKeyReused
from .models import IdempotentRequest

HEADER = "Idempotency-Key"
LIFETIME = timedelta(hours=24)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces: UUIDs, ULIDs, anything sane
_PURGE_BATCH = 100


def _owner(request: Any) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"anon:{BaseThrottle().get_ident(request)}"[:80]


def _part(value: Any) -> str:
    """A non-JSON value of the body: an uploaded file by its name, size and content (the upload handler hashes
    it as it arrives; a file from elsewhere is hashed here), anything else by its text."""
    if isinstance(value, UploadedFile):
        digest = getattr(value, "sha256", None)
        if digest is None:
            hashed = hashlib.sha256()
            for chunk in value.chunks():
                hashed.update(chunk)
            value.seek(0)
            digest = hashed.hexdigest()
        return f"file:{value.name}:{value.size}:{digest}"
    return str(value)


def _fingerprint(request: Any) -> str:
    # The standard library, not orjson: a body may hold integers past 64 bits, which the serializer then
    # refuses with a 400; the fingerprint must not fail on them first.
    # surrogatepass: a lone surrogate (valid JSON, "\ud800") is the serializer's to refuse, not a 500 here; every
    # other text encodes to the same bytes as before, so stored fingerprints still match.
    body = json.dumps(request.data, sort_keys=True, ensure_ascii=False, default=_part).encode("utf-8", "surrogatepass")
    digest = hashlib.sha256(f"{request.method} {request.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


def _replay(record: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(record.body, status=record.status_code, content_type="application/json")
    if record.location:
        response["Location"] = record.location
    response["Idempotent-Replayed"] = "true"
    return response


def _purge_expired() -> None:
    """A bounded sweep of expired records, so the table stays about a day of creates long."""
    expired = IdempotentRequest.objects.filter(expires_at__lt=timezone.now()).values_list("pk", flat=True)
    IdempotentRequest.objects.filter(pk__in=list(expired[:_PURGE_BATCH])).delete()


def idempotent_call(request: Any, handler: Callable[[], Response]) -> HttpResponse:
    """Run `handler` (a creating POST) under the request's Idempotency-Key, if it sent one."""
    key = request.headers.get(HEADER)
    if key is None:
        return handler()
    if not _KEY.match(key):
        raise InvalidInput({HEADER: [_("Use 1 to 255 printable ASCII characters, such as a UUID.")]})
    owner, fingerprint = _owner(request), _fingerprint(request)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record = IdempotentRequest.objects.create(
                    owner=owner, key=key, fingerprint=fingerprint, status_code=0, expires_at=timezone.now() + LIFETIME
                )
        except IntegrityError:
            record = IdempotentRequest.objects.select_for_update().get(owner=owner, key=key)
            if record.expires_at >= timezone.now():
                if record.fingerprint != fingerprint:
                    raise IdempotencyKeyReused() from None
                return _replay(record)
            record.fingerprint, record.expires_at = fingerprint, timezone.now() + LIFETIME
        response = handler()  # raising rolls the record back with the create: a retry runs again
        if response.status_code >= 400:
            transaction.set_rollback(True)
            return response
        record.status_code = response.status_code
        # As the client read it (datetimes in the contract's format, keys in order): a replay is byte for byte.
        record.body = "" if response.data is None else dumps(response.data).decode()
        record.location = response.get("Location", "")[:500]
        record.save()
        _purge_expired()
    return response


def idempotent(method: Callable[..., Response]) -> Callable[..., HttpResponse]:
    """Decorates a view's creating POST: `Idempotency-Key` makes its retries safe (see idempotent_call)."""

    @wraps(method)
    def wrapper(view: Any, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        return idempotent_call(request, lambda: method(view, request, *args, **kwargs))

    wrapper.idempotent = True  # type: ignore[attr-defined]  # the OpenAPI schema documents the header
    return wrapper
