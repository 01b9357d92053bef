"""/api/v1/analytics/overview, /trends and /projects/{id}/activity: the contract (shapes, labels, errors),
who may read what, the cached answer and its refresh, and a constant number of queries."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from projects import services as project_services
from projects.models import Project

pytestmark = pytest.mark.django_db

OVERVIEW = "/api/v1/analytics/overview"
TRENDS = "/api/v1/analytics/trends"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def activity_url(project_id: int) -> str:
    return f"/api/v1/analytics/projects/{project_id}/activity"


@pytest.fixture
def world(make):
    """A member of a private project, another team's private project, and a public project."""
    member, stranger = UserFactory(), UserFactory()
    ours = make.project(member, name="我们的项目", visibility="private")
    theirs = make.project(stranger, name="别人的项目", visibility="private", status="in_progress")
    public = make.project(name="公开项目", status="completed")
    moment = datetime(2026, 3, 1, 15, 59, 59, tzinfo=UTC)
    make.job(ours, status="succeeded", created_at=moment, started_at=moment, finished_at=moment + timedelta(seconds=30))
    for _ in range(3):
        make.job(theirs, status="failed", created_at=moment, finished_at=moment)
    return {"member": member, "stranger": stranger, "ours": ours, "theirs": theirs, "public": public}


def error(response) -> dict:
    body = response.json()
    assert body["status_code"] == response.status_code
    assert set(body) == {"status_code", "error_code", "message", "details"}
    return body


# --- overview -----------------------------------------------------------------------------------------------


def test_overview_shape_and_labels(auth_client, world):
    client = auth_client(world["member"])
    body = client.get(OVERVIEW, **EN).json()
    assert set(body) == {"projects", "users", "datasets", "jobs", "models"}
    assert body["projects"] == {
        "total": 2,
        "by_status": [
            {"key": "recruiting", "label": "Recruiting", "count": 1},
            {"key": "in_progress", "label": "In progress", "count": 0},
            {"key": "completed", "label": "Completed", "count": 1},
        ],
    }
    assert [row["key"] for row in body["users"]["by_role"]] == ["member", "mentor", "admin"]
    assert body["jobs"]["total"] == 1  # never the other team's three failures
    assert body["jobs"]["success_rate"] == 1.0
    assert body["jobs"]["duration_seconds"] == {"median": 30.0, "p90": 30.0}
    assert set(body["datasets"]) == {"datasets", "versions"} and body["models"] == {"in_production": 0}
    # zh-hans by default, the contract's labels.
    chinese = client.get(OVERVIEW).json()
    assert [row["label"] for row in chinese["projects"]["by_status"]] == ["招募中", "进行中", "已完成"]


def test_overview_for_an_admin_and_for_one_project(auth_client, world, admin):
    client = auth_client(admin)
    assert client.get(OVERVIEW).json()["jobs"]["total"] == 4
    narrowed = client.get(OVERVIEW, {"project": world["theirs"].id}).json()
    assert narrowed["jobs"]["total"] == 3 and narrowed["jobs"]["success_rate"] == 0.0
    assert narrowed["projects"]["total"] == 1


def test_overview_of_a_project_the_caller_may_not_read_is_a_404(auth_client, world):
    client = auth_client(world["member"])
    response = client.get(OVERVIEW, {"project": world["theirs"].id})
    assert response.status_code == 404 and error(response)["error_code"] == "NOT_FOUND"
    assert client.get(OVERVIEW, {"project": world["public"].id}).status_code == 200


@pytest.mark.parametrize("value", ["abc", "NaN", "0", "-1", str(2**63), "9" * 40, "1.5"])
def test_overview_refuses_a_bad_project(auth_client, world, value):
    response = auth_client(world["member"]).get(OVERVIEW, {"project": value})
    assert response.status_code == 400
    assert error(response)["details"]["field"] == "project"


@pytest.mark.parametrize("url", [OVERVIEW, TRENDS + "?metric=jobs_created", "/api/v1/analytics/projects/1/activity"])
def test_anonymous_callers_are_refused(api_client, url):
    response = api_client.get(url)
    assert response.status_code == 401 and error(response)["error_code"] == "NOT_AUTHENTICATED"


# --- the cached answer --------------------------------------------------------------------------------------


def test_a_cached_answer_is_served_until_a_counting_write(
    auth_client, world, admin, django_capture_on_commit_callbacks
):
    client = auth_client(admin)
    first = client.get(OVERVIEW).json()["projects"]["total"]
    assert first == 3
    # A row written behind the services' back records no event: the cached answer stands.
    Project.objects.create(owner=world["member"], name="悄悄")
    assert client.get(OVERVIEW).json()["projects"]["total"] == 3
    with django_capture_on_commit_callbacks(execute=True):  # the generation is bumped once the write commits
        project_services.project_create(owner=world["member"], data={"name": "新项目"})
    assert client.get(OVERVIEW).json()["projects"]["total"] == 5


def test_answers_are_cached_per_caller_and_language(auth_client, world, admin):
    as_admin = auth_client(admin).get(OVERVIEW, **EN).json()
    as_member = auth_client(world["member"]).get(OVERVIEW, **EN).json()
    assert as_admin["jobs"]["total"] == 4 and as_member["jobs"]["total"] == 1
    chinese = auth_client(world["member"]).get(OVERVIEW).json()
    assert chinese["projects"]["by_status"][0]["label"] == "招募中"


def test_trends_are_cached_per_parameters(auth_client, world, admin, make, django_capture_on_commit_callbacks):
    client = auth_client(admin)
    query = {"metric": "jobs_created", "from": "2026-03-01", "to": "2026-03-02", "tz": "Asia/Shanghai"}
    assert client.get(TRENDS, query).json()["series"][0]["data"] == [4, 0]
    make.job(world["public"], created_at=datetime(2026, 3, 2, 1, tzinfo=UTC))  # through the ORM: no event
    assert client.get(TRENDS, query).json()["series"][0]["data"] == [4, 0]
    assert client.get(TRENDS, {**query, "tz": "UTC"}).json()["series"][0]["data"] == [4, 1]
    with django_capture_on_commit_callbacks(execute=True):
        project_services.project_create(owner=world["member"], data={"name": "又一个"})
    assert client.get(TRENDS, query).json()["series"][0]["data"] == [4, 1]


# --- trends -------------------------------------------------------------------------------------------------


def test_trends_in_the_chart_shape(auth_client, world, admin):
    response = auth_client(admin).get(
        TRENDS + "?metric=jobs_created&metric=jobs_failed,jobs_succeeded&interval=day"
        "&from=2026-03-01&to=2026-03-03&tz=Asia/Shanghai",
        **EN,
    )
    assert response.status_code == 200
    assert response.json() == {
        "x": ["2026-03-01", "2026-03-02", "2026-03-03"],
        "series": [
            {"name": "Training jobs created", "data": [4, 0, 0]},
            {"name": "Training jobs failed", "data": [3, 0, 0]},
            {"name": "Training jobs succeeded", "data": [0, 1, 0]},  # finished 30 s after midnight in Shanghai
        ],
        "unit": "count",
    }


def test_trends_of_a_member_count_what_they_may_read(auth_client, world):
    client = auth_client(world["member"])
    query = {"metric": "jobs_created,jobs_failed", "from": "2026-03-01", "to": "2026-03-01"}
    assert [entry["data"] for entry in client.get(TRENDS, query).json()["series"]] == [[1], [0]]
    response = client.get(TRENDS, {**query, "project": world["theirs"].id})
    assert response.status_code == 404


def test_trends_default_to_the_last_30_days_in_the_time_zone(auth_client, world):
    before = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    body = auth_client(world["member"]).get(TRENDS, {"metric": "projects_created", "tz": "Asia/Shanghai"}).json()
    # Today read on both sides of the request: Shanghai's midnight (16:00 UTC) may fall during it.
    today = date.fromisoformat(body["x"][-1])
    assert today in {before, datetime.now(ZoneInfo("Asia/Shanghai")).date()}
    assert len(body["x"]) == 30
    assert body["x"][0] == (today - timedelta(days=29)).isoformat()
    assert sum(body["series"][0]["data"]) == 2  # ours and the public one, created just now
    only_to = auth_client(world["member"]).get(TRENDS, {"metric": "projects_created", "to": "2026-03-31"}).json()
    assert only_to["x"][0] == "2026-03-02" and only_to["x"][-1] == "2026-03-31"


def test_week_and_month_buckets(auth_client, world, admin):
    client = auth_client(admin)
    weeks = client.get(
        TRENDS, {"metric": "jobs_created", "interval": "week", "from": "2026-02-25", "to": "2026-03-09", "tz": "UTC"}
    ).json()
    assert weeks["x"] == ["2026-02-23", "2026-03-02", "2026-03-09"]
    assert weeks["series"][0]["data"] == [4, 0, 0]
    months = client.get(
        TRENDS,
        {
            "metric": "jobs_created",
            "interval": "month",
            "from": "2026-01-15",
            "to": "2026-03-02",
            "tz": "Asia/Shanghai",
        },
    ).json()
    assert months["x"] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert months["series"][0]["data"] == [0, 0, 4]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({}, "metric"),
        ({"metric": ""}, "metric"),
        ({"metric": "members"}, "metric"),
        ({"metric": "jobs_created,nope"}, "metric"),
        ({"metric": "jobs_created", "interval": "hour"}, "interval"),
        ({"metric": "jobs_created", "from": "2026-13-01"}, "from"),
        ({"metric": "jobs_created", "from": "yesterday"}, "from"),
        ({"metric": "jobs_created", "to": "2026-03-01T00:00:00"}, "to"),
        ({"metric": "jobs_created", "from": "2026-03-02", "to": "2026-03-01"}, "from"),
        ({"metric": "jobs_created", "from": "2024-01-01", "to": "2025-01-01"}, "from"),  # 367 days
        ({"metric": "jobs_created", "interval": "week", "from": "2018-01-01", "to": "2026-01-01"}, "from"),
        ({"metric": "jobs_created", "interval": "month", "from": "1970-01-01", "to": "2026-01-01"}, "from"),
        ({"metric": "jobs_created", "from": "0001-01-01", "to": "0001-01-02"}, "from"),
        ({"metric": "jobs_created", "from": "9999-12-30", "to": "9999-12-31"}, "from"),
        ({"metric": "jobs_created", "tz": "Mars/Olympus_Mons"}, "tz"),
        ({"metric": "jobs_created", "tz": "../../etc/passwd"}, "tz"),
        ({"metric": "jobs_created", "tz": "x" * 100}, "tz"),
        ({"metric": "jobs_created", "tz": "localtime"}, "tz"),  # the server's own zone, a file of zoneinfo
        ({"metric": "jobs_created", "tz": "Factory"}, "tz"),
        ({"metric": "jobs_created", "project": "NaN"}, "project"),
        ({"metric": "jobs_created", "project": "9" * 30}, "project"),
    ],
)
def test_trends_refuse_bad_parameters(auth_client, world, query, field):
    response = auth_client(world["member"]).get(TRENDS, query, **EN)
    assert response.status_code == 400, response.content
    body = error(response)
    assert body["error_code"] == "INVALID_INPUT"
    assert body["details"]["field"].split(".")[0] == field


def test_too_many_buckets_say_why(auth_client, world):
    response = auth_client(world["member"]).get(
        TRENDS, {"metric": "jobs_created", "from": "2024-01-01", "to": "2025-12-31"}, **EN
    )
    assert response.status_code == 400
    message = error(response)["details"]["message"]
    assert "731" in message and "366" in message


def test_a_full_leap_year_of_days_is_allowed(auth_client, world):
    response = auth_client(world["member"]).get(
        TRENDS, {"metric": "jobs_created", "from": "2024-01-01", "to": "2024-12-31"}
    )
    assert response.status_code == 200 and len(response.json()["x"]) == 366


# --- activity -----------------------------------------------------------------------------------------------


def test_project_activity(auth_client, world, make):
    ours = world["ours"]
    make.member(ours, joined_at=datetime(2026, 3, 1, 16, tzinfo=UTC))
    make.application(ours, created_at=datetime(2026, 3, 1, 3, tzinfo=UTC))
    response = auth_client(world["member"]).get(
        activity_url(ours.id), {"from": "2026-03-01", "to": "2026-03-02", "tz": "Asia/Shanghai"}, **EN
    )
    assert response.status_code == 200
    assert response.json() == {
        "x": ["2026-03-01", "2026-03-02"],
        "series": [
            {"name": "Members joined", "data": [0, 1]},
            {"name": "Join applications", "data": [1, 0]},
            {"name": "Dataset versions uploaded", "data": [0, 0]},
            {"name": "Training jobs created", "data": [1, 0]},
        ],
        "unit": "count",
    }


def test_project_activity_of_a_project_the_caller_may_not_read_is_a_404(auth_client, world, admin):
    client = auth_client(world["member"])
    for project_id in [world["theirs"].id, 10**9, 2**63, 10**30]:
        response = client.get(activity_url(project_id))
        assert response.status_code == 404, project_id
        assert error(response)["error_code"] == "NOT_FOUND"
    assert client.get(activity_url(world["public"].id)).status_code == 200
    assert auth_client(admin).get(activity_url(world["theirs"].id)).status_code == 200


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"interval": "year"}, "interval"),
        ({"tz": "Nowhere"}, "tz"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "from"),
    ],
)
def test_project_activity_refuses_bad_parameters(auth_client, world, query, field):
    response = auth_client(world["member"]).get(activity_url(world["ours"].id), query)
    assert response.status_code == 400
    assert error(response)["details"]["field"] == field


# --- queries and the document -------------------------------------------------------------------------------


def _grow(make, project: Project, size: int) -> None:
    moment = datetime(2026, 3, 1, 8, tzinfo=UTC)
    for i in range(size):
        other = make.project(visibility="private" if i % 2 else "public")
        for target in (project, other):
            make.member(target, joined_at=moment)
            make.application(target, created_at=moment)
            make.job(
                target, status="succeeded", created_at=moment, started_at=moment, finished_at=moment + timedelta(i)
            )


def _count(client, url: str, query: dict) -> int:
    cache.clear()  # a fresh answer, computed
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, query).status_code == 200
    return len(captured)


def test_each_endpoint_runs_the_same_queries_whatever_the_data(auth_client, world, admin, make):
    requests = [
        (OVERVIEW, {}),
        (OVERVIEW, {"project": world["ours"].id}),
        (TRENDS, {"metric": "jobs_created,applications,users_registered", "from": "2026-02-01", "to": "2026-03-31"}),
        (activity_url(world["ours"].id), {"interval": "week", "from": "2026-01-01", "to": "2026-03-31"}),
    ]
    clients = [auth_client(world["member"]), auth_client(admin)]
    _grow(make, world["ours"], 1)
    small = [_count(client, url, query) for client in clients for url, query in requests]
    _grow(make, world["ours"], 5)
    large = [_count(client, url, query) for client in clients for url, query in requests]
    assert small == large


def test_a_cached_answer_costs_no_figure_query(auth_client, world):
    client = auth_client(world["member"])
    query = {"metric": "jobs_created", "from": "2026-03-01", "to": "2026-03-01"}
    computed = _count(client, TRENDS, query)
    with CaptureQueriesContext(connection) as captured:
        client.get(TRENDS, query)
    assert len(captured) < computed
    assert not any("UNION" in q["sql"] or "GROUP BY" in q["sql"] for q in captured.captured_queries)


def test_the_openapi_document_describes_the_endpoints(api_client):
    paths = api_client.get("/api/v1/openapi.json").json()["paths"]
    trends = paths["/api/v1/analytics/trends"]["get"]
    names = {parameter["name"] for parameter in trends["parameters"]}
    assert {"metric", "interval", "from", "to", "tz", "project"} <= names
    assert {"200", "400", "401"} <= set(trends["responses"])
    overview = paths["/api/v1/analytics/overview"]["get"]
    assert "project" in {parameter["name"] for parameter in overview["parameters"]}
    activity = paths["/api/v1/analytics/projects/{project_id}/activity"]["get"]
    assert "404" in activity["responses"]


def test_dates_are_whole_days(auth_client, world):
    # Not a test of Django: the chart's x labels are the buckets' dates, never timestamps.
    body = auth_client(world["member"]).get(TRENDS, {"metric": "jobs_created", "to": "2026-03-05"}).json()
    assert all(date.fromisoformat(label) for label in body["x"])
