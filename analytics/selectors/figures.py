"""The platform's figures: the overview (counts, rates, job durations), trends over time, a project's activity.

Everything is aggregated and bucketed in the database, within a Scope, with a number of queries that does not
grow with the data: a trend of several metrics is one UNION ALL of GROUP BY queries, its dates truncated in the
requested time zone; empty buckets are filled with zeros here, from `buckets()`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.db.models import (
    Count,
    DateField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Trunc
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _

from accounts.models import User
from aimodels.models import TIMED, ModelVersion, ProjectJobCounts, TrainingJob
from datasets.models import Dataset, DatasetVersion
from incubator.errors import InvalidInput
from projects.models import Application, Membership, Project, PublicMembershipCount

from ..charts import chart
from ..scope import Scope

INTERVALS = ("day", "week", "month")
# The most buckets one chart holds: a leap year of days; for weeks and months the same count (7 and 30 years).
MAX_BUCKETS = 366
# Dates outside these are refused: nothing happened before, and the ends of Python's calendar overflow once a
# time zone's offset is applied.
EARLIEST = date(1970, 1, 1)
LATEST = date(2999, 12, 31)
# The range of a chart when none is given: this many days, today included.
DEFAULT_DAYS = 30

TREND_METRICS: dict[str, Any] = {
    "projects_created": _("Projects created"),
    "users_registered": _("Users registered"),
    "applications": _("Join applications"),
    "jobs_created": _("Training jobs created"),
    "jobs_succeeded": _("Training jobs succeeded"),
    "jobs_failed": _("Training jobs failed"),
    "datasets_uploaded": _("Dataset versions uploaded"),
}
COUNT_UNIT = _("count")

ROLE_LABELS: dict[str, Any] = {
    User.Role.MEMBER.value: User.Role.MEMBER.label,
    User.Role.MENTOR.value: User.Role.MENTOR.label,
    "admin": _("Platform admin"),
}

# A version made by a preprocessing pipeline is derived from another, not uploaded.
UPLOADED_SOURCES = (DatasetVersion.Source.UPLOAD.value, DatasetVersion.Source.PRESIGNED.value)


# --- time ---------------------------------------------------------------------------------------------------


# Files of the zoneinfo directory that are no zone's name: "localtime" is the server's own zone (a link to it, so an
# answer would depend on the machine), "posixrules" a template, "Factory" a placeholder.
NOT_ZONE_NAMES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def time_zone_names() -> frozenset[str]:
    """The IANA names the system knows (read once: listing them walks the zoneinfo directory)."""
    return frozenset(available_timezones()) - NOT_ZONE_NAMES


def time_zone(name: str) -> ZoneInfo:
    """The zone of an IANA name, or InvalidInput on `tz` (never a path, never an abbreviation Python guesses)."""
    if name not in time_zone_names():
        raise InvalidInput({"tz": [_("Unknown time zone: use an IANA name such as Asia/Shanghai.")]})
    return ZoneInfo(name)


def today_in(tz: ZoneInfo) -> date:
    return datetime.now(tz).date()


def chart_range(
    *, interval: str | None, start: date | None, end: date | None, tz_name: str | None
) -> tuple[str, date, date, ZoneInfo]:
    """The interval, first and last day and time zone a chart asks for, with their defaults (the last
    DEFAULT_DAYS days in ANALYTICS_TIME_ZONE, by day); InvalidInput naming the parameter when out of bounds.
    The API, the dashboard's exports and the reports all read a range through here."""
    tz = time_zone(str(tz_name or settings.ANALYTICS_TIME_ZONE))
    interval = interval or "day"
    for name, day in (("from", start), ("to", end)):  # before any arithmetic: 0001-01-01 minus a month overflows
        if day is not None and not EARLIEST <= day <= LATEST:
            bounds = {"earliest": EARLIEST, "latest": LATEST}
            raise InvalidInput({name: [_("Dates run from %(earliest)s to %(latest)s.") % bounds]})
    end = end or today_in(tz)
    start = start or max(EARLIEST, end - timedelta(days=DEFAULT_DAYS - 1))
    buckets(interval, start, end)
    return interval, start, end, tz


def default_range(tz: ZoneInfo) -> tuple[date, date]:
    """The last DEFAULT_DAYS days in the time zone, today included."""
    end = today_in(tz)
    return end - timedelta(days=DEFAULT_DAYS - 1), end


def bucket_start(interval: str, day: date) -> date:
    if interval == "day":
        return day
    if interval == "week":  # ISO weeks start on Monday, as PostgreSQL's date_trunc and Django's SQLite ones do
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    raise ValueError(f"unknown interval {interval!r}")


def _next_bucket(interval: str, start: date) -> date:
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return date(start.year + start.month // 12, start.month % 12 + 1, 1)


def bucket_count(interval: str, start: date, end: date) -> int:
    first, last = bucket_start(interval, start), bucket_start(interval, end)
    if interval == "day":
        return (last - first).days + 1
    if interval == "week":
        return (last - first).days // 7 + 1
    return (last.year - first.year) * 12 + last.month - first.month + 1


def buckets(interval: str, start: date, end: date) -> list[date]:
    """The start of every bucket from the one holding `start` to the one holding `end` (inclusive).

    Refuses (InvalidInput) `start` after `end`, dates outside EARLIEST..LATEST, and more than MAX_BUCKETS."""
    if interval not in INTERVALS:
        raise ValueError(f"unknown interval {interval!r}")
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise InvalidInput(
                {name: [_("Dates run from %(earliest)s to %(latest)s.") % {"earliest": EARLIEST, "latest": LATEST}]}
            )
    if start > end:
        raise InvalidInput({"from": [_("`from` must not be after `to`.")]})
    count = bucket_count(interval, start, end)
    if count > MAX_BUCKETS:
        raise InvalidInput(
            {
                "from": [
                    _(
                        "The range holds %(count)d buckets; at most %(max)d are allowed: "
                        "narrow the range or choose a longer interval."
                    )
                    % {"count": count, "max": MAX_BUCKETS}
                ]
            }
        )
    out = [bucket_start(interval, start)]
    while len(out) < count:
        out.append(_next_bucket(interval, out[-1]))
    return out


def _day_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


# --- series -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """What one series counts: rows of `rows(scope)`, dated by `field`."""

    rows: Callable[[Scope], QuerySet]
    field: str


def _projects(scope: Scope) -> QuerySet:
    return scope.projects()


def _members_in_scope(scope: Scope) -> QuerySet:
    """Active users: all of them for the whole platform, else those who are members of a project in scope."""
    users = User.objects.filter(is_active=True)
    if scope.is_whole_platform():
        return users
    if scope.project_id is None and not scope.is_admin:
        # A member's scope is the public projects and their own: the users in a public project, read from each
        # user's count of them (PublicMembershipCount, kept by projects.services), and those who share a project
        # with the caller. Testing every user's memberships against the private projects hidden from the caller
        # took 86 ms for 20,000 users and 250,000 memberships; this takes about 15 (bench/analytics.py).
        in_public = PublicMembershipCount.objects.filter(count__gt=0).values("user_id")
        visible = Q(pk__in=in_public)
        if scope.user is not None and scope.user.is_authenticated:
            theirs = Membership.objects.filter(user=scope.user).values("project_id")
            visible |= Q(pk__in=Membership.objects.filter(project_id__in=theirs).values("user_id"))
        return users.filter(visible)
    return users.filter(Exists(Membership.objects.filter(scope.q(), user=OuterRef("pk"))))


def _jobs(scope: Scope) -> QuerySet:
    return TrainingJob.objects.filter(scope.q())


SERIES: dict[str, Series] = {
    "projects_created": Series(_projects, "created_at"),
    "users_registered": Series(_members_in_scope, "date_joined"),
    "applications": Series(lambda scope: Application.objects.filter(scope.q()), "created_at"),
    "jobs_created": Series(_jobs, "created_at"),
    "jobs_succeeded": Series(
        lambda scope: _jobs(scope).filter(status=TrainingJob.Status.SUCCEEDED.value), "finished_at"
    ),
    "jobs_failed": Series(lambda scope: _jobs(scope).filter(status=TrainingJob.Status.FAILED.value), "finished_at"),
    "datasets_uploaded": Series(
        lambda scope: DatasetVersion.objects.filter(scope.q("dataset__project"), source__in=UPLOADED_SOURCES),
        "created_at",
    ),
    "members_joined": Series(lambda scope: Membership.objects.filter(scope.q()), "joined_at"),
}

ACTIVITY_SERIES: dict[str, Any] = {
    "members_joined": _("Members joined"),
    "applications": _("Join applications"),
    "datasets_uploaded": _("Dataset versions uploaded"),
    "jobs_created": _("Training jobs created"),
}


def series_counts(
    *, scope: Scope, names: list[str], interval: str, start: date, end: date, tz: ZoneInfo
) -> tuple[list[date], list[list[int]]]:
    """The buckets, and for each named series its count per bucket (zeros included): one query."""
    days = buckets(interval, start, end)
    low, high = _day_start(start, tz), _day_start(end + timedelta(days=1), tz)
    parts = []
    for index, name in enumerate(names):
        spec = SERIES[name]
        parts.append(
            spec.rows(scope)
            .filter(**{f"{spec.field}__gte": low, f"{spec.field}__lt": high})
            .annotate(series=Value(index), bucket=Trunc(spec.field, interval, output_field=DateField(), tzinfo=tz))
            .order_by()
            .values("series", "bucket")
            .annotate(n=Count("*"))  # not COUNT(id): an index without the id (job_status_finished) then suffices
            .values_list("series", "bucket", "n")
        )
    rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
    position = {day: i for i, day in enumerate(days)}
    data = [[0] * len(days) for _ in names]
    for index, bucket, n in rows:
        if isinstance(bucket, datetime):  # a backend handing back the truncated timestamp
            bucket = bucket.date()
        data[index][position[bucket]] += n
    return days, data


def trends(*, scope: Scope, metrics: list[str], interval: str, start: date, end: date, tz: ZoneInfo) -> dict:
    """One series per metric (keys of TREND_METRICS, in the order given), per bucket, in the chart shape."""
    unknown = [metric for metric in metrics if metric not in TREND_METRICS]
    if unknown or not metrics:
        raise InvalidInput({"metric": [_("Choose among: %(names)s.") % {"names": ", ".join(TREND_METRICS)}]})
    metrics = list(dict.fromkeys(metrics))
    days, data = series_counts(scope=scope, names=metrics, interval=interval, start=start, end=end, tz=tz)
    return chart(
        [day.isoformat() for day in days],
        [(TREND_METRICS[metric], values) for metric, values in zip(metrics, data, strict=True)],
        COUNT_UNIT,
    )


def project_activity(*, scope: Scope, interval: str, start: date, end: date, tz: ZoneInfo) -> dict:
    """Members joined, join applications, dataset versions uploaded and training jobs created in one project."""
    if scope.project_id is None:
        raise ValueError("project_activity needs a scope narrowed to one project")
    names = list(ACTIVITY_SERIES)
    days, data = series_counts(scope=scope, names=names, interval=interval, start=start, end=end, tz=tz)
    return chart(
        [day.isoformat() for day in days],
        [(ACTIVITY_SERIES[name], values) for name, values in zip(names, data, strict=True)],
        COUNT_UNIT,
    )


# --- overview -----------------------------------------------------------------------------------------------


DURATION = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
PERCENTILES = {"median": 0.5, "p90": 0.9}


def _labelled(counts: dict[str, int], labels: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    return [{"key": key, "label": force_str(label), "count": counts[key]} for key, label in labels]


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        return round(value.total_seconds(), 3)
    return round(float(value) / 1_000_000, 3)  # microseconds, as a backend without an interval type gives


def _durations(jobs: QuerySet, n: int) -> dict[str, float | None]:
    """The continuous percentiles (PostgreSQL's percentile_cont: linear between the two values around the rank)
    of the durations of the `n` timed jobs. Each reads the two values around its rank with ORDER BY ... OFFSET,
    which on PostgreSQL walks the partial index of succeeded jobs' durations (aimodels' job_duration) instead of
    sorting every duration: 8 ms instead of ~150 ms over 130,000 jobs (bench/analytics.py). A rank in the upper
    half is walked to from the longest duration down, so p90 reads a tenth of the index, not nine tenths. One
    query per percentile, also when n is 0, so the number of queries stays the same."""
    timed = jobs.filter(TIMED).annotate(duration=DURATION)
    out: dict[str, float | None] = {}
    for name, fraction in PERCENTILES.items():
        position = fraction * (n - 1) if n else 0.0
        low = int(position)
        if fraction <= 0.5:
            rows = timed.order_by("duration")[low : low + 2]
        else:  # the values at `low` and `low + 1` from the other end: n - 1 - low and n - 2 - low, longest first
            start = max(n - 2 - low, 0)
            rows = timed.order_by("-duration")[start : max(n - low, start + 1)]  # never an empty slice: no query
        values = [_seconds(value) for value in rows.values_list("duration", flat=True)]
        if fraction > 0.5:
            values.reverse()
        if n == 0 or not values:
            out[name] = None
            continue
        a = values[0]
        b = values[1] if len(values) > 1 else a
        assert a is not None and b is not None
        out[name] = round(a + (b - a) * (position - low), 3)
    return out


def _jobs_figures(scope: Scope) -> dict[str, Any]:
    # Summed from each project's job counts (ProjectJobCounts, kept by aimodels.services as jobs move): one row per
    # project instead of every job (bench/analytics.py: a member's 122 ms -> 23 ms over 200,000 jobs).
    statuses = [value for value, _label in TrainingJob.Status.choices]
    found = (
        ProjectJobCounts.objects.filter(scope.q())
        .order_by()
        .aggregate(**{name: Coalesce(Sum(name), 0) for name in (*statuses, "timed")})
    )
    found["total"] = sum(found[status] for status in statuses)
    # The jobs themselves, filtered the way an index walk tests its rows one by one (Scope.q_probe).
    durations = _durations(TrainingJob.objects.filter(scope.q_probe()), found["timed"])
    finished = sum(found[status] for status in TrainingJob.FINISHED)
    succeeded = found[TrainingJob.Status.SUCCEEDED.value]
    return {
        "total": found["total"],
        "by_status": _labelled(found, list(TrainingJob.Status.choices)),
        "success_rate": round(succeeded / finished, 4) if finished else None,
        "duration_seconds": durations,
    }


def overview(*, scope: Scope) -> dict:
    """The figures of the scope: see analytics.api.figures.OverviewSerializer for what each one means."""
    statuses = [value for value, _label in Project.Status.choices]
    projects = (
        scope.projects()
        .order_by()
        .aggregate(total=Count("pk"), **{status: Count("pk", filter=Q(status=status)) for status in statuses})
    )
    users = _members_in_scope(scope).aggregate(
        total=Count("pk"),
        admin=Count("pk", filter=Q(is_staff=True)),
        **{role: Count("pk", filter=Q(is_staff=False, role=role)) for role in User.Role.values},
    )
    # Versions as the sum of each dataset's version_count, which datasets.services keeps in the transaction that
    # adds or deletes a version: one pass over the datasets in scope. Counting the versions joined the versions
    # to their datasets first (bench/analytics.py: 68 -> 27 ms for a member, and one statement fewer);
    # COUNT(DISTINCT) over that join cost ten times more again.
    datasets = (
        Dataset.objects.filter(scope.q())
        .order_by()
        .aggregate(datasets=Count("pk"), versions=Coalesce(Sum("version_count"), 0))
    )
    in_production = ModelVersion.objects.filter(
        scope.q("model__project"), stage=ModelVersion.Stage.PRODUCTION.value
    ).count()
    return {
        "projects": {"total": projects["total"], "by_status": _labelled(projects, list(Project.Status.choices))},
        "users": {"total": users["total"], "by_role": _labelled(users, list(ROLE_LABELS.items()))},
        "datasets": {"datasets": datasets["datasets"], "versions": datasets["versions"]},
        "jobs": _jobs_figures(scope),
        "models": {"in_production": in_production},
    }
