"""What an attacker's probe of the analytics API found, kept found: dates at the ends of the calendar, exports
counted like the chart they copy, and one user's exports bounded."""

import pytest
from django.test import override_settings

from accounts.tests.factories import UserFactory
from analytics.models import Export
from projects.tests.factories import make_project

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
EXPORTS = "/api/v1/analytics/exports"


@pytest.fixture
def member(db):
    return UserFactory()


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-29", "9999-12-31"])
def test_a_last_day_at_the_ends_of_the_calendar_is_a_400_not_an_overflow(auth_client, member, day):
    """`from` defaults to 29 days before `to`: computed before the bounds were checked, it overflowed (500)."""
    project = make_project(member)
    client = auth_client(member)
    for path in ("/api/v1/analytics/trends?metric=jobs_created", f"/api/v1/analytics/projects/{project.id}/activity?"):
        response = client.get(f"{path}&to={day}", **EN)
        assert response.status_code == 400, (path, response.content)
        assert response.json()["details"]["field"] == "to"
    created = client.post(
        EXPORTS,
        {"report": "trends", "format": "json", "params": {"metric": ["jobs_created"], "to": day}},
        format="json",
    )
    assert created.status_code == 400 and created.json()["details"]["field"] == "params.to", created.content
    assert not Export.objects.exists()


@pytest.mark.parametrize("field", ["created_from", "created_to"])
def test_a_jobs_export_refuses_days_it_cannot_count_at_once(auth_client, member, field):
    """Refused when asked, not accepted with a 202 and failed in the worker with an overflow."""
    response = auth_client(member).post(
        EXPORTS, {"report": "jobs", "format": "csv", "params": {field: "9999-12-31"}}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["details"]["field"] == f"params.{field}"
    assert not Export.objects.exists()


def test_a_trends_export_counts_in_the_time_zone_the_chart_does(auth_client, member, monkeypatch):
    """The export of a chart holds the chart's numbers: the same default time zone and range, stored with it."""
    from datetime import UTC, datetime

    from analytics.selectors import figures

    # Today stopped at 16:30 UTC, already the next day in Shanghai: the chart and the export asked a moment
    # apart, and Shanghai's midnight (16:00 UTC) could fall between them; a UTC default would show here too.
    moment = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    monkeypatch.setattr(figures, "today_in", lambda tz: moment.astimezone(tz).date())
    client = auth_client(member)
    chart = client.get("/api/v1/analytics/trends?metric=projects_created", **EN).json()
    created = client.post(
        EXPORTS, {"report": "trends", "format": "json", "params": {"metric": ["projects_created"]}}, format="json"
    )
    assert created.status_code == 202, created.content
    params = created.json()["params"]
    assert params["tz"] == "Asia/Shanghai" and params["interval"] == "day"
    assert (params["from"], params["to"]) == (chart["x"][0], chart["x"][-1]) == ("2026-10-30", "2026-11-28")


@override_settings(ANALYTICS_EXPORTS_PER_USER=2)
def test_one_user_cannot_fill_the_export_queue(auth_client, member):
    for _ in range(2):
        Export.objects.create(created_by=member, report="projects", format="csv", language="en", task_id="t")
    client = auth_client(member)
    response = client.post(EXPORTS, {"report": "projects", "format": "csv", "params": {}}, format="json", **EN)
    assert response.status_code == 429, response.content
    body = response.json()
    assert body["error_code"] == "EXPORTS_BUSY" and body["details"]["limit"] == 2 and "2" in body["message"]
    assert Export.objects.count() == 2
    other = auth_client(UserFactory()).post(EXPORTS, {"report": "projects", "format": "csv"}, format="json")
    assert other.status_code == 202, other.content  # a limit per user, not for everyone
    Export.objects.filter(created_by=member).update(status=Export.Status.FAILED)
    again = client.post(EXPORTS, {"report": "projects", "format": "csv", "params": {}}, format="json")
    assert again.status_code == 202, again.content


@pytest.mark.parametrize("query", ["project=", "project=abc&project=", "project=0"])
def test_the_overview_refuses_a_project_that_is_no_id(auth_client, member, query):
    """`?project=` was no filter at all (a form's empty value), unlike every other analytics figure; the fuzzing
    gate found `?project=abc&project=` answering 200."""
    response = auth_client(member).get(f"/api/v1/analytics/overview?{query}", **EN)
    assert response.status_code == 400, response.content
    assert response.json()["details"]["field"] == "project"
