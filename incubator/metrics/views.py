"""GET /metrics: the Prometheus exposition of every process of this machine, plus what is read at scrape
time (the broker's queue lengths, training jobs by status). Only with the token or from an allowed network."""

import hmac
import ipaddress
import logging
import os
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from incubator.exceptions import error_response

from . import MULTIPROCESS, collector_failed

logger = logging.getLogger(__name__)

# Headers a proxy adds: a request that came through one is not the TCP peer it looks like.
_FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def metrics_allowed(request: HttpRequest) -> bool:
    """The bearer token (compared in constant time), or a direct client from METRICS_ALLOWED_NETWORKS."""
    token = settings.METRICS_TOKEN
    authorization = request.headers.get("Authorization", "")
    if token and authorization[:7].lower() == "bearer ":
        return hmac.compare_digest(authorization[7:].strip().encode(), token.encode())
    if any(header in request.META for header in _FORWARDED):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 on a dual-stack bind is 10.0.0.1
    return any(address in network for network in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS)))


# --- read at scrape time ----------------------------------------------------------------------------------

# kombu's Redis transport keeps a queue's messages of priority p > 0 in `<queue>\x06\x16<p>`.
_PRIORITY_STEPS = (0, 3, 6, 9)
_PRIORITY_SEP = "\x06\x16"
_redis_lock = threading.Lock()
_redis_clients: dict[str, Any] = {}


def celery_queues() -> list[str]:
    queues = [settings.CELERY_TASK_DEFAULT_QUEUE]
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        queue = route.get("queue") if isinstance(route, dict) else None
        if queue and queue not in queues:
            queues.append(queue)
    return queues


def _broker_redis(url: str) -> Any:
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            import redis

            client = _redis_clients[url] = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        return client


def queue_lengths() -> dict[str, int] | None:
    """Messages waiting per queue: LLEN on a Redis broker (one pipeline), files in the embedded broker's
    folder; None for a broker this cannot read (AMQP)."""
    url = settings.CELERY_BROKER_URL
    queues = celery_queues()
    if url.startswith(("redis://", "rediss://", "unix://")):
        prefix = str((settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("global_keyprefix", ""))
        pipe = _broker_redis(url).pipeline(transaction=False)
        for queue in queues:
            for step in _PRIORITY_STEPS:
                pipe.llen(prefix + (queue if step == 0 else f"{queue}{_PRIORITY_SEP}{step}"))
        replies = pipe.execute()
        per = len(_PRIORITY_STEPS)
        return {queue: sum(replies[i * per : (i + 1) * per]) for i, queue in enumerate(queues)}
    if url.startswith("filesystem://"):
        folder = str((settings.CELERY_BROKER_TRANSPORT_OPTIONS or {}).get("data_folder_in") or "")
        counts = dict.fromkeys(queues, 0)
        if folder and os.path.isdir(folder):
            for entry in os.scandir(folder):  # <time>_<uuid>.<queue>.msg
                queue = entry.name[:-4].rpartition(".")[2] if entry.name.endswith(".msg") else ""
                if queue in counts:
                    counts[queue] += 1
        return counts
    return None


def training_jobs_by_status() -> dict[str, int]:
    """One GROUP BY; every status present, 0 when no job has it. By name: the shared package imports no app."""
    model = apps.get_model("aimodels", "TrainingJob")
    counts = {str(value): 0 for value, _label in model._meta.get_field("status").choices or ()}
    for row in model.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    return counts


class ScrapeTimeCollector(Collector):
    """Gauges read when Prometheus scrapes: a source that is down leaves its samples out and counts an error
    in incubator_metrics_collector_errors_total, the rest of the page is served."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            lengths = queue_lengths()
        except Exception:  # noqa: BLE001 - a broker that is down must not fail the scrape
            logger.warning("metrics: the broker's queue lengths could not be read", exc_info=True)
            collector_failed("celery_queue_length")
            lengths = None
        if lengths is not None:
            family = GaugeMetricFamily(
                "incubator_celery_queue_length", "Celery messages waiting in the broker, by queue.", labels=["queue"]
            )
            for queue, length in lengths.items():
                family.add_metric([queue], length)
            yield family
        try:
            jobs = training_jobs_by_status()
        except Exception:  # noqa: BLE001
            logger.warning("metrics: training jobs could not be counted", exc_info=True)
            collector_failed("training_jobs")
            return
        family = GaugeMetricFamily("incubator_training_jobs", "Training jobs by status.", labels=["status"])
        for status, count in jobs.items():
            family.add_metric([status], count)
        yield family


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    # First, so an error it counts is already on the page it fails on.
    registry.register(ScrapeTimeCollector())
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Default())
    return registry


class _Default(Collector):
    """The default registry's metrics (this process's, with its process and platform collectors)."""

    def collect(self) -> Iterator[Any]:
        yield from REGISTRY.collect()


_exposition = _registry()


@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Not part of the API (no /api/v1 prefix, not in the OpenAPI document). Refused with 403 in the error body:
    /metrics is a well-known address, so answering 404 would hide nothing, and a 403 tells whoever sets up the
    scrape that the token or the network is what is missing. Any other method than GET/HEAD is a 405 in the
    error body (Django's require_safe answered an empty 405, and CSRF's HTML page came first for a POST)."""
    if request.method not in ("GET", "HEAD"):
        response = error_response(405)
        response["Allow"] = "GET, HEAD"
        return response
    if not metrics_allowed(request):
        return error_response(403, "PERMISSION_DENIED")
    response = HttpResponse(generate_latest(_exposition), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
