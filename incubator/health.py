"""Liveness and readiness: is the process up, and can it reach the database, the cache and the broker."""

import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .errors import ServiceUnavailable


def _check_database() -> None:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache() -> None:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    if cache.get(key) != "1":
        raise RuntimeError("cache did not return what was written")
    cache.delete(key)


def _check_broker() -> None:
    if settings.CELERY_EMBEDDED_WORKER:
        return  # the in-memory broker lives in this process
    from .celery import app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


CHECKS: dict[str, Callable[[], None]] = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


def readiness() -> tuple[bool, dict[str, Any]]:
    results: dict[str, Any] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type goes in the report
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}
    return all(r["ok"] for r in results.values()), results


_Status = inline_serializer("HealthStatus", {"status": serializers.CharField()})


class LivenessView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        tags=["health"],
        responses={200: _Status},
        summary="Liveness: the process answers",
        description=(
            'Answers `{"status": "ok"}` whenever the process runs, without touching the database, cache or '
            "broker; for a load balancer's or orchestrator's liveness probe. No login, no rate limit."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class ReadinessView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    @extend_schema(
        tags=["health"],
        summary="Readiness: database, cache and broker reachable",
        description=(
            "Checks the database, the cache and the task broker and reports each with its latency. When one is "
            "down the answer is a 503 SERVICE_UNAVAILABLE whose `details.unavailable` names it. No login, no rate "
            "limit."
        ),
        responses={
            200: inline_serializer("Readiness", {"status": serializers.CharField(), "checks": serializers.DictField()})
        },
    )
    def get(self, request: Request) -> Response:
        ok, checks = readiness()
        if not ok:
            down = [name for name, result in checks.items() if not result["ok"]]
            raise ServiceUnavailable(details={"unavailable": down, "checks": checks})
        return Response({"status": "ok", "checks": checks})
