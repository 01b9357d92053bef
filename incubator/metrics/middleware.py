"""Per-request metrics: count, latency, SQL queries and Redis round trips, labelled by the URL pattern the
request matched (never its path, so a scan of random addresses adds no series)."""

import time
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.http import HttpRequest, HttpResponse

from . import HTTP_DB_QUERIES, HTTP_DURATION, HTTP_REDIS_ROUND_TRIPS, HTTP_REQUESTS, RequestStats, request_stats

UNMATCHED = "<unmatched>"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _QueryCounter:
    """A database execute wrapper that only counts (connection.execute_wrapper without its context manager)."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable[..., Any], sql: Any, params: Any, many: bool, context: Any) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def request_route(request: HttpRequest) -> str:
    """The URL pattern, never the path. Django admin's ~190 patterns are one label: an anonymous client walking
    them with every method multiplied the series twentyfold (and the scrape's time with them)."""
    match = getattr(request, "resolver_match", None)
    if match is None or not match.route:
        return UNMATCHED
    return "admin" if match.route.startswith("admin/") else match.route


class MetricsMiddleware:
    """First in MIDDLEWARE, so its clock and counters take in every other middleware. Synchronous only: HTTP
    runs Django's sync stack on the thread pool (incubator.asgi), where a request keeps one thread and so one
    set of database connections, which is what the query count watches."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        queries = _QueryCounter()
        watched = [connections[alias] for alias in connections]
        for connection in watched:
            connection.execute_wrappers.append(queries)
        stats = RequestStats()
        token = request_stats.set(stats)
        started = time.perf_counter()
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            elapsed = time.perf_counter() - started
            request_stats.reset(token)
            for connection in watched:
                connection.execute_wrappers.remove(queries)
            # A refused method (405) is one label, whatever was sent: the route already says where.
            method = request.method if request.method in _METHODS and status != 405 else "other"
            route = request_route(request)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_DURATION.labels(method, route).observe(elapsed)
            HTTP_DB_QUERIES.labels(route).observe(queries.count)
            HTTP_REDIS_ROUND_TRIPS.labels(route).observe(stats.redis_round_trips)
