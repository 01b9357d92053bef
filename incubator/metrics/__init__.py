"""The service's Prometheus metrics: their definitions and the cheap hooks the request path calls.

Every process of a machine writes its values to PROMETHEUS_MULTIPROC_DIR (set in incubator/__init__.py before
prometheus_client is imported) and /metrics (incubator.metrics.views) sums them. Label values are bounded: URL
pattern templates, never paths; topic kinds, never topic ids; task names; throttle scopes.
"""

import contextvars
import os
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUESTS = Counter(
    "incubator_http_requests_total", "HTTP requests answered by Django.", ["method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "incubator_http_request_duration_seconds",
    "Time Django took to answer (a streamed body's transfer not included).",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
HTTP_DB_QUERIES = Histogram(
    "incubator_http_request_db_queries",
    "SQL queries per HTTP request, every database alias.",
    ["route"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 20, 30, 50, 100),
)
HTTP_REDIS_ROUND_TRIPS = Histogram(
    "incubator_http_request_redis_round_trips",
    "Round trips to Redis per HTTP request (the cache batch's pipelines and raw writes).",
    ["route"],
    buckets=(0, 1, 2, 3, 5, 10),
)
CELERY_TASKS = Counter("incubator_celery_tasks_total", "Celery tasks that ended, by outcome.", ["task", "outcome"])
CELERY_TASK_DURATION = Histogram(
    "incubator_celery_task_duration_seconds",
    "Time a Celery task ran in its worker.",
    ["task"],
    buckets=(0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 21600.0),
)
DATASET_CONVERSIONS = Counter(
    "incubator_dataset_conversions_total", "Uploaded files converted to Parquet, by outcome.", ["outcome"]
)
DATASET_CONVERSION_DURATION = Histogram(
    "incubator_dataset_conversion_duration_seconds",
    "Time from the start of a conversion task to its version being ready or failed (the profile not included).",
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
)
LIVE_CONNECTIONS = Gauge(
    "incubator_live_connections",
    "Open WebSocket and Server-Sent Events connections.",
    ["transport"],
    multiprocess_mode="livesum",
)
EVENTS_PUBLISHED = Counter(
    "incubator_events_published_total", "Outbox events published to the channel layer, by topic kind.", ["kind"]
)
EVENTS_REPLAYED = Counter(
    "incubator_events_replayed_total",
    "Events sent again from the table to clients that reconnected or poll, by transport.",
    ["transport"],
)
RATE_LIMIT_REJECTIONS = Counter(
    "incubator_rate_limit_rejections_total", "Requests refused with 429, by the limit that refused them.", ["scope"]
)
COLLECTOR_ERRORS = Counter(
    "incubator_metrics_collector_errors_total",
    "Scrape-time collections that failed (the broker or the database down): their samples are left out.",
    ["collector"],
)


# Every family /metrics exports (the deploy/ dashboard and alerts are checked against it): the ones above, and
# the gauges read at scrape time (incubator.metrics.views).
METRIC_NAMES = (
    "incubator_http_requests_total",
    "incubator_http_request_duration_seconds",
    "incubator_http_request_db_queries",
    "incubator_http_request_redis_round_trips",
    "incubator_celery_queue_length",
    "incubator_celery_tasks_total",
    "incubator_celery_task_duration_seconds",
    "incubator_training_jobs",
    "incubator_dataset_conversions_total",
    "incubator_dataset_conversion_duration_seconds",
    "incubator_live_connections",
    "incubator_events_published_total",
    "incubator_events_replayed_total",
    "incubator_rate_limit_rejections_total",
    "incubator_metrics_collector_errors_total",
)


class RequestStats:
    """What one HTTP request cost, counted by the hooks below while it runs."""

    __slots__ = ("redis_round_trips",)

    def __init__(self) -> None:
        self.redis_round_trips = 0


request_stats: contextvars.ContextVar[RequestStats | None] = contextvars.ContextVar("request_stats", default=None)


def redis_round_trip() -> None:
    """One round trip to Redis, counted against the request being served (nothing outside a request)."""
    stats = request_stats.get()
    if stats is not None:
        stats.redis_round_trips += 1


def live_connection_opened(transport: str) -> None:
    LIVE_CONNECTIONS.labels(transport).inc()


def live_connection_closed(transport: str) -> None:
    LIVE_CONNECTIONS.labels(transport).dec()


def event_published(topic: str) -> None:
    EVENTS_PUBLISHED.labels(topic.partition(":")[0]).inc()


def events_replayed(transport: str, count: int) -> None:
    if count:
        EVENTS_REPLAYED.labels(transport).inc(count)


def rate_limit_rejected(scope: str) -> None:
    RATE_LIMIT_REJECTIONS.labels(scope).inc()


def dataset_conversion_ended(outcome: str, seconds: float) -> None:
    DATASET_CONVERSIONS.labels(outcome).inc()
    DATASET_CONVERSION_DURATION.observe(max(0.0, seconds))


def collector_failed(collector: str) -> None:
    COLLECTOR_ERRORS.labels(collector).inc()


def process_gone(pid: int | None = None, **kwargs: Any) -> None:
    """A process of this machine ended: its live gauges (open connections) stop counting."""
    if MULTIPROCESS:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid if pid is not None else os.getpid())


if MULTIPROCESS:
    import atexit

    # Pool processes that end with os._exit are marked by incubator.metrics.worker instead.
    atexit.register(process_gone)
