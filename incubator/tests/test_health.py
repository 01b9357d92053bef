"""Liveness, readiness, and readiness when a dependency is down."""

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db


def test_liveness(api_client):
    assert api_client.get("/api/v1/health").json() == {"status": "ok"}


def test_readiness_checks_database_cache_broker(api_client):
    body = api_client.get("/api/v1/health/ready").json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readiness_names_the_database_when_it_is_down(api_client, monkeypatch):
    from incubator import health

    def refuse():
        raise OperationalError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", refuse)
    response = api_client.get("/api/v1/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["error_code"] == "SERVICE_UNAVAILABLE"
    assert body["details"]["unavailable"] == ["database"]
    assert body["details"]["checks"]["cache"]["ok"] is True


def test_readiness_names_the_cache_when_it_is_down(api_client, monkeypatch):
    from incubator import health

    def refuse():
        raise ConnectionError("redis down")

    monkeypatch.setitem(health.CHECKS, "cache", refuse)
    response = api_client.get("/api/v1/health/ready")
    assert response.status_code == 503
    assert response.json()["details"]["unavailable"] == ["cache"]
