"""The analytics dashboard in Django admin (analytics.dashboard) through Django's test client: staff only, the
figures the page embeds against the selectors and against known data, the selector bar, bad input."""

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import PermissionDenied
from django.test import RequestFactory

from accounts.tests.factories import UserFactory
from aimodels.models import ModelVersion, TrainingJob
from analytics.dashboard import PROJECT_SELECT_LIMIT, dashboard_view
from analytics.scope import Scope
from analytics.selectors.figures import overview, trends
from projects import services as projects_services

URL = "/admin/analytics/dashboard/"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = re.compile(r'<script id="analytics-dashboard-data" type="application/json">(.*?)</script>', re.S)


def embedded(response) -> dict:
    assert response.status_code == 200
    found = DATA.search(response.content.decode())
    assert found, "the page embeds no dashboard data"
    return json.loads(found.group(1))


@pytest.fixture
def staff_client(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def platform(make):
    """Three projects (one per status), datasets, jobs of every kind with known durations, a model in production."""
    owner = UserFactory()
    air = make.project(owner, name="空气质量")
    speech = make.project(owner, name="Speech")
    projects_services.project_update(project=speech, actor=owner, data={"status": "in_progress"})
    done = make.project(owner, name="已结束")
    projects_services.project_update(project=done, actor=owner, data={"status": "completed"})
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    for minutes in (1, 2, 10):
        make.job(
            air,
            status=TrainingJob.Status.SUCCEEDED,
            started_at=start,
            finished_at=start + timedelta(minutes=minutes),
        )
    make.job(air, status=TrainingJob.Status.FAILED, started_at=start, finished_at=start + timedelta(minutes=5))
    make.job(speech, status=TrainingJob.Status.QUEUED)
    make.version(speech)
    make.model_version(air, stage=ModelVersion.Stage.PRODUCTION)
    return {"air": air, "speech": speech, "done": done}


# --- who may see it -------------------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_admin_login(client, platform):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={URL}"


def test_a_non_staff_user_is_refused(client, platform):
    member = UserFactory()
    client.force_login(member)
    response = client.get(URL, {"project": platform["air"].pk})
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    assert b"analytics-dashboard-data" not in response.content


def test_the_view_itself_refuses_a_non_staff_user_routed_without_admin_view(db):
    request = RequestFactory().get(URL)
    request.user = UserFactory()
    with pytest.raises(PermissionDenied):
        dashboard_view(request)


def test_the_admin_index_links_to_the_dashboard(staff_client):
    response = staff_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert f'href="{URL}"'.encode() in response.content


# --- what it shows ----------------------------------------------------------------------------------------------


def test_the_page_embeds_the_selectors_figures(staff_client, admin, platform):
    response = staff_client.get(URL, HTTP_ACCEPT_LANGUAGE="en")
    data = embedded(response)
    assert data["overview"] == json.loads(json.dumps(overview(scope=Scope(user=admin))))
    figures = data["overview"]
    # Against the data planted, not only against the selector.
    assert figures["projects"]["total"] == 3
    assert figures["jobs"]["total"] == 5
    assert figures["jobs"]["success_rate"] == 0.75  # 3 succeeded of 4 finished
    # 60, 120 and 600 s: p90 at rank 1.8 is 120 + 0.8 * 480.
    assert figures["jobs"]["duration_seconds"] == {"median": 120.0, "p90": 504.0}
    assert figures["models"]["in_production"] == 1
    # The status charts are the overview's counts, labelled in the request's language.
    assert data["charts"]["projects_by_status"]["x"] == ["Recruiting", "In progress", "Completed"]
    assert data["charts"]["projects_by_status"]["series"][0]["data"] == [1, 1, 1]
    assert data["keys"]["jobs_by_status"] == ["queued", "running", "succeeded", "failed", "cancelled"]
    assert data["charts"]["jobs_by_status"]["series"][0]["data"] == [1, 0, 3, 1, 0]
    # The tiles are rendered from the same figures.
    page = response.content.decode()
    assert re.search(r'data-tile="success_rate">\s*<span class="analytics-tile-value">75.0%</span>', page)
    assert re.search(r'data-tile="duration_median">\s*<span class="analytics-tile-value">2.0 min</span>', page)
    assert "Analytics dashboard" in page


def test_the_trends_follow_the_range_interval_and_time_zone(staff_client, admin, make):
    # 17:30 UTC on 1 January is already 2 January in Shanghai.
    make.project(created_at=datetime(2026, 1, 1, 17, 30, tzinfo=UTC))
    make.project(created_at=datetime(2026, 1, 3, 2, tzinfo=UTC))
    params = {"range": "custom", "start": "2026-01-01", "end": "2026-01-07", "interval": "day"}

    shanghai = embedded(staff_client.get(URL, params))
    people = shanghai["charts"]["trend_people"]
    assert people["x"] == [f"2026-01-0{day}" for day in range(1, 8)]
    assert people["series"][0]["data"] == [0, 1, 1, 0, 0, 0, 0]
    assert people == trends(
        scope=Scope(user=admin),
        metrics=["projects_created", "users_registered"],
        interval="day",
        start=date(2026, 1, 1),
        end=date(2026, 1, 7),
        tz=SHANGHAI,
    )
    assert shanghai["params"] == {**params, "tz": "Asia/Shanghai", "project": None}

    utc = embedded(staff_client.get(URL, {**params, "tz": "UTC"}))
    assert utc["charts"]["trend_people"]["series"][0]["data"] == [1, 0, 1, 0, 0, 0, 0]

    weekly = embedded(staff_client.get(URL, {**params, "interval": "week"}))
    assert weekly["charts"]["trend_people"]["x"] == ["2025-12-29", "2026-01-05"]  # ISO weeks start on Monday
    assert weekly["charts"]["trend_people"]["series"][0]["data"] == [2, 0]


def test_the_trend_charts_hold_their_metrics(staff_client):
    data = embedded(staff_client.get(URL, {"range": "7"}, HTTP_ACCEPT_LANGUAGE="en"))
    names = {key: [series["name"] for series in data["charts"][key]["series"]] for key in data["keys"]}
    assert names["trend_people"] == ["Projects created", "Users registered"]
    assert names["trend_jobs"] == ["Training jobs created", "Training jobs succeeded", "Training jobs failed"]
    assert names["trend_datasets"] == ["Dataset versions uploaded"]
    assert data["keys"]["trend_jobs"] == ["jobs_created", "jobs_succeeded", "jobs_failed"]
    assert len(data["charts"]["trend_jobs"]["x"]) == 7


def test_the_default_range_is_the_last_30_days_in_shanghai(staff_client):
    before = datetime.now(SHANGHAI).date()
    data = embedded(staff_client.get(URL))
    # Today read on both sides of the request: Shanghai's midnight (16:00 UTC) may fall during it.
    today = date.fromisoformat(data["params"]["end"])
    assert today in {before, datetime.now(SHANGHAI).date()}
    assert data["params"]["start"] == (today - timedelta(days=29)).isoformat()
    assert data["params"]["interval"] == "day" and data["params"]["tz"] == "Asia/Shanghai"
    assert len(data["charts"]["trend_datasets"]["x"]) == 30


def test_a_project_narrows_every_figure(staff_client, admin, platform):
    air = platform["air"]
    response = staff_client.get(URL, {"project": air.pk}, HTTP_ACCEPT_LANGUAGE="en")
    data = embedded(response)
    assert data["overview"] == json.loads(json.dumps(overview(scope=Scope(user=admin, project_id=air.pk))))
    assert data["overview"]["projects"]["total"] == 1
    assert data["overview"]["jobs"]["total"] == 4
    assert data["params"]["project"] == air.pk
    page = response.content.decode()
    assert "Project: 空气质量" in page
    assert f'<option value="{air.pk}" selected>空气质量</option>' in page


def test_many_projects_turn_the_project_select_into_an_id_box(staff_client, make, monkeypatch):
    monkeypatch.setattr("analytics.dashboard.PROJECT_SELECT_LIMIT", 2)
    projects = [make.project() for _ in range(3)]
    page = staff_client.get(URL, {"project": projects[2].pk}).content.decode()
    assert f'type="number" name="project" value="{projects[2].pk}"' in page
    assert "<option value=" + f'"{projects[0].pk}"' not in page
    assert PROJECT_SELECT_LIMIT >= 100


def test_a_write_shows_on_the_next_load(staff_client, make, django_capture_on_commit_callbacks):
    """The figures are cached (analytics.memo) until a write that counts bumps the analytics generation."""
    before = embedded(staff_client.get(URL))["overview"]["projects"]["total"]
    with django_capture_on_commit_callbacks(execute=True):
        make.project()
    assert embedded(staff_client.get(URL))["overview"]["projects"]["total"] == before + 1


def test_chinese_by_default(staff_client, platform):
    data = embedded(staff_client.get(URL))
    assert data["charts"]["projects_by_status"]["x"] == ["招募中", "进行中", "已完成"]


# --- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"range": "abc"}, "range"),
        ({"range": "custom", "start": "99999-01-01", "end": "2026-01-01"}, "start"),
        ({"range": "custom", "start": "2026-13-01", "end": "2026-01-01"}, "start"),
        ({"range": "custom", "start": "0001-01-01", "end": "2026-01-01"}, "start"),
        ({"range": "custom", "start": "2026-01-01", "end": "9999-12-31"}, "end"),
        ({"range": "custom", "start": "2026-02-01", "end": "2026-01-01"}, "end"),
        ({"range": "custom", "start": "2026-02-01"}, "end"),
        ({"range": "custom", "start": "2020-01-01", "end": "2026-01-01", "interval": "day"}, "__all__"),
        ({"interval": "year"}, "interval"),
        ({"tz": "Mars/Olympus"}, "tz"),
        ({"tz": "../../etc/passwd"}, "tz"),
        ({"tz": "Asia/Shanghai\x00"}, "tz"),
        ({"tz": "x" * 1000}, "tz"),
        ({"project": "abc"}, "project"),
        ({"project": "NaN"}, "project"),
        ({"project": "1.5"}, "project"),
        ({"project": str(2**70)}, "project"),
        ({"project": "0"}, "project"),
        ({"project": "999999"}, "project"),
    ],
)
def test_bad_params_show_errors_and_the_defaults(staff_client, params, field):
    before = datetime.now(SHANGHAI).date()
    response = staff_client.get(URL, params, HTTP_ACCEPT_LANGUAGE="en")
    data = embedded(response)
    assert response.context["form"].errors.keys() == {field}
    assert b'class="errornote"' in response.content
    # What was wrong falls back to its default; the page is drawn all the same. Today is read on both sides of
    # the request: Shanghai's midnight (16:00 UTC) may fall during it.
    assert data["params"]["range"] == "30"
    assert data["params"]["end"] in {before.isoformat(), datetime.now(SHANGHAI).date().isoformat()}
    assert data["params"]["tz"] == "Asia/Shanghai" or field != "tz"
    assert data["params"]["project"] is None
    assert data["params"]["interval"] == "day"
    assert data["charts"]["trend_jobs"]["x"][-1] == data["params"]["end"]


def test_dates_alone_mean_a_custom_range(staff_client):
    data = embedded(staff_client.get(URL, {"start": "2026-03-01", "end": "2026-03-03"}))
    assert data["params"]["range"] == "custom"
    assert data["charts"]["trend_people"]["x"] == ["2026-03-01", "2026-03-02", "2026-03-03"]


def test_a_year_by_month_is_allowed(staff_client):
    params = {"range": "custom", "start": "2020-01-01", "end": "2026-01-01", "interval": "month"}
    response = staff_client.get(URL, params)
    data = embedded(response)
    assert not response.context["form"].errors
    assert len(data["charts"]["trend_people"]["x"]) == 73
