"""Analytics answers kept briefly in the shared cache (Redis in production), under the analytics generation.

Every write that changes what a figure counts records an outbox event (or, for a registration, bumps the token
itself): incubator.events.services bumps ANALYTICS_GENERATION for those, so a cached answer is never older
than the last such write; ANALYTICS_CACHE_SECONDS only bounds what a lost bump could leave stale. The key names
the endpoint, the scope (who may read what), the parameters and the language of the labels.
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from incubator.generations import ANALYTICS_GENERATION, generation_get

from .scope import Scope

# Bump when an answer's shape changes (2: jobs/compare's metric_names and curve labels), so the processes of a new
# release never serve an answer the old ones cached in the old shape.
SHAPE_VERSION = 2


def memo_key(endpoint: str, scope: Scope, params: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:32]
    language = translation.get_language() or settings.LANGUAGE_CODE
    generation = generation_get(ANALYTICS_GENERATION)
    return f"analytics:v{SHAPE_VERSION}:{endpoint}:{scope.key}:{language}:{digest}:{generation}"


def memoized(endpoint: str, scope: Scope, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """The cached answer, or `compute()` stored for ANALYTICS_CACHE_SECONDS. The value must be JSON-able."""
    key = memo_key(endpoint, scope, params)
    found = cache.get(key)
    if found is not None:
        return found
    value = compute()
    cache.set(key, value, settings.ANALYTICS_CACHE_SECONDS)
    return value
