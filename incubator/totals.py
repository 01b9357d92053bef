"""Exact list totals without a COUNT per request: `cached_total`, the one helper every list uses.

A total depends only on the rows and on what names the queryset (its filters, and whose rows the caller
sees). It is kept in this process under the generation token of the rows' family (incubator.generations):
exact, because every write to the family bumps the token through its service, and free when warm, because a
list view that declares the family in `generations` gets the token in its request's one round trip to the
cache (incubator.batch).
"""

from collections.abc import Hashable

from django.db.models import QuerySet

from .generations import LocalMemo, generation_get

# Exact through tokens; the age limit only bounds how long a total can stay wrong if a bump after commit was
# lost while the cache was down (incubator.generations.generation_bump).
_TOTALS = LocalMemo(size=4096, max_age=300)


def cached_total(queryset: QuerySet, *, family: str, key: Hashable) -> int:
    """COUNT(*) of `queryset`, kept until `family` changes. `key` must name the queryset exactly: every
    filter and the caller's visibility scope (two callers who may see different rows need different keys)."""
    memo_key = (family, key, generation_get(family))
    total = _TOTALS.get(memo_key)
    if total is None:
        total = queryset.count()
        _TOTALS.set(memo_key, total)
    return total


def cached_totals_clear() -> None:
    """Forget every total kept in this process (tests)."""
    _TOTALS.clear()
