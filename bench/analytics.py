"""Benchmark: GET /api/v1/analytics/overview and /trends against the bare SQL of the same aggregations.

    python bench/analytics.py [--rounds 3] [--requests 20] [--cached 50] [--server granian] [--reseed]
    python bench/analytics.py --explain          # EXPLAIN (ANALYZE, BUFFERS) of the SQL the selectors run

The issue's goal (PostgreSQL, 100,000 projects, 200,000 training jobs): `overview` and a 365-day `trends`
under 150 ms p50 uncached and under 10 ms cached, beside the bare SQL of the same aggregation in the same
run (the ratio API p50 / SQL p50 is reported).

Setup: its own database (DATABASE_URL's server, database bench_analytics; created and migrated with manage.py
every run) and Redis (REDIS_URL, default db 9). Seeded once with set-based SQL (INSERT ... SELECT FROM
generate_series, every NOT NULL column filled; skipped when the row counts are already there, --reseed to
force): 20,000 users (1 in 10 mentors, 1 in 500 platform admins, 1 in 40 inactive), 100,000 projects (mixed
statuses, 20% private) with their owners' memberships and 0-3 more members each (~250,000 memberships), 50,000
join applications, 30,000 datasets with 60,000 versions (75% uploaded, 10% direct uploads, 15% derived by a
pipeline), 200,000 training jobs created over the last two years (succeeded / failed / cancelled, the last
day's queued / running, started and finished times), 3,000 models with 6,000 versions, 1,800 of them in
production. Then VACUUM ANALYZE. Two callers are made through the ORM: `bench_analytics_admin` (a platform
admin: the whole platform) and `bench_analytics_member` (a member of 5 projects, 2 of them private: public
projects + those 5, a membership subquery in every figure).

Figures, each as a platform admin unless named otherwise:
  overview_admin, overview_member          GET /api/v1/analytics/overview
  trends_1                                 GET /trends?metric=jobs_created, 365 days by day, tz=Asia/Shanghai
  trends_3                                 the same with metric=projects_created,jobs_created,jobs_succeeded
  trends_1_member                          trends_1 as the member
Each one three ways, interleaved over --rounds rounds (p50 = median of the rounds' p50s; p99 over every sample):
  sql       the bare SQL of the same statements (those the selector runs, written out by hand from the SQL it
            generates, see --explain: the same FILTERed COUNT(id)s, the jobs' SUMs of each project's
            job counts (aimodels_projectjobcounts, seeded from the jobs); for a member NOT (project_id IN (private
            projects they are not a member of)), or for projects themselves public OR a membership; a member's
            users as those counted in a public project (projects_publicmembershipcount, seeded from the
            memberships) or sharing a project with them; datasets and versions in one
            pass over the datasets (COUNT, SUM of version_count); each duration percentile as ORDER BY
            finished_at - started_at LIMIT 2 OFFSET k, interpolated as the selector does; date_trunc at time
            zone, GROUP BY 2, UNION ALL),
            executed with psycopg from this process on one open connection with the server's connection
            options (DB_OPTIONS, default "-c jit=off"), parameters bound on the client, results fetched; its
            answer is checked against the API's, and the API's percentiles once against percentile_cont's.
  uncached  the API after the analytics generation token was replaced in Redis (what any event that counts
            does: incubator.events.services bumps it), so the request misses the cache: it reads the token,
            misses, computes, stores. Same server, same settings as production. Checked: every such request
            leaves one more analytics entry in Redis. (The other way, a second server with
            ANALYTICS_CACHE_SECONDS=0, does the same work minus the store; varying a parameter per request
            would measure another query, not this one.)
  cached    the API again and again with the token left alone: a hit.
The server (granian, 1 worker, no Celery worker beside it: CELERY_TASK_ALWAYS_EAGER=1, so nothing sweeps the
seeded queued jobs or bumps the generation behind the bench's back) runs pinned to core 0; this process (client
and psycopg) on core 1; requests are sequential on one keep-alive connection (latency, not throughput).
Prints one line per figure and mode (p50, p99, samples, non-2xx, ratio to the SQL's p50, goal met or missed) and
writes the same to bench/results/analytics.json.
"""

import argparse
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ensure_postgres_database, manage, pin, server, write_results  # noqa: E402

DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432"
DATABASE = "bench_analytics"
DEFAULT_REDIS = "redis://127.0.0.1:6379/9"
# The server's PostgreSQL connection options (incubator/settings/database.py), given to the reference too.
DB_OPTIONS = os.environ.get("DB_OPTIONS") or "-c jit=off"
PASSWORD = "Bench-Analytics-2026"
ADMIN, MEMBER = "bench_analytics_admin", "bench_analytics_member"
TZ = "Asia/Shanghai"
DAYS = 365
GOAL_UNCACHED_MS, GOAL_CACHED_MS = 150.0, 10.0
# The Redis key of the analytics generation token (Django's key function: KEY_PREFIX:VERSION:key).
GENERATION_KEY = "incubator:1:generation:analytics"

SIZES = {
    "users": 20_000,
    "projects": 100_000,
    "applications": 50_000,
    "datasets": 30_000,
    "jobs": 200_000,
    "models": 3_000,
}

# --- seed ---------------------------------------------------------------------------------------------------

# Row counts that say the seed is there (the two bench callers and their memberships come on top).
SEEDED_COUNTS = {
    "SELECT count(*) FROM accounts_user WHERE username LIKE 'bench_u%%'": SIZES["users"],
    "SELECT count(*) FROM projects_project": SIZES["projects"],
    "SELECT count(*) FROM projects_application": SIZES["applications"],
    "SELECT count(*) FROM datasets_dataset": SIZES["datasets"],
    "SELECT count(*) FROM datasets_datasetversion": 2 * SIZES["datasets"],
    "SELECT count(*) FROM aimodels_trainingjob": SIZES["jobs"],
    "SELECT count(*) FROM aimodels_model": SIZES["models"],
    "SELECT count(*) FROM aimodels_modelversion": 2 * SIZES["models"],
    "SELECT coalesce(sum(queued + running + succeeded + failed + cancelled), 0) FROM aimodels_projectjobcounts": (
        SIZES["jobs"]
    ),
    # Untouched since: no job failed by a worker (a server with a worker beside it would sweep the queued ones).
    "SELECT count(*) FROM aimodels_trainingjob WHERE error_message <> ''": 0,
}

SEED_SQL = [
    # Users: 1 in 10 mentors, 1 in 500 platform admins, 1 in 40 inactive, registered over two years.
    """
    INSERT INTO accounts_user (id, password, is_superuser, username, first_name, last_name, is_staff, is_active,
                               date_joined, email, display_name, avatar_url, bio, locale, role, token_generation,
                               profile, schema_version)
    SELECT i, '!bench', false, 'bench_u' || i, '', '', i %% 500 = 0, i %% 40 <> 7,
           %(now)s - random() * interval '730 days', 'bench_u' || i || '@example.com', '用户 ' || i, '', '',
           CASE WHEN i %% 3 = 0 THEN 'en' ELSE 'zh-hans' END, CASE WHEN i %% 10 = 0 THEN 'mentor' ELSE 'member' END,
           0, '{}'::jsonb, 1
    FROM generate_series(1, %(users)s) AS i
    """,
    # Projects: 40% recruiting, 40% in progress, 20% completed; 20% private; 0-3 members besides the owner.
    """
    INSERT INTO projects_project (id, name, description, video_url, status, visibility, owner_id, tags,
                                  member_count, search_text, extra, schema_version, created_at, updated_at)
    SELECT i, '项目 ' || i, '', '',
           CASE WHEN r1 < 0.4 THEN 'recruiting' WHEN r1 < 0.8 THEN 'in_progress' ELSE 'completed' END,
           CASE WHEN r2 < 0.2 THEN 'private' ELSE 'public' END,
           1 + (i::bigint * 7919) %% %(users)s, '["计算机视觉"]'::jsonb, 1 + i %% 4, 'project ' || i, '{}'::jsonb, 1,
           c, c
    FROM (SELECT i, random() AS r1, random() AS r2, %(now)s - random() * interval '730 days' AS c
          FROM generate_series(1, %(projects)s) AS i) AS s
    """,
    """
    INSERT INTO projects_membership (project_id, user_id, role, joined_at)
    SELECT id, owner_id, 'owner', created_at FROM projects_project
    """,
    """
    INSERT INTO projects_membership (project_id, user_id, role, joined_at)
    SELECT p.id, 1 + (p.owner_id - 1 + k * 997) %% %(users)s, (ARRAY['maintainer', 'member', 'mentor'])[k],
           p.created_at + random() * (%(now)s - p.created_at)
    FROM projects_project AS p, generate_series(1, 3) AS k
    WHERE k < p.member_count
    """,
    # Each user's public projects, as projects.services counts them.
    """
    INSERT INTO projects_publicmembershipcount (user_id, count)
    SELECT m.user_id, count(*) FROM projects_membership AS m JOIN projects_project AS p ON p.id = m.project_id
    WHERE p.visibility = 'public' GROUP BY m.user_id
    """,
    # Join applications: one per project at most (so never two pending), over two years.
    """
    INSERT INTO projects_application (project_id, applicant_id, message, status, decision_reason, created_at,
                                      decided_at)
    SELECT 1 + (i::bigint * 37) %% %(projects)s, 1 + (i::bigint * 101) %% %(users)s, '我想加入', st, '', c,
           CASE WHEN st IN ('approved', 'rejected') THEN c + interval '1 day' END
    FROM (SELECT i, %(now)s - random() * interval '730 days' AS c,
                 (ARRAY['pending', 'approved', 'approved', 'rejected', 'withdrawn'])[1 + floor(random() * 5)::int]
                     AS st
          FROM generate_series(1, %(applications)s) AS i) AS s
    """,
    # Datasets: on projects 4, 7, 10, ...; 1 to 3 versions each (60,000 in all).
    """
    INSERT INTO datasets_dataset (id, project_id, name, description, created_by_id, last_number, version_count,
                                  search_text, metadata, schema_version, created_at, updated_at)
    SELECT i, p.id, '数据集 ' || i, '', p.owner_id, 1 + i %% 3, 1 + i %% 3, 'dataset ' || i, '{}'::jsonb, 1, c, c
    FROM generate_series(1, %(datasets)s) AS i
    JOIN projects_project AS p ON p.id = 1 + 3 * i
    CROSS JOIN LATERAL (SELECT p.created_at + random() * (%(now)s - p.created_at) AS c) AS t
    """,
    """
    INSERT INTO datasets_datasetversion (id, dataset_id, number, status, progress, error_code, error_message,
                                         error_details, source, file_name, format, content_type, encoding,
                                         delimiter, size, sha256, original, parquet, parquet_sha256, csv, csv_sha256,
                                         row_count, columns, profile_status, profile_progress, profile_error,
                                         created_by_id, created_at, ready_at)
    SELECT row_number() OVER (ORDER BY d.id, n), d.id, n,
           CASE WHEN r < 0.95 THEN 'ready' ELSE 'failed' END, 100, '', '', '{}'::jsonb,
           CASE WHEN r2 < 0.75 THEN 'upload' WHEN r2 < 0.85 THEN 'presigned' ELSE 'pipeline' END,
           'data.csv', 'csv', 'text/csv', 'utf-8', ',', 10000 + (d.id * 7 + n) %% 1000000, '', '', '', '', '', '',
           1000, '[]'::jsonb, 'ready', 1, '', d.created_by_id, c, c
    FROM datasets_dataset AS d
    CROSS JOIN generate_series(1, 3) AS n
    CROSS JOIN LATERAL (SELECT random() AS r, random() AS r2,
                               least(%(now)s, d.created_at + (n - 1) * random() * interval '30 days') AS c) AS t
    WHERE n <= d.version_count
    """,
    "UPDATE datasets_dataset AS d SET latest_version_id = v.id FROM datasets_datasetversion AS v "
    "WHERE v.dataset_id = d.id AND v.number = d.version_count",
    # Training jobs: created over two years on the datasets' versions; the last day's are queued or running,
    # older ones succeeded (65%), failed (20%) or were cancelled (15%, a third of them before starting).
    """
    INSERT INTO aimodels_trainingjob (id, project_id, dataset_version_id, created_by_id, algorithm, task,
                                      hyperparameters, target, features, split_column, seed, time_limit, model_name,
                                      status, progress, stage, task_id, attempt, worker, error_code, error_message,
                                      metrics, metric_steps, log_lines, created_at, started_at, finished_at)
    SELECT i, d.project_id, v.id, d.created_by_id,
           (ARRAY['random_forest', 'logistic_regression', 'gradient_boosting', 'kmeans'])[1 + i %% 4],
           CASE WHEN i %% 4 = 3 THEN 'clustering' WHEN i %% 2 = 0 THEN 'classification' ELSE 'regression' END,
           '{}'::jsonb, 'label', '[]'::jsonb, '', 0, 3600, 'model ' || i, st,
           CASE WHEN st = 'succeeded' THEN 100 WHEN st = 'queued' THEN 0 ELSE 50 END, '', '', 1, '',
           CASE WHEN st = 'failed' THEN 'TRAINING_FAILED' ELSE '' END, '',
           CASE WHEN st = 'succeeded' THEN jsonb_build_object('accuracy', round(r::numeric, 4)) END, 0, 0,
           c, s, CASE WHEN st IN ('succeeded', 'failed') THEN s + dur
                      WHEN st = 'cancelled' THEN coalesce(s, c) + dur / 4 END
    FROM (SELECT i, c, r, st,
                 CASE WHEN st = 'queued' OR (st = 'cancelled' AND r2 < 0.33) THEN NULL
                      ELSE c + random() * interval '120 seconds' END AS s,
                 interval '30 seconds' + (random() ^ 3) * interval '2 hours' AS dur
          FROM (SELECT i, c, r, r2,
                       CASE WHEN c > %(now)s - interval '1 day' AND r < 0.5 THEN 'queued'
                            WHEN c > %(now)s - interval '1 day' THEN 'running'
                            WHEN r < 0.65 THEN 'succeeded' WHEN r < 0.85 THEN 'failed' ELSE 'cancelled' END AS st
                FROM (SELECT i, %(now)s - random() * interval '730 days' AS c, random() AS r, random() AS r2
                      FROM generate_series(1, %(jobs)s) AS i) AS a) AS b) AS j
    JOIN datasets_datasetversion AS v ON v.id = 1 + (i::bigint * 7) %% (2 * %(datasets)s)
    JOIN datasets_dataset AS d ON d.id = v.dataset_id
    """,
    # Models on the first 3,000 datasets' projects, two versions each: v1 archived, v2 in production (60%)
    # or staging.
    """
    INSERT INTO aimodels_model (id, project_id, name, description, task, created_by_id, latest_version_id,
                                last_number, version_count, created_at, updated_at)
    SELECT d.id, d.project_id, '模型 ' || d.id, '', 'classification', d.created_by_id, NULL, 2, 2,
           d.created_at, d.created_at
    FROM datasets_dataset AS d WHERE d.id <= %(models)s
    """,
    """
    INSERT INTO aimodels_modelversion (id, model_id, number, stage, job_id, dataset_version_id, algorithm,
                                       hyperparameters, artifact, artifact_size, artifact_sha256, signature, metrics,
                                       created_by_id, created_at, stage_changed_at)
    SELECT 2 * (m.id - 1) + n, m.id, n,
           CASE WHEN n = 1 THEN 'archived' WHEN m.id %% 5 < 3 THEN 'production' ELSE 'staging' END,
           NULL, d.latest_version_id, 'random_forest', '{}'::jsonb, 'models/' || m.id || '/' || n || '.joblib',
           123456, '', '{}'::jsonb, '{"accuracy": 0.9}'::jsonb, m.created_by_id, m.created_at + n * interval '1 hour',
           m.created_at + n * interval '1 hour'
    FROM aimodels_model AS m JOIN datasets_dataset AS d ON d.id = m.id CROSS JOIN generate_series(1, 2) AS n
    """,
    "UPDATE aimodels_model SET latest_version_id = 2 * id",
    # Each project's job counts, as aimodels.services keeps them (job_counts_rebuild's GROUP BY).
    """
    INSERT INTO aimodels_projectjobcounts (project_id, queued, running, succeeded, failed, cancelled, timed)
    SELECT project_id, count(*) FILTER (WHERE status = 'queued'), count(*) FILTER (WHERE status = 'running'),
           count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status = 'failed'),
           count(*) FILTER (WHERE status = 'cancelled'),
           count(*) FILTER (WHERE status = 'succeeded' AND started_at IS NOT NULL AND finished_at IS NOT NULL)
    FROM aimodels_trainingjob GROUP BY project_id
    """,
]
SEEDED_TABLES = (
    "accounts_user",
    "projects_project",
    "datasets_dataset",
    "datasets_datasetversion",
    "aimodels_trainingjob",
    "aimodels_model",
    "aimodels_modelversion",
)


def seed(database_url: str, force: bool) -> float:
    """Seeds the database unless its row counts are already the seed's; returns the seconds it took (0 if not)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        there = all(conn.execute(sql).fetchone()[0] == n for sql, n in SEEDED_COUNTS.items())
        if there and not force:
            return 0.0
        started = time.perf_counter()
        with conn.transaction():
            conn.execute(
                "TRUNCATE accounts_user, projects_project, projects_membership, projects_application, "
                "datasets_dataset, datasets_datasetversion, aimodels_trainingjob, aimodels_model, "
                "aimodels_modelversion, events_event RESTART IDENTITY CASCADE"
            )
            conn.execute("SELECT setseed(0.42)")
            params = {"now": datetime.now(ZoneInfo("UTC")), **SIZES}
            for sql in SEED_SQL:
                conn.execute(sql, params)
            for table in SEEDED_TABLES:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.execute("VACUUM ANALYZE")
        return time.perf_counter() - started


CALLERS_SCRIPT = f"""
from accounts.models import User
from projects.models import Membership, Project
from projects.services import public_memberships_recount

def caller(username, **fields):
    user, _ = User.objects.get_or_create(username=username, defaults={{"email": username + "@example.com", **fields}})
    user.set_password({PASSWORD!r})
    user.save()
    return user

caller({ADMIN!r}, is_staff=True, display_name="压测管理员")
member = caller({MEMBER!r}, display_name="压测成员")
if not Membership.objects.filter(user=member).exists():
    private = list(Project.objects.filter(visibility="private").order_by("id")[:2])
    public = list(Project.objects.filter(visibility="public", datasets__isnull=False).order_by("id")[:3])
    for project in private + public:
        Membership.objects.create(project=project, user=member, role="member")
public_memberships_recount(user_ids=[member.pk])
"""


# --- the reference: the bare SQL of the same statements ------------------------------------------------------
#
# Written out from the SQL the selectors generate (`--explain` prints it): the same statements, the same
# predicates in the same shapes (COUNT(id) FILTER, NOT (... IN (hidden projects)), ORDER BY duration OFFSET k
# LIMIT 2, date_trunc at time zone, GROUP BY 2), one round trip each, on a connection with the same options as
# the server's (DB_OPTIONS or "-c jit=off", as incubator/settings/database.py).

# What a member may count through scope.projects(): public projects and those they belong to
# (projects.selectors.project_visible_q).
VISIBLE = (
    "(p.visibility = 'public' OR EXISTS (SELECT 1 FROM projects_membership AS m "
    "WHERE m.project_id = p.id AND m.user_id = %(user)s LIMIT 1))"
)
# What every other figure filters a member's rows through (analytics.scope.Scope.q): not in the private
# projects hidden from them.
HIDDEN = (
    "(SELECT hp.id FROM projects_project AS hp WHERE hp.visibility = 'private' AND NOT EXISTS "
    "(SELECT 1 FROM projects_membership AS hm WHERE hm.project_id = hp.id AND hm.user_id = %(user)s LIMIT 1))"
)


def not_hidden(column: str) -> str:
    return f"NOT ({column} IN {HIDDEN})"


PROJECT_STATUSES = ("recruiting", "in_progress", "completed")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ROLES = ("member", "mentor", "admin")
PRODUCTION = "mv.stage = 'production'"
TIMED = "j.finished_at IS NOT NULL AND j.started_at IS NOT NULL AND j.status = 'succeeded'"
PERCENTILES = {"median": 0.5, "p90": 0.9}
# Users in scope: active, and for a member in a public project (their count of them, kept by projects.services)
# or in a project of the member's, as analytics.selectors.figures._members_in_scope asks.
USERS_IN_SCOPE = (
    "(u.id IN (SELECT c.user_id FROM projects_publicmembershipcount AS c WHERE c.count > 0) "
    "OR u.id IN (SELECT w.user_id FROM projects_membership AS w WHERE w.project_id IN "
    "(SELECT mine.project_id FROM projects_membership AS mine WHERE mine.user_id = %(user)s)))"
)


def overview_sql(member: bool) -> dict[str, str]:
    """The statements analytics.selectors.figures.overview runs, in its order, written out; the two duration
    statements take %(offset)s (the rank below the percentile, from the jobs statement's `timed` count)."""

    def where(*conditions: str) -> str:
        kept = [c for c in conditions if c]
        return f" WHERE {' AND '.join(kept)}" if kept else ""

    scope = not_hidden if member else (lambda column: "")
    counts = ", ".join(f"count(p.id) FILTER (WHERE p.status = '{s}')" for s in PROJECT_STATUSES)
    jobs = ", ".join(f"coalesce(sum(c.{s}), 0)" for s in JOB_STATUSES)
    duration = (
        f"SELECT j.finished_at - j.started_at FROM aimodels_trainingjob AS j{where(scope('j.project_id'), TIMED)} "
        "ORDER BY 1 LIMIT 2 OFFSET %(offset)s"
    )
    return {
        "projects": f"SELECT count(p.id), {counts} FROM projects_project AS p{where(VISIBLE if member else '')}",
        "users": (
            "SELECT count(u.id), count(u.id) FILTER (WHERE u.is_staff), "
            "count(u.id) FILTER (WHERE NOT u.is_staff AND u.role = 'member'), "
            "count(u.id) FILTER (WHERE NOT u.is_staff AND u.role = 'mentor') "
            f"FROM accounts_user AS u{where('u.is_active', USERS_IN_SCOPE if member else '')}"
        ),
        "datasets": (
            "SELECT count(d.id), coalesce(sum(d.version_count), 0) FROM datasets_dataset AS d"
            f"{where(scope('d.project_id'))}"
        ),
        "models": (
            "SELECT count(*) FROM aimodels_modelversion AS mv JOIN aimodels_model AS mo ON mo.id = mv.model_id"
            f"{where(scope('mo.project_id'), PRODUCTION)}"
            if member
            else "SELECT count(*) FROM aimodels_modelversion AS mv WHERE mv.stage = 'production'"
        ),
        "jobs": (
            f"SELECT {jobs}, coalesce(sum(c.queued + c.running + c.succeeded + c.failed + c.cancelled), 0), "
            f"coalesce(sum(c.timed), 0) FROM aimodels_projectjobcounts AS c{where(scope('c.project_id'))}"
        ),
        "duration_median": duration,
        # An upper percentile walks down from the longest duration (%(limit)s rows: the values at low + 1 and low).
        "duration_p90": duration.replace("ORDER BY 1 LIMIT 2", "ORDER BY 1 DESC LIMIT %(limit)s"),
    }


def percentile_rank(fraction: float, n: int) -> tuple[int, float]:
    """The rank below a continuous percentile of n values (0-based) and its position (PostgreSQL's
    percentile_cont: linear between the values at `low` and `low + 1`)."""
    position = fraction * (n - 1) if n else 0.0
    return int(position), position


def overview_params(name: str, user_id: int, timed: int) -> dict[str, Any]:
    params: dict[str, Any] = {"user": user_id}
    if name.startswith("duration_"):
        fraction = PERCENTILES[name.removeprefix("duration_")]
        low = percentile_rank(fraction, timed)[0]
        params["offset"] = low
        if fraction > 0.5:  # as analytics.selectors.figures._durations slices from the other end
            params["offset"] = max(timed - 2 - low, 0)
            params["limit"] = max(timed - low, params["offset"] + 1) - params["offset"]
    return params


def overview_reference(conn: Any, member: bool, user_id: int) -> dict:
    """Runs the statements (one round trip each, as the selector does) and shapes the answer like the API's."""
    rows: dict[str, Any] = {}
    durations: dict[str, float | None] = {}
    timed = 0
    for name, sql in overview_sql(member).items():
        if not name.startswith("duration_"):
            rows[name] = conn.execute(sql, overview_params(name, user_id, timed)).fetchone()
            if name == "jobs":
                timed = rows["jobs"][6]
            continue
        values = [round(v.total_seconds(), 3) for (v,) in conn.execute(sql, overview_params(name, user_id, timed))]
        low, position = percentile_rank(PERCENTILES[name.removeprefix("duration_")], timed)
        if PERCENTILES[name.removeprefix("duration_")] > 0.5:
            values.reverse()  # read longest first
        if timed == 0 or not values:
            durations[name.removeprefix("duration_")] = None
            continue
        a, b = values[0], values[-1]
        durations[name.removeprefix("duration_")] = round(a + (b - a) * (position - low), 3)
    jobs = rows["jobs"]
    by_status = dict(zip(JOB_STATUSES, jobs[:5], strict=True))
    finished = by_status["succeeded"] + by_status["failed"] + by_status["cancelled"]
    users = rows["users"]
    return {
        "projects": {
            "total": rows["projects"][0],
            "by_status": dict(zip(PROJECT_STATUSES, rows["projects"][1:], strict=True)),
        },
        "users": {"total": users[0], "by_role": {"member": users[2], "mentor": users[3], "admin": users[1]}},
        "datasets": {"datasets": rows["datasets"][0], "versions": rows["datasets"][1]},
        "jobs": {
            "total": jobs[5],
            "by_status": by_status,
            "success_rate": round(by_status["succeeded"] / finished, 4) if finished else None,
            "duration_seconds": durations,
        },
        "models": {"in_production": rows["models"][0]},
    }


def percentile_cont_durations(conn: Any, member: bool, user_id: int) -> dict[str, float | None]:
    """The same percentiles by PostgreSQL's percentile_cont (what the selector computed before): checked once
    against the API's, not timed."""
    scope = f" AND {not_hidden('j.project_id')}" if member else ""
    row = conn.execute(
        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY j.finished_at - j.started_at), "
        "percentile_cont(0.9) WITHIN GROUP (ORDER BY j.finished_at - j.started_at) "
        f"FROM aimodels_trainingjob AS j WHERE {TIMED}{scope}",
        {"user": user_id},
    ).fetchone()
    return {
        name: (round(v.total_seconds(), 3) if v is not None else None) for name, v in zip(PERCENTILES, row, strict=True)
    }


def overview_from_api(body: dict) -> dict:
    """The API's overview with its labelled lists turned into {key: count}, to compare with the reference."""
    out = json.loads(json.dumps(body))
    out["projects"]["by_status"] = {item["key"]: item["count"] for item in body["projects"]["by_status"]}
    out["users"]["by_role"] = {item["key"]: item["count"] for item in body["users"]["by_role"]}
    out["jobs"]["by_status"] = {item["key"]: item["count"] for item in body["jobs"]["by_status"]}
    return out


# metric -> (table AS alias, counted column, dated column, how a member's rows are scoped, extra condition), as
# analytics.selectors.figures.SERIES builds them (scope first, then the series' own filter, then the dates).
TREND_SQL = {
    "projects_created": ("projects_project AS p", "p.id", "p.created_at", VISIBLE, ""),
    "users_registered": ("accounts_user AS u", "u.id", "u.date_joined", USERS_IN_SCOPE, "u.is_active"),
    "applications": ("projects_application AS a", "a.id", "a.created_at", not_hidden("a.project_id"), ""),
    "jobs_created": ("aimodels_trainingjob AS j", "j.id", "j.created_at", not_hidden("j.project_id"), ""),
    "jobs_succeeded": (
        "aimodels_trainingjob AS j",
        "j.id",
        "j.finished_at",
        not_hidden("j.project_id"),
        "j.status = 'succeeded'",
    ),
    "jobs_failed": (
        "aimodels_trainingjob AS j",
        "j.id",
        "j.finished_at",
        not_hidden("j.project_id"),
        "j.status = 'failed'",
    ),
    "datasets_uploaded": (
        "datasets_datasetversion AS v JOIN datasets_dataset AS d ON d.id = v.dataset_id",
        "v.id",
        "v.created_at",
        not_hidden("d.project_id"),
        "v.source IN ('upload', 'presigned')",
    ),
}


def trends_sql(metrics: list[str], member: bool) -> str:
    """One UNION ALL of GROUP BY queries, dates truncated in the time zone, as series_counts builds it."""
    parts = []
    for index, metric in enumerate(metrics):
        table, counted, column, scope, condition = TREND_SQL[metric]
        if metric == "users_registered":  # is_active is the queryset's first filter, the scope's EXISTS after it
            where = [condition, scope if member else ""]
        else:
            where = [scope if member else "", condition]
        where = [c for c in where if c] + [f"{column} >= %(low)s", f"{column} < %(high)s"]
        parts.append(
            f"SELECT {index} AS series, date_trunc('day', {column} AT TIME ZONE %(tz)s) AS bucket, "
            f"count({counted}) AS n FROM {table} WHERE {' AND '.join(where)} GROUP BY 2"
        )
    return " UNION ALL ".join(f"({part})" for part in parts) if len(parts) > 1 else parts[0]


def trend_window() -> tuple[date, date]:
    """The last DAYS days in TZ, today included (the API's `from` and `to`)."""
    end = datetime.now(ZoneInfo(TZ)).date()
    return end - timedelta(days=DAYS - 1), end


def trends_reference(conn: Any, metrics: list[str], member: bool, user_id: int, start: date, end: date) -> dict:
    tz = ZoneInfo(TZ)
    params = {
        "user": user_id,
        "tz": TZ,
        "low": datetime.combine(start, datetime.min.time(), tzinfo=tz),
        "high": datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz),
    }
    days = [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    position = {day: i for i, day in enumerate(days)}
    data = [[0] * len(days) for _ in metrics]
    for series, bucket, n in conn.execute(trends_sql(metrics, member), params):
        data[series][position[bucket.date().isoformat()]] += n
    return {"x": days, "data": data}


# --- the API ------------------------------------------------------------------------------------------------


def login(client: Any, username: str) -> dict[str, str]:
    response = client.post("/api/v1/users/login", json={"username": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access']}"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --- scenarios ----------------------------------------------------------------------------------------------

TRENDS_3 = ["projects_created", "jobs_created", "jobs_succeeded"]
SCENARIOS: dict[str, dict[str, Any]] = {
    "overview_admin": {"caller": ADMIN, "metrics": None},
    "overview_member": {"caller": MEMBER, "metrics": None},
    "trends_1": {"caller": ADMIN, "metrics": ["jobs_created"]},
    "trends_3": {"caller": ADMIN, "metrics": TRENDS_3},
    "trends_1_member": {"caller": MEMBER, "metrics": ["jobs_created"]},
}
MODES = ("sql", "uncached", "cached")


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads) so far (clock ticks, 10 ms)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as handle:
                found += [int(child) for child in handle.read().split()]
    return found + [grandchild for child in found for grandchild in _children(child)]


def server_pids(port: int) -> list[int]:
    """The server listening on `port` and its child processes (granian retitles itself "granian asginl
    127.0.0.1:PORT ..."; uvicorn keeps its command line, "--port PORT")."""
    marks = (f"127.0.0.1:{port} ".encode(), f"--port\0{port}\0".encode())
    for entry in sorted((e for e in os.listdir("/proc") if e.isdigit()), key=int):
        with contextlib.suppress(OSError), open(f"/proc/{entry}/cmdline", "rb") as handle:
            raw = handle.read()
            if (b"granian" in raw or b"uvicorn" in raw) and any(mark in raw for mark in marks):
                return [int(entry), *_children(int(entry))]
    return []


class Bench:
    def __init__(self, base_url: str, database_url: str, redis_url: str, start: date, end: date) -> None:
        import httpx
        import psycopg
        import redis

        self.client = httpx.Client(base_url=base_url, timeout=120)
        # Parameters bound on the client, as Django's PostgreSQL backend does by default: the server plans every
        # statement with its values (never a prepared, generic plan).
        # The server's connection options too (incubator/settings/database.py): no JIT.
        self.conn = psycopg.connect(
            database_url, autocommit=True, cursor_factory=psycopg.ClientCursor, options=DB_OPTIONS
        )
        self.jit = self.conn.execute("SHOW jit").fetchone()[0]
        self.redis = redis.Redis.from_url(redis_url)
        self.start, self.end = start, end
        self.user_ids = dict(
            self.conn.execute("SELECT username, id FROM accounts_user WHERE username IN (%s, %s)", [ADMIN, MEMBER])
        )
        self.login()
        self.misses_confirmed = 0
        self.misses_unconfirmed = 0
        self.port = int(base_url.rsplit(":", 1)[1])

    def cpu_now(self, mode: str) -> float:
        """CPU seconds so far of what serves `mode`: this connection's PostgreSQL backend for the SQL; the server's
        processes and its pool's PostgreSQL backends for the API (parallel query workers, short-lived, are not
        counted on either side)."""
        if mode == "sql":
            return _cpu_seconds([self.conn.info.backend_pid])
        backends = [
            pid
            for (pid,) in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            )
        ]
        return _cpu_seconds(server_pids(self.port) + backends)

    def login(self) -> None:
        self.headers = {name: login(self.client, name) for name in (ADMIN, MEMBER)}

    def close(self) -> None:
        self.client.close()
        self.conn.close()
        self.redis.close()

    def url(self, scenario: dict[str, Any]) -> str:
        if scenario["metrics"] is None:
            return "/api/v1/analytics/overview"
        metrics = "&".join(f"metric={m}" for m in scenario["metrics"])
        return (
            f"/api/v1/analytics/trends?{metrics}&interval=day&from={self.start.isoformat()}"
            f"&to={self.end.isoformat()}&tz={TZ}"
        )

    def reference(self, scenario: dict[str, Any]) -> dict:
        member = scenario["caller"] == MEMBER
        user_id = self.user_ids[scenario["caller"]]
        if scenario["metrics"] is None:
            return overview_reference(self.conn, member, user_id)
        return trends_reference(self.conn, scenario["metrics"], member, user_id, self.start, self.end)

    def get(self, scenario: dict[str, Any]) -> Any:
        return self.client.get(self.url(scenario), headers=self.headers[scenario["caller"]])

    def bump(self) -> str:
        """What an event that counts does: a new analytics generation token, so every cached answer is stale."""
        token = uuid.uuid4().hex
        self.redis.set(GENERATION_KEY, token)
        return token

    def stored_under(self, token: str) -> int:
        return sum(1 for _ in self.redis.scan_iter(match=f"incubator:1:analytics:*:{token}", count=1000))

    def sample(self, name: str, mode: str) -> tuple[float, int]:
        """One timed run: (milliseconds, HTTP status or 200 for the SQL)."""
        scenario = SCENARIOS[name]
        if mode == "sql":
            started = time.perf_counter()
            self.reference(scenario)
            return (time.perf_counter() - started) * 1000, 200
        token = self.bump() if mode == "uncached" else None
        started = time.perf_counter()
        response = self.get(scenario)
        elapsed = (time.perf_counter() - started) * 1000
        if token is not None:  # not timed: the request did miss, compute and store under the new token
            if self.stored_under(token) == 1:
                self.misses_confirmed += 1
            else:
                self.misses_unconfirmed += 1
        return elapsed, response.status_code

    def check(self, name: str) -> dict[str, Any]:
        """The API's answer (uncached) against the reference's: the same figures."""
        scenario = SCENARIOS[name]
        self.bump()
        response = self.get(scenario)
        response.raise_for_status()
        body = response.json()
        expected = self.reference(scenario)
        if scenario["metrics"] is None:
            got = overview_from_api(body)
            same = got == expected
            detail = None if same else {"api": got, "sql": expected}
            # and the percentiles against PostgreSQL's own percentile_cont (to the millisecond the API rounds to)
            cont = percentile_cont_durations(self.conn, scenario["caller"] == MEMBER, self.user_ids[scenario["caller"]])
            api = got["jobs"]["duration_seconds"]
            cont_same = all(
                (api[k] is None) == (cont[k] is None) and (cont[k] is None or abs(api[k] - cont[k]) <= 0.0015)
                for k in PERCENTILES
            )
            if not cont_same:
                same = False
                detail = {**(detail or {}), "percentile_cont": cont, "api_durations": api}
        else:
            got = {"x": body["x"], "data": [series["data"] for series in body["series"]]}
            same = got == expected
            detail = None if same else {"api_totals": [sum(d) for d in got["data"]],
                                        "sql_totals": [sum(d) for d in expected["data"]],
                                        "x_same": got["x"] == expected["x"]}  # fmt: skip
        return {"same": same, "detail": detail}


def measure(bench: Bench, names: list[str], rounds: int, max_samples: int, min_samples: int, seconds: float) -> dict:
    """Interleaved: every round runs every scenario's SQL, uncached and cached requests in turn, each for at most
    `seconds` (at least `min_samples`, at most `max_samples` samples)."""
    samples: dict[str, dict[str, list[list[float]]]] = {n: {m: [] for m in MODES} for n in names}
    cpu: dict[str, dict[str, list[float]]] = {n: {m: [0.0, 0] for m in MODES} for n in names}  # seconds, count
    non_2xx = {n: {m: 0 for m in MODES} for n in names}
    for name in names:  # warm-up: plans, buffers, the server's imports and pools
        for mode in MODES:
            for _ in range(2 if mode != "cached" else 10):
                bench.sample(name, mode)
    bench.misses_confirmed = bench.misses_unconfirmed = 0
    for round_number in range(rounds):
        bench.login()  # fresh tokens every round
        for name in names:
            for mode in MODES:
                times: list[float] = []
                budget = time.monotonic() + seconds
                cpu_before = bench.cpu_now(mode)
                while len(times) < max_samples and (len(times) < min_samples or time.monotonic() < budget):
                    elapsed, status = bench.sample(name, mode)
                    times.append(elapsed)
                    if not 200 <= status < 300:
                        non_2xx[name][mode] += 1
                cpu[name][mode][0] += bench.cpu_now(mode) - cpu_before
                cpu[name][mode][1] += len(times)
                samples[name][mode].append(times)
                print(
                    f"  round {round_number + 1} {name:<16} {mode:<8} n={len(times):<3} "
                    f"p50 {statistics.median(times):8.2f} ms",
                    flush=True,
                )
    figures: dict[str, Any] = {}
    for name in names:
        figures[name] = {}
        for mode in MODES:
            rounds_p50 = [statistics.median(times) for times in samples[name][mode]]
            every = [t for times in samples[name][mode] for t in times]
            figures[name][mode] = {
                "p50_ms": round(statistics.median(rounds_p50), 2),
                "p50_ms_rounds": [round(v, 2) for v in rounds_p50],
                "p99_ms": round(percentile(every, 0.99), 2),
                "min_ms": round(min(every), 2),
                "samples": len(every),
                "non_2xx": non_2xx[name][mode],
                # server + its PostgreSQL backends for the API, the backend alone for the SQL (the uncached
                # requests' Redis SCAN check runs outside the timed request but inside this window: negligible)
                "cpu_ms": round(cpu[name][mode][0] / cpu[name][mode][1] * 1000, 2),
            }
    return figures


def statement_costs(bench: Bench, runs: int = 5) -> dict[str, dict[str, float]]:
    """Where the overview's SQL time goes: CPU ms of the PostgreSQL backend per statement (mean of `runs`)."""
    out: dict[str, dict[str, float]] = {}
    for caller in (ADMIN, MEMBER):
        member = caller == MEMBER
        costs = {}
        timed = 0
        for name, sql in overview_sql(member).items():
            params = overview_params(name, bench.user_ids[caller], timed)
            row = bench.conn.execute(sql, params).fetchall()  # warm
            if name == "jobs":
                timed = row[0][6]
            before = _cpu_seconds([bench.conn.info.backend_pid])
            for _ in range(runs):
                bench.conn.execute(sql, params).fetchall()
            costs[name] = round((_cpu_seconds([bench.conn.info.backend_pid]) - before) / runs * 1000, 1)
        out["overview_member" if member else "overview_admin"] = costs
    return out


# --- --explain: the SQL the selectors generate, with its plan -----------------------------------------------


def explain(names: list[str], start: date, end: date) -> None:
    """Runs each scenario's selector in this process (Django set up on the bench database), captures its SQL
    and prints EXPLAIN (ANALYZE, BUFFERS) of every statement, with the time Django measured for it."""
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User
    from analytics.scope import Scope
    from analytics.selectors import figures

    tz = ZoneInfo(TZ)
    for name in names:
        scenario = SCENARIOS[name]
        scope = Scope(User.objects.get(username=scenario["caller"]))
        metrics = scenario["metrics"]

        def run(scope: Scope = scope, metrics: list[str] | None = metrics) -> Any:
            if metrics is None:
                return figures.overview(scope=scope)
            return figures.trends(scope=scope, metrics=metrics, interval="day", start=start, end=end, tz=tz)

        run()  # warm
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            run()
            total = (time.perf_counter() - started) * 1000
        print(f"===== {name}: the selector took {total:.1f} ms, {len(captured.captured_queries)} statements")
        for query in captured.captured_queries:
            print(f"--- {float(query['time']) * 1000:.1f} ms\n{query['sql']}")
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                print("\n".join(row[0] for row in cursor.fetchall()))
        print()


# --- main ---------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30, help="most samples per figure and mode per round")
    parser.add_argument("--min-requests", type=int, default=5, help="fewest samples per figure and mode per round")
    parser.add_argument("--seconds", type=float, default=6, help="time per figure and mode per round")
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated figures")
    parser.add_argument("--reseed", action="store_true", help="seed again even when the row counts are there")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the selectors' SQL, then stop")
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name in SCENARIOS]
    if pin(1) and os.environ.get("BENCH_PINNED") != "1":  # this process (client, psycopg) on core 1
        os.execvpe("taskset", ["taskset", "-c", "1", sys.executable, *sys.argv], {**os.environ, "BENCH_PINNED": "1"})

    base = os.environ.get("DATABASE_URL", "")
    base = base.rsplit("/", 1)[0] if base.startswith("postgres") else DEFAULT_POSTGRES
    database_url = f"{base}/{DATABASE}"
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "THROTTLE_ANON": "100000000/min",
        "THROTTLE_USER": "100000000/min",
        "LOGIN_FAILURES_PER_ACCOUNT": "1000000",
        "LOGIN_FAILURES_PER_ADDRESS": "1000000",
        "JWT_ACCESS_MINUTES": "120",
        # No Celery worker beside the server: its job sweeper would run the seeded queued jobs (and its events
        # would bump the analytics generation in the middle of the cached figures). The bench only reads.
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "LOG_LEVEL": "WARNING",
    }
    start, end = trend_window()
    if args.explain:
        os.environ.update(env)
        explain(names, start, end)
        return

    ensure_postgres_database(database_url)
    manage("migrate", "--no-input", "-v", "0", env=env)
    seed_seconds = seed(database_url, args.reseed)
    print(f"seed: {seed_seconds:.1f} s (0 if already seeded)", flush=True)
    manage("shell", "-c", CALLERS_SCRIPT, env=env)

    load_before = os.getloadavg()
    with server(args.server, env) as port:
        bench = Bench(f"http://127.0.0.1:{port}", database_url, redis_url, start, end)
        try:
            checks = {name: bench.check(name) for name in names}
            for name, check in checks.items():
                print(f"check {name}: API answer {'==' if check['same'] else '!='} bare SQL answer", flush=True)
                if not check["same"]:
                    print(f"  {json.dumps(check['detail'], default=str)[:2000]}")
            figures = measure(bench, names, args.rounds, args.requests, args.min_requests, args.seconds)
            misses = {"confirmed": bench.misses_confirmed, "unconfirmed": bench.misses_unconfirmed}
            costs = statement_costs(bench)
            jit = bench.jit
        finally:
            bench.close()

    with contextlib.closing(__import__("psycopg").connect(database_url)) as conn:
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 (constant names)
            for table in ("projects_project", "accounts_user", "projects_membership", "projects_application",
                          "datasets_dataset", "datasets_datasetversion", "aimodels_trainingjob",
                          "aimodels_modelversion")
        }  # fmt: skip
    report: dict[str, Any] = {
        "database": "postgresql",
        "server": args.server,
        "rows": counts,
        "seed_seconds": round(seed_seconds, 1),
        "trend_window": {"from": start.isoformat(), "to": end.isoformat(), "tz": TZ, "interval": "day"},
        "rounds": args.rounds,
        # A shared 2-core machine: the load average says how much the wall-clock figures were squeezed; the
        # cpu_ms figures (CPU time of what served the request) move much less with it.
        "load_average_1m": {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)},
        "reference_connection": {"options": DB_OPTIONS, "jit": jit},
        "uncached_misses": misses,
        "answers_match_sql": {name: check["same"] for name, check in checks.items()},
        "goals_ms": {"uncached_p50": GOAL_UNCACHED_MS, "cached_p50": GOAL_CACHED_MS},
        "figures": figures,
        # CPU ms of the PostgreSQL backend per overview statement (parallel workers not counted)
        "overview_statements_cpu_ms": costs,
        "checks": {},
    }
    print(
        f"--- analytics ({args.server}, PostgreSQL + Redis, {counts['projects_project']} projects, "
        f"{counts['aimodels_trainingjob']} jobs), sequential requests, median of {args.rounds} rounds' p50"
    )
    for name in names:
        sql = figures[name]["sql"]["p50_ms"]
        check: dict[str, Any] = {}
        for mode in MODES:
            figure = figures[name][mode]
            ratio = round(figure["p50_ms"] / sql, 2)
            cpu_ratio = (
                round(figure["cpu_ms"] / figures[name]["sql"]["cpu_ms"], 2) if figures[name]["sql"]["cpu_ms"] else None
            )
            if mode != "sql":
                check[f"{mode}_over_sql"] = ratio
                check[f"{mode}_cpu_over_sql_cpu"] = cpu_ratio
            goal = {"uncached": GOAL_UNCACHED_MS, "cached": GOAL_CACHED_MS}.get(mode)
            verdict = ""
            if goal is not None:
                met = figure["p50_ms"] < goal
                check[f"{mode}_goal_met"] = met
                verdict = f"  goal < {goal:.0f} ms: {'MET' if met else 'MISSED'}"
            print(
                f"{name + ' ' + mode:<26} p50 {figure['p50_ms']:>8.2f} ms  p99 {figure['p99_ms']:>8.2f} ms  "
                f"n {figure['samples']:>3}  non-2xx {figure['non_2xx']}  / sql p50 {ratio:>5.2f}  "
                f"cpu {figure['cpu_ms']:>7.1f} ms (/ sql {cpu_ratio}){verdict}"
            )
        report["checks"][name] = check
    print(f"uncached requests that missed and stored an answer: {misses['confirmed']} ({misses['unconfirmed']} not)")
    for name, per_statement in costs.items():
        print(f"{name} SQL, backend CPU ms per statement: " + ", ".join(f"{k} {v}" for k, v in per_statement.items()))
    load = report["load_average_1m"]
    print(f"load average (1 min) before / after: {load['before']} / {load['after']}")
    write_results("analytics", report)


if __name__ == "__main__":
    main()
