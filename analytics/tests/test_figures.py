"""The figures' selectors against known data: buckets and time zones, each trend metric, the overview's counts,
rates and percentiles, what a scope lets count, and a number of queries that does not grow with the data."""

import statistics
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from accounts.models import User
from accounts.tests.factories import UserFactory
from aimodels.models import ModelVersion
from analytics.scope import Scope
from analytics.selectors.figures import (
    MAX_BUCKETS,
    NOT_ZONE_NAMES,
    TREND_METRICS,
    buckets,
    overview,
    project_activity,
    time_zone,
    time_zone_names,
    trends,
)
from datasets.models import DatasetVersion
from incubator.errors import InvalidInput

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def series(answer: dict) -> dict[str, list]:
    return {entry["name"]: entry["data"] for entry in answer["series"]}


# --- buckets ------------------------------------------------------------------------------------------------


def test_day_buckets_include_both_ends():
    assert buckets("day", date(2026, 2, 27), date(2026, 3, 2)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
        date(2026, 3, 2),
    ]
    assert buckets("day", date(2026, 3, 1), date(2026, 3, 1)) == [date(2026, 3, 1)]


def test_week_buckets_start_on_monday():
    # 2026-03-04 is a Wednesday, 2026-03-16 a Monday.
    assert buckets("week", date(2026, 3, 4), date(2026, 3, 16)) == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
    ]


def test_month_buckets_cross_the_year():
    assert buckets("month", date(2025, 11, 30), date(2026, 2, 1)) == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]


def test_buckets_are_bounded():
    start = date(2025, 1, 1)
    assert len(buckets("day", start, start + timedelta(days=MAX_BUCKETS - 1))) == MAX_BUCKETS
    with pytest.raises(InvalidInput) as raised:
        buckets("day", start, start + timedelta(days=MAX_BUCKETS))
    assert raised.value.details["field"] == "from"
    with pytest.raises(InvalidInput):
        buckets("week", start, start + timedelta(weeks=400))
    with pytest.raises(InvalidInput):
        buckets("month", date(1990, 1, 1), date(2026, 1, 1))
    assert len(buckets("month", date(2000, 1, 1), date(2026, 12, 31))) == 27 * 12


def test_buckets_refuse_a_reversed_range_and_far_dates():
    with pytest.raises(InvalidInput) as raised:
        buckets("day", date(2026, 3, 2), date(2026, 3, 1))
    assert raised.value.details["field"] == "from"
    with pytest.raises(InvalidInput):
        buckets("month", date(1, 1, 1), date(1, 2, 1))
    with pytest.raises(InvalidInput) as raised:
        buckets("day", date(9999, 12, 30), date(9999, 12, 31))


def test_time_zone_accepts_iana_names_only():
    assert time_zone("Asia/Shanghai") == SHANGHAI
    for name in ["Mars/Olympus", "", "../../etc/passwd", "asia/shanghai", "CST", *sorted(NOT_ZONE_NAMES)]:
        with pytest.raises(InvalidInput):
            time_zone(name)
    # Whatever the machine's zone database lists: never a file that is no zone (localtime is the server's own).
    assert NOT_ZONE_NAMES.isdisjoint(time_zone_names()) and "UTC" in time_zone_names()


# --- trends: dates ------------------------------------------------------------------------------------------


def test_midnight_in_shanghai(make, admin):
    project = make.project()
    make.job(project, created_at=utc(2026, 3, 1, 15, 59, 59))  # 23:59:59 on March 1st in Shanghai
    make.job(project, created_at=utc(2026, 3, 1, 16, 0, 0))  # 00:00:00 on March 2nd in Shanghai
    scope = Scope(admin)
    answer = trends(
        scope=scope, metrics=["jobs_created"], interval="day", start=date(2026, 3, 1), end=date(2026, 3, 2), tz=SHANGHAI
    )
    assert answer["x"] == ["2026-03-01", "2026-03-02"]
    assert answer["series"][0]["data"] == [1, 1]
    in_utc = trends(
        scope=scope,
        metrics=["jobs_created"],
        interval="day",
        start=date(2026, 3, 1),
        end=date(2026, 3, 2),
        tz=ZoneInfo("UTC"),
    )
    assert in_utc["series"][0]["data"] == [2, 0]


def test_the_range_is_cut_in_the_time_zone_with_the_last_day_included(make, admin):
    project = make.project()
    make.job(project, created_at=utc(2026, 2, 28, 15, 59, 59))  # Feb 28 in Shanghai: before `from`
    make.job(project, created_at=utc(2026, 2, 28, 16, 0, 0))  # Mar 1, 00:00 in Shanghai
    make.job(project, created_at=utc(2026, 3, 3, 15, 59, 59))  # Mar 3, 23:59:59 in Shanghai: the last day
    make.job(project, created_at=utc(2026, 3, 3, 16, 0, 0))  # Mar 4 in Shanghai: after `to`
    answer = trends(
        scope=Scope(admin),
        metrics=["jobs_created"],
        interval="day",
        start=date(2026, 3, 1),
        end=date(2026, 3, 3),
        tz=SHANGHAI,
    )
    assert answer["x"] == ["2026-03-01", "2026-03-02", "2026-03-03"]
    assert answer["series"][0]["data"] == [1, 0, 1]  # the empty day is a zero


def test_weeks_and_months_are_truncated_in_the_time_zone(make, admin):
    project = make.project()
    # Sunday 2026-03-01 16:30 UTC is Monday March 2nd in Shanghai: a new ISO week there, not in UTC.
    make.job(project, created_at=utc(2026, 3, 1, 16, 30))
    # 2026-02-28 16:30 UTC is March 1st in Shanghai: a new month there.
    make.job(project, created_at=utc(2026, 2, 28, 16, 30))
    scope = Scope(admin)
    weeks = trends(
        scope=scope,
        metrics=["jobs_created"],
        interval="week",
        start=date(2026, 2, 23),
        end=date(2026, 3, 8),
        tz=SHANGHAI,
    )
    assert weeks["x"] == ["2026-02-23", "2026-03-02"]
    assert weeks["series"][0]["data"] == [1, 1]
    weeks_utc = trends(
        scope=scope,
        metrics=["jobs_created"],
        interval="week",
        start=date(2026, 2, 23),
        end=date(2026, 3, 8),
        tz=ZoneInfo("UTC"),
    )
    assert weeks_utc["series"][0]["data"] == [2, 0]
    months = trends(
        scope=scope,
        metrics=["jobs_created"],
        interval="month",
        start=date(2026, 2, 1),
        end=date(2026, 3, 31),
        tz=SHANGHAI,
    )
    assert months["x"] == ["2026-02-01", "2026-03-01"]
    assert months["series"][0]["data"] == [0, 2]


def test_a_week_bucket_counts_only_the_days_in_range(make, admin):
    project = make.project()
    make.job(project, created_at=utc(2026, 3, 2, 12))  # Monday, before `from`
    make.job(project, created_at=utc(2026, 3, 5, 12))  # Thursday
    answer = trends(
        scope=Scope(admin),
        metrics=["jobs_created"],
        interval="week",
        start=date(2026, 3, 4),
        end=date(2026, 3, 10),
        tz=ZoneInfo("UTC"),
    )
    assert answer["x"] == ["2026-03-02", "2026-03-09"]
    assert answer["series"][0]["data"] == [1, 0]


# --- trends: metrics ----------------------------------------------------------------------------------------


def test_every_metric_counts_its_rows_on_its_date(make, admin):
    day1, day2 = utc(2026, 3, 1, 9), utc(2026, 3, 2, 9)
    owner = UserFactory()
    User.objects.filter(pk=owner.pk).update(date_joined=day1)
    project = make.project(owner, created_at=day1)
    make.project(created_at=day2)
    make.application(project, created_at=day2)
    make.application(project, created_at=day2)
    version = make.version(project, created_at=day1)
    make.version(project, created_at=day2, source=DatasetVersion.Source.PRESIGNED)
    make.version(project, created_at=day2, source=DatasetVersion.Source.PIPELINE)  # derived: not an upload
    make.job(project, version=version, created_at=day1, status="succeeded", started_at=day1, finished_at=day2)
    make.job(project, version=version, created_at=day1, status="failed", started_at=day1, finished_at=day1)
    make.job(project, version=version, created_at=day2, status="cancelled", finished_at=day2)
    make.job(project, version=version, created_at=day2, status="running", started_at=day2)
    # Everyone else registered today (the factory's date_joined): out of range.
    answer = trends(
        scope=Scope(admin),
        metrics=list(TREND_METRICS),
        interval="day",
        start=date(2026, 3, 1),
        end=date(2026, 3, 2),
        tz=ZoneInfo("UTC"),
    )
    expected = {
        "projects_created": [1, 1],
        "users_registered": [1, 0],
        "applications": [0, 2],
        "jobs_created": [2, 2],
        "jobs_succeeded": [0, 1],
        "jobs_failed": [1, 0],
        "datasets_uploaded": [1, 1],
    }
    with translation.override("en"):
        labels = {str(TREND_METRICS[name]): name for name in TREND_METRICS}
    # The series come in the order asked, named in the active language (zh-hans here).
    assert [entry["name"] for entry in answer["series"]] == [str(TREND_METRICS[name]) for name in TREND_METRICS]
    with translation.override("en"):
        english = trends(
            scope=Scope(admin),
            metrics=list(TREND_METRICS),
            interval="day",
            start=date(2026, 3, 1),
            end=date(2026, 3, 2),
            tz=ZoneInfo("UTC"),
        )
    assert {labels[name]: data for name, data in series(english).items()} == expected
    assert english["unit"] == "count"


def test_metrics_are_given_in_the_order_asked_once_each(make, admin):
    project = make.project()
    make.job(project, status="failed", finished_at=utc(2026, 3, 1, 1))
    answer = trends(
        scope=Scope(admin),
        metrics=["jobs_failed", "jobs_succeeded", "jobs_failed"],
        interval="day",
        start=date(2026, 3, 1),
        end=date(2026, 3, 1),
        tz=ZoneInfo("UTC"),
    )
    assert [entry["data"] for entry in answer["series"]] == [[1], [0]]
    with pytest.raises(InvalidInput):
        trends(
            scope=Scope(admin),
            metrics=["members"],
            interval="day",
            start=date(2026, 3, 1),
            end=date(2026, 3, 1),
            tz=SHANGHAI,
        )


# --- scope --------------------------------------------------------------------------------------------------


@pytest.fixture
def teams(make):
    """`us` (member of the private 我们), `them` (owner of the private 他们), and a public project of a third."""
    us, them = UserFactory(), UserFactory()
    ours = make.project(name="我们", visibility="private")
    make.member(ours, us, role="member")
    theirs = make.project(them, name="他们", visibility="private")
    public = make.project(name="公开", status="completed")
    for project, jobs in ((ours, 1), (theirs, 5), (public, 2)):
        for _ in range(jobs):
            make.job(project, status="succeeded", created_at=utc(2026, 3, 1, 8))
    make.model_version(theirs, stage=ModelVersion.Stage.PRODUCTION)
    make.application(theirs, created_at=utc(2026, 3, 1, 8))
    return {"us": us, "them": them, "ours": ours, "theirs": theirs, "public": public}


def test_a_member_never_counts_another_teams_private_data(teams):
    figures = overview(scope=Scope(teams["us"]))
    assert figures["projects"]["total"] == 2  # ours and the public one
    assert figures["jobs"]["total"] == 3
    assert figures["datasets"] == {"datasets": 3, "versions": 3}
    assert figures["models"]["in_production"] == 0
    # Users: the owners of ours and of the public project, and us; never `them`.
    assert figures["users"]["total"] == 3
    answer = trends(
        scope=Scope(teams["us"]),
        metrics=["jobs_created", "applications", "projects_created"],
        interval="day",
        start=date(2026, 3, 1),
        end=date(2026, 3, 1),
        tz=ZoneInfo("UTC"),
    )
    assert [entry["data"] for entry in answer["series"]] == [[3], [0], [0]]
    # The other team sees its own.
    assert overview(scope=Scope(teams["them"]))["jobs"]["total"] == 7
    assert overview(scope=Scope(teams["them"]))["models"]["in_production"] == 1


def test_a_members_job_durations_leave_out_hidden_projects(make, teams, admin):
    start = utc(2026, 3, 1)
    for project, seconds in (
        (teams["ours"], 10),
        (teams["public"], 20),
        (teams["theirs"], 1000),
        (teams["theirs"], 2000),
    ):
        make.job(project, status="succeeded", started_at=start, finished_at=start + timedelta(seconds=seconds))
    # percentile_cont over [10, 20] for us, [20, 1000, 2000] for them, all four for an admin.
    assert overview(scope=Scope(teams["us"]))["jobs"]["duration_seconds"] == {"median": 15.0, "p90": 19.0}
    assert overview(scope=Scope(teams["them"]))["jobs"]["duration_seconds"] == {"median": 1000.0, "p90": 1800.0}
    assert overview(scope=Scope(admin))["jobs"]["duration_seconds"] == {"median": 510.0, "p90": 1700.0}
    narrowed = overview(scope=Scope(teams["us"], project_id=teams["public"].id))
    assert narrowed["jobs"]["duration_seconds"] == {"median": 20.0, "p90": 20.0}
    narrowed = overview(scope=Scope(admin, project_id=teams["theirs"].id))
    assert narrowed["jobs"]["duration_seconds"] == {"median": 1500.0, "p90": 1900.0}


def test_an_admin_counts_everything_and_a_project_narrows(teams, admin):
    whole = overview(scope=Scope(admin))
    assert whole["projects"]["total"] == 3
    assert whole["jobs"]["total"] == 8
    assert whole["users"]["total"] == User.objects.filter(is_active=True).count()
    narrowed = overview(scope=Scope(admin, project_id=teams["theirs"].id))
    assert narrowed["projects"]["total"] == 1
    assert narrowed["jobs"]["total"] == 5
    assert narrowed["users"]["total"] == 1  # its owner
    assert overview(scope=Scope(teams["us"], project_id=teams["public"].id))["jobs"]["total"] == 2


def test_users_by_role_are_distinct_members_by_platform_role(make, teams):
    mentor = UserFactory(role=User.Role.MENTOR)
    staff = UserFactory(is_staff=True, role=User.Role.MENTOR)
    make.member(teams["ours"], mentor, role="mentor")
    make.member(teams["public"], mentor)  # in two projects in scope: counted once
    make.member(teams["ours"], staff)
    make.member(teams["theirs"], UserFactory(role=User.Role.MENTOR))  # not in our scope
    make.member(teams["ours"], UserFactory(is_active=False))
    users = overview(scope=Scope(teams["us"]))["users"]
    assert {row["key"]: row["count"] for row in users["by_role"]} == {"member": 3, "mentor": 1, "admin": 1}
    assert users["total"] == 5


# --- overview -----------------------------------------------------------------------------------------------


def test_overview_against_a_direct_computation(make, admin):
    owner = UserFactory()
    recruiting = make.project(owner)
    make.project(owner, status="in_progress")
    make.project(owner, status="in_progress")
    version = make.version(recruiting)
    make.version(recruiting, dataset=version.dataset)
    start = utc(2026, 3, 1)
    durations = [10, 20, 30, 40, 100, 7.5]
    for seconds in durations:
        make.job(
            recruiting,
            version=version,
            status="succeeded",
            started_at=start,
            finished_at=start + timedelta(seconds=seconds),
        )
    make.job(recruiting, version=version, status="failed", started_at=start, finished_at=start + timedelta(hours=5))
    make.job(recruiting, version=version, status="cancelled", finished_at=start)
    make.job(recruiting, version=version, status="running", started_at=start)
    make.job(recruiting, version=version, status="queued")
    make.model_version(recruiting, stage=ModelVersion.Stage.PRODUCTION)
    make.model_version(recruiting, stage=ModelVersion.Stage.STAGING)
    with translation.override("en"):
        figures = overview(scope=Scope(admin))

    projects = figures["projects"]
    assert projects["total"] == 3
    assert projects["by_status"] == [
        {"key": "recruiting", "label": "Recruiting", "count": 1},
        {"key": "in_progress", "label": "In progress", "count": 2},
        {"key": "completed", "label": "Completed", "count": 0},
    ]
    assert {row["key"]: row["count"] for row in figures["users"]["by_role"]} == {"member": 1, "mentor": 0, "admin": 1}
    # The job factory's versions: one per job without `version`, plus the 2 above and one per model version.
    assert figures["datasets"] == {
        "datasets": 1 + 2,
        "versions": DatasetVersion.objects.count(),
    }
    jobs = figures["jobs"]
    assert jobs["total"] == 10
    assert {row["key"]: row["count"] for row in jobs["by_status"]} == {
        "queued": 1,
        "running": 1,
        "succeeded": 6,
        "failed": 1,
        "cancelled": 1,
    }
    assert jobs["success_rate"] == round(6 / 8, 4)
    median = statistics.median(durations)
    p90 = statistics.quantiles(durations, n=10, method="inclusive")[8]  # percentile_cont's interpolation
    assert jobs["duration_seconds"] == {"median": pytest.approx(median), "p90": pytest.approx(p90)}
    assert figures["models"] == {"in_production": 1}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5])
def test_percentiles_of_small_samples(make, admin, count):
    project = make.project()
    version = make.version(project)
    start = utc(2026, 3, 1)
    durations = [3 * i * i + 1 for i in range(count)]
    for seconds in reversed(durations):
        make.job(
            project,
            version=version,
            status="succeeded",
            started_at=start,
            finished_at=start + timedelta(seconds=seconds),
        )
    make.job(project, version=version, status="succeeded", finished_at=start)  # never started: no duration
    found = overview(scope=Scope(admin))["jobs"]["duration_seconds"]
    if count == 1:
        expected = {"median": durations[0], "p90": durations[0]}
    else:
        expected = {
            "median": statistics.median(durations),
            "p90": statistics.quantiles(durations, n=10, method="inclusive")[8],
        }
    assert found == pytest.approx(expected)


def test_overview_with_nothing_finished(make, admin):
    make.job(make.project(), status="running")
    jobs = overview(scope=Scope(admin))["jobs"]
    assert jobs["success_rate"] is None
    assert jobs["duration_seconds"] == {"median": None, "p90": None}
    assert [row["count"] for row in overview(scope=Scope(admin))["projects"]["by_status"]] == [1, 0, 0]


# --- activity -----------------------------------------------------------------------------------------------


def test_project_activity(make, admin):
    day = utc(2026, 3, 2, 4)
    project = make.project(visibility="private")
    other = make.project()
    make.member(project, joined_at=day)
    make.member(project, joined_at=day - timedelta(days=1))
    make.member(other, joined_at=day)
    make.application(project, created_at=day)
    make.version(project, created_at=day)
    make.job(project, created_at=day)
    make.job(other, created_at=day)
    with translation.override("en"):
        answer = project_activity(
            scope=Scope(admin, project_id=project.id),
            interval="day",
            start=date(2026, 3, 1),
            end=date(2026, 3, 2),
            tz=SHANGHAI,
        )
    assert answer["x"] == ["2026-03-01", "2026-03-02"]
    assert series(answer) == {
        "Members joined": [1, 1],
        "Join applications": [0, 1],
        "Dataset versions uploaded": [0, 1],
        "Training jobs created": [0, 1],
    }
    assert answer["unit"] == "count"


def test_project_activity_needs_a_project(admin):
    with pytest.raises(ValueError):
        project_activity(scope=Scope(admin), interval="day", start=date(2026, 3, 1), end=date(2026, 3, 1), tz=SHANGHAI)


# --- queries ------------------------------------------------------------------------------------------------


def _grow(make, projects: int) -> None:
    owner = UserFactory()
    for i in range(projects):
        project = make.project(owner, visibility="private" if i % 2 else "public")
        make.member(project, joined_at=utc(2026, 3, 1 + i % 3))
        make.application(project, created_at=utc(2026, 3, 1 + i % 3))
        version = make.version(project, created_at=utc(2026, 3, 2))
        start = utc(2026, 3, 1)
        for seconds in (5, 50 + i):
            make.job(
                project,
                version=version,
                status="succeeded",
                started_at=start,
                finished_at=start + timedelta(seconds=seconds),
            )
        make.job(project, version=version, status="failed", finished_at=utc(2026, 3, 3))
        make.model_version(project, stage=ModelVersion.Stage.PRODUCTION)


def _queries(call, scope: Scope) -> int:
    with CaptureQueriesContext(connection) as captured:
        call(scope)
    return len(captured)


@pytest.mark.parametrize("who", ["admin", "member"])
def test_the_number_of_queries_does_not_grow_with_the_data(make, admin, who):
    member = UserFactory()
    project = make.project(member)
    scopes = [Scope(admin if who == "admin" else member), Scope(admin if who == "admin" else member, project.id)]
    calls = [
        lambda scope: overview(scope=scope),
        lambda scope: trends(
            scope=scope,
            metrics=list(TREND_METRICS),
            interval="day",
            start=date(2026, 2, 1),
            end=date(2026, 3, 31),
            tz=SHANGHAI,
        ),
        lambda scope: project_activity(
            scope=Scope(scope.user, project.id),
            interval="week",
            start=date(2026, 1, 1),
            end=date(2026, 3, 31),
            tz=SHANGHAI,
        ),
    ]
    _grow(make, 1)
    small = [_queries(call, scope) for call in calls for scope in scopes]
    _grow(make, 6)
    large = [_queries(call, scope) for call in calls for scope in scopes]
    assert small == large
    # The overview: projects, users, datasets with their versions, jobs, the two values around each of the two
    # percentiles' ranks, models; a trend or an activity chart, one UNION query whatever the number of series.
    assert large == [7, 7, 1, 1, 1, 1]
