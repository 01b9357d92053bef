"""Benchmark: document migrations of the schema registry on PostgreSQL against one hand-written UPDATE.

    python bench/schema_migrations.py [--sizes 25000,100000] [--rounds 3] [--run-rounds 1]
    python bench/schema_migrations.py --profile 20000       # cProfile + SQL counts of one run and its rollback

The issue's goal: migrate 100,000 `project.extra` documents (projects_project.extra, jsonb, stamped by
schema_version) from version 1 to 2 with a 3-operation plan (rename 预算 -> budget, change_type budget -> number,
add_field stage = "idea") and report documents/s of the dry run, the run and the rollback and their peak RSS,
against the ceiling: ONE `UPDATE projects_project SET extra = jsonb_set(...)` of the same change, in the same
run. Goals: a run >= 5,000 documents/s and within 5x of the ceiling; memory flat as the document count grows.

Setup: its own database, bench_schema_mig (dropped, created and migrated with manage.py every run); a user, and
version 2 of project.extra registered through schema_registry.services (compatibility NONE first). For each
size N the projects are seeded with one INSERT ... SELECT generate_series (extra = {"预算": "1234", "序号": i,
"note": "..."}, schema_version 1), vacuumed and analysed, and the database is kept as a template
(bench_schema_mig_tpl_<N>; autovacuum is off on the tables a phase writes, so a background vacuum never lands in
one phase and not another). Before each phase bench_schema_mig is dropped and cloned from the template: every
phase starts from the same rows, the same physical table, no migration, no backup, no event.

Each round, for each size (the order of the two groups alternates between rounds; the run and the rollback only
in the first --run-rounds rounds: at a few hundred documents/s one 100,000-document run takes minutes, and the
whole bench is meant to stay around 10 minutes on a 2-core machine):
  1. dry run: `migrate_documents project.extra --from 1 --to 2 --plan plan.json --dry-run`, the command itself
     through call_command in a fresh process (pinned to core 1);
  2. run: the same command with --no-progress (it creates the migration and runs services.migration_run inline,
     the service a Celery worker runs), in a fresh process;
  3. rollback: after VACUUM ANALYZE + CHECKPOINT of what the run left, in a fresh process with
     CELERY_TASK_ALWAYS_EAGER=1: services.migration_rollback(), whose on-commit send runs
     services.migration_rollback_run inline (once: the process checks the migration ended rolled_back);
  4. ceiling: reset, then the one UPDATE statement (autocommit) from this process.
Documents/s time the call alone (Django's start-up excluded; the process's whole wall time is in the JSON). Peak
RSS is the process's VmHWM after the call, reset (clear_refs) once Django is set up, so it is the migration's
peak; "growth" is that peak minus the RSS before the call. CPU seconds of the process and of its PostgreSQL
backend are read from /proc around the call: on a shared 2-core machine the CPU-based ratio moves less than the
wall-clock one. Every phase is checked: counts, statuses, and a checksum of the documents (the run and the
ceiling must write the same documents; the rollback must give back the seeded ones).

Prints one line per figure, GOAL MET / GOAL MISSED lines, and writes bench/results/schema_migrations.json.
"""

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, manage, pin, write_results  # noqa: E402
from bench.datasets import _cpu_pressure, _cpu_seconds, _reset_peak, _status  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432"
DATABASE = "bench_schema_mig"
DATABASE_URL = f"{POSTGRES}/{DATABASE}"
WORK = ROOT / "var" / "bench" / "schema_migrations"
USERNAME = "bench_schema_mig"
SUBJECT = "project.extra"
MiB = 1024 * 1024

V2 = {
    "type": "object",
    "properties": {"budget": {"type": "number"}, "stage": {"enum": ["idea", "prototype", "pilot"]}},
}
PLAN = [
    {"op": "rename_field", "path": "预算", "to": "budget"},
    {"op": "change_type", "path": "budget", "to": "number"},
    {"op": "add_field", "path": "stage", "default": "idea"},
]
SEED_SQL = """
INSERT INTO projects_project (name, description, video_url, status, visibility, owner_id, tags, member_count,
                              search_text, extra, schema_version, created_at, updated_at)
SELECT '迁移项目 ' || i, '', '', 'recruiting', 'public', %(owner)s, '[]'::jsonb, 1, 'migration project ' || i,
       jsonb_build_object('预算', (100 + (i * 37) %% 99900)::text, '序号', i, 'note', '文档迁移压测 note ' || i),
       1, now(), now()
FROM generate_series(1, %(n)s) AS i
"""
# The same change as PLAN, in one statement: the cheapest honest way to do it (no backups, no batches, no log).
CEILING_SQL = (
    "UPDATE projects_project SET extra = jsonb_set((extra - '预算'), '{budget}', to_jsonb((extra->>'预算')::numeric))"
    ' || \'{"stage":"idea"}\', schema_version = 2 WHERE schema_version = 1'
)
CHECKSUM_SQL = "SELECT md5(string_agg(id::text || ':' || extra::text, ',' ORDER BY id)) FROM projects_project"
# Tables a phase writes: no autovacuum in the middle of one phase and not another (each phase starts vacuumed).
WRITTEN = (
    "projects_project",
    "schema_registry_documentbackup",
    "schema_registry_documentmigration",
    "schema_registry_migrationlogentry",
    "events_event",
)
PHASES = ("dry_run", "run", "rollback", "ceiling")


# --- the child: one phase in a fresh process ----------------------------------------------------------------


def _child(phase: str, n: int, plan_path: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from schema_registry import services
    from schema_registry.models import DocumentMigration

    def backend_pid() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cursor.fetchone()[0]

    if phase == "register":
        _register()
        return
    if phase == "profile":
        _profile(n, plan_path)
        return

    migration = None
    if phase == "rollback":
        migration = DocumentMigration.objects.get(status=DocumentMigration.Status.SUCCEEDED)
    pid = backend_pid()
    out = io.StringIO()
    _reset_peak([os.getpid()])
    rss_before = _status(os.getpid())["VmRSS"]
    cpu = _cpu_seconds([os.getpid()])
    db_cpu = _cpu_seconds([pid])
    started = time.perf_counter()
    if phase == "dry_run":
        call_command(
            "migrate_documents", SUBJECT, "--from", "1", "--to", "2", "--plan", plan_path, "--dry-run", stdout=out
        )
    elif phase == "run":
        call_command("migrate_documents", SUBJECT, "--from", "1", "--to", "2", "--plan", plan_path, "--no-progress",
                     stdout=out)  # fmt: skip
    elif phase == "rollback":
        services.migration_rollback(migration=migration, actor=None)  # eager: the on-commit send runs it here
    seconds = time.perf_counter() - started
    cpu = _cpu_seconds([os.getpid()]) - cpu
    same_backend = backend_pid() == pid
    db_cpu = _cpu_seconds([pid]) - db_cpu if same_backend else None
    peak = _status(os.getpid())["VmHWM"]

    check: dict[str, Any] = {}
    if phase == "dry_run":
        report = json.loads(out.getvalue())
        check = {k: report[k] for k in ("total", "changed", "failed")}
        ok = (report["total"], report["changed"], report["failed"]) == (n, n, 0)
    else:
        migration = DocumentMigration.objects.order_by("-id").first()
        check = {
            "status": migration.status,
            "changed": migration.changed,
            "failed": migration.failed,
            "restored": migration.restored,
        }
        expected = "succeeded" if phase == "run" else "rolled_back"
        count = migration.changed if phase == "run" else migration.restored
        ok = migration.status == expected and count == n and migration.failed == 0
    result = {
        "phase": phase,
        "documents": n,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "db_cpu_seconds": db_cpu,
        "rss_before": rss_before,
        "peak_rss": peak,
        "growth": peak - rss_before,
        "check": check,
        "ok": ok,
    }
    print("RESULT " + json.dumps(result), flush=True)


def _register() -> None:
    from accounts.models import User
    from schema_registry import services
    from schema_registry.selectors import subject_get

    user, _ = User.objects.get_or_create(
        username=USERNAME, defaults={"email": "bench-schema-mig@example.com", "display_name": "文档迁移压测"}
    )
    subject = services.subject_update(subject=subject_get(name=SUBJECT), actor=user, data={"compatibility": "NONE"})
    version, _ = services.schema_version_register(subject=subject, schema=V2, actor=user)
    print("RESULT " + json.dumps({"owner": user.id, "version": version.number}), flush=True)


def _profile(n: int, plan_path: str) -> None:
    """cProfile and SQL statement counts/times of services.migration_run, then of the rollback."""
    import cProfile
    import pstats

    from django.db import connection

    from schema_registry import services
    from schema_registry.models import DocumentMigration
    from schema_registry.selectors import subject_get

    statements: dict[str, list[float]] = {}

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
        table = re.search(r'"(\w+)"', sql)
        key = f"{verb} {table.group(1) if table else ''}".strip()
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            entry = statements.setdefault(key, [0, 0.0, 0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started
            entry[2] += len(sql)

    def show(title: str, profiler: cProfile.Profile, wall: float) -> None:
        print(f"=== {title}: {n} documents in {wall:.2f} s under cProfile ({n / wall:,.0f} documents/s)")
        WORK.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(WORK / f"{title}.prof")
        for order in ("tottime", "cumulative"):
            stream = io.StringIO()
            pstats.Stats(profiler, stream=stream).sort_stats(order).print_stats(28)
            text = stream.getvalue()
            print(f"--- top by {order}\n" + text[text.index("   ncalls") :])
        total = sum(entry[1] for entry in statements.values())
        print(f"--- SQL: {sum(e[0] for e in statements.values())} statements, {total:.2f} s in execute")
        for key, (count, seconds, chars) in sorted(statements.items(), key=lambda item: -item[1][1]):
            print(f"{key:<52} {count:>6} x  {seconds:8.3f} s  {seconds / count * 1000:8.2f} ms each  "
                  f"{chars / count / 1024:8.1f} KiB SQL each")  # fmt: skip
        statements.clear()

    plan = json.loads(Path(plan_path).read_text())
    subject = subject_get(name=SUBJECT)
    migration = services.migration_create(
        subject=subject, from_number=1, to_number=2, plan=plan, actor=None, defer=True
    )
    with connection.execute_wrapper(wrapper):
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        services.migration_run(migration_id=migration.id)
        profiler.disable()
        show("run", profiler, time.perf_counter() - started)
        migration.refresh_from_db()
        assert migration.status == "succeeded" and migration.changed == n, migration.status
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        services.migration_rollback(migration=migration, actor=None)
        profiler.disable()
        show("rollback", profiler, time.perf_counter() - started)
    migration = DocumentMigration.objects.get(pk=migration.pk)
    assert migration.status == "rolled_back" and migration.restored == n, migration.status


# --- the parent ---------------------------------------------------------------------------------------------


def _admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _sql(sql: str, params: Any = None) -> Any:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        cursor = conn.execute(sql, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def _template(n: int) -> str:
    return f"{DATABASE}_tpl_{n}"


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE_URL,
        "DJANGO_SETTINGS_MODULE": "incubator.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        # The rollback's on-commit send runs the task inline; nothing is ever left in a file queue.
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "CELERY_EMBEDDED_DIR": str(WORK / "celery"),
    }
    for name in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "BENCH_PINNED"):
        env.pop(name, None)
    return env


def _spawn(phase: str, n: int, env: dict[str, str], plan_path: Path) -> dict[str, Any]:
    command = [*pin(1), sys.executable, str(Path(__file__).resolve()), "--child", phase, "--n", str(n)]
    started = time.perf_counter()
    done = subprocess.run([*command, "--plan", str(plan_path)], cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not found:
        raise RuntimeError(
            f"{phase} ({n}) failed, exit {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
        )
    return {**json.loads(found[-1][len("RESULT ") :]), "process_seconds": wall}


def setup(sizes: list[int], env: dict[str, str], plan_path: Path) -> dict[int, dict[str, Any]]:
    """The migrated database with version 2 registered, then one template database per size."""
    _admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in [DATABASE, *map(_template, sizes)]))
    _admin(f'CREATE DATABASE "{DATABASE}"')
    started = time.perf_counter()
    manage("migrate", "--no-input", "-v", "0", env=env)
    owner = _spawn("register", 0, env, plan_path)["owner"]
    print(f"setup: migrate + register version 2: {time.perf_counter() - started:.1f} s")
    seeds = {}
    for n in sizes:
        started = time.perf_counter()
        _sql("TRUNCATE projects_project RESTART IDENTITY CASCADE")
        _sql(SEED_SQL, {"owner": owner, "n": n})
        seconds = time.perf_counter() - started
        for table in WRITTEN:
            _sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false, toast.autovacuum_enabled = false)")
            _sql(f"VACUUM (ANALYZE) {table}")
        checksum = _sql(CHECKSUM_SQL)[0][0]
        _admin("CHECKPOINT", f'CREATE DATABASE "{_template(n)}" TEMPLATE "{DATABASE}"')
        seeds[n] = {"seed_seconds": round(seconds, 2), "checksum": checksum}
        print(f"setup: seeded {n:,} projects in {seconds:.1f} s (one INSERT ... SELECT generate_series)")
    return seeds


def reset(n: int) -> None:
    _admin(
        f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)', f'CREATE DATABASE "{DATABASE}" TEMPLATE "{_template(n)}"'
    )
    _sql("SELECT count(*), sum(length(extra::text)) FROM projects_project")  # the table in the caches
    _admin("CHECKPOINT")


def _versions() -> dict[int, int]:
    return dict(_sql("SELECT schema_version, count(*) FROM projects_project GROUP BY 1"))


def ceiling(n: int) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        db_cpu = _cpu_seconds([pid])
        started = time.perf_counter()
        rows = conn.execute(CEILING_SQL).rowcount
        seconds = time.perf_counter() - started
        db_cpu = _cpu_seconds([pid]) - db_cpu
    return {"phase": "ceiling", "documents": rows, "seconds": seconds, "cpu_seconds": 0.0, "db_cpu_seconds": db_cpu}


def one_round(
    n: int, env: dict[str, str], plan_path: Path, seed: dict[str, Any], *, with_run: bool, ceiling_first: bool
) -> dict:
    """The dry run (and, when `with_run`, the run then the rollback of what it wrote) on one fresh clone, the
    ceiling on another; the order of the two groups alternates between rounds."""
    found: dict[str, dict[str, Any]] = {}
    checksums: dict[str, str] = {}

    def migration_phases() -> None:
        reset(n)
        found["dry_run"] = _spawn("dry_run", n, env, plan_path)
        assert _versions() == {1: n} and _sql("SELECT count(*) FROM schema_registry_documentmigration")[0][0] == 0
        if not with_run:
            return
        found["run"] = _spawn("run", n, env, plan_path)
        assert _versions() == {2: n}, _versions()
        checksums["run"] = _sql(CHECKSUM_SQL)[0][0]
        for table in WRITTEN:
            _sql(f"VACUUM (ANALYZE) {table}")
        _admin("CHECKPOINT")
        found["rollback"] = _spawn("rollback", n, env, plan_path)
        assert _versions() == {1: n}, _versions()
        if _sql(CHECKSUM_SQL)[0][0] != seed["checksum"]:
            raise RuntimeError(f"the rollback at {n} did not give back the seeded documents")

    def ceiling_phase() -> None:
        reset(n)
        found["ceiling"] = ceiling(n)
        assert found["ceiling"]["documents"] == n and _versions() == {2: n}
        checksums["ceiling"] = _sql(CHECKSUM_SQL)[0][0]

    for step in (ceiling_phase, migration_phases) if ceiling_first else (migration_phases, ceiling_phase):
        step()
    if with_run and checksums["run"] != checksums["ceiling"]:
        raise RuntimeError(f"the run and the ceiling wrote different documents at {n}")
    for phase in PHASES:
        figure = found.get(phase)
        if figure is None:
            continue
        if phase != "ceiling" and not figure["ok"]:
            raise RuntimeError(f"{phase} at {n} did not do its work: {figure['check']}")
        figure["docs_per_s"] = n / figure["seconds"]
        cpu = figure["cpu_seconds"] + (figure["db_cpu_seconds"] or 0)
        figure["docs_per_cpu_s"] = n / cpu if cpu else None
        rss = (
            f"  peak RSS {figure['peak_rss'] / MiB:6.1f} MiB (+{figure['growth'] / MiB:.1f})"
            if "peak_rss" in figure
            else ""
        )
        cpus = f"cpu {figure['cpu_seconds']:6.2f} s + db {figure['db_cpu_seconds'] or 0:6.2f} s"
        print(
            f"  {n:>7,} {phase:<9} {figure['docs_per_s']:>9,.0f} documents/s  {figure['seconds']:7.2f} s  {cpus}{rss}",
            flush=True,
        )
    return found


def summarize(n: int, rounds: list[dict]) -> dict[str, Any]:
    out: dict[str, Any] = {"documents": n}
    for phase in PHASES:
        runs = [r[phase] for r in rounds if phase in r]
        figure = {
            "rounds": len(runs),
            "docs_per_s": round(statistics.median(r["docs_per_s"] for r in runs)),
            "seconds": round(statistics.median(r["seconds"] for r in runs), 3),
            "docs_per_cpu_s": round(statistics.median(r["docs_per_cpu_s"] for r in runs)),
            "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
            "db_cpu_seconds": round(statistics.median(r["db_cpu_seconds"] or 0 for r in runs), 3),
            "all_docs_per_s": [round(r["docs_per_s"]) for r in runs],
        }
        if phase != "ceiling":
            figure["peak_rss_mib"] = round(max(r["peak_rss"] for r in runs) / MiB, 1)
            figure["growth_mib"] = round(max(r["growth"] for r in runs) / MiB, 1)
            figure["rss_before_mib"] = round(statistics.median(r["rss_before"] for r in runs) / MiB, 1)
            figure["process_seconds"] = round(statistics.median(r["process_seconds"] for r in runs), 2)
        out[phase] = figure
    out["ceiling_over_run"] = round(out["ceiling"]["docs_per_s"] / out["run"]["docs_per_s"], 2)
    out["ceiling_over_run_cpu"] = round(out["ceiling"]["docs_per_cpu_s"] / out["run"]["docs_per_cpu_s"], 2)
    return out


def _fingerprints() -> dict[str, str]:
    """The code measured (other changes land in the same tree): sha256 prefixes of the files on the path."""
    files = [
        "schema_registry/services.py",
        "schema_registry/plan.py",
        "schema_registry/management/commands/migrate_documents.py",
    ]
    return {name: hashlib.sha256((ROOT / name).read_bytes()).hexdigest()[:12] for name in files}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="25000,100000")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the dry run and of the ceiling")
    parser.add_argument("--run-rounds", type=int, default=1, help="rounds of the run and its rollback (slow)")
    parser.add_argument("--profile", type=int, default=0, help="only profile a run and a rollback of this many")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n, args.plan)
        return

    WORK.mkdir(parents=True, exist_ok=True)
    plan_path = WORK / "plan.json"
    plan_path.write_text(json.dumps(PLAN, ensure_ascii=False))
    env = _env()
    sizes = [args.profile] if args.profile else sorted(int(size) for size in args.sizes.split(","))
    code = _fingerprints()
    started = time.perf_counter()
    pressure = _cpu_pressure()
    try:
        seeds = setup(sizes, env, plan_path)
        if args.profile:
            reset(args.profile)
            command = [*pin(1), sys.executable, str(Path(__file__).resolve()), "--child", "profile"]
            command += ["--n", str(args.profile), "--plan", str(plan_path)]
            subprocess.run(command, cwd=ROOT, env=env, check=True)
            return
        rounds: dict[int, list[dict]] = {n: [] for n in sizes}
        for index in range(max(args.rounds, args.run_rounds)):
            for n in sizes:
                with_run = index < args.run_rounds
                print(f"round {index + 1}, {n:,} documents{'' if with_run else ' (dry run and ceiling)'}", flush=True)
                found = one_round(n, env, plan_path, seeds[n], with_run=with_run, ceiling_first=index % 2 == 1)
                rounds[n].append(found)
    finally:
        with contextlib.suppress(Exception):
            _admin(*(f'DROP DATABASE IF EXISTS "{_template(n)}" WITH (FORCE)' for n in sizes))
    elapsed = time.perf_counter() - started
    waited = ((_cpu_pressure() or 0) - (pressure or 0)) / 1e6 if pressure is not None else None
    if code != _fingerprints():
        print("WARNING: schema_registry changed while the bench ran: the figures mix two versions of the code")

    report: dict[str, Any] = {
        "database": "postgresql",
        "plan": PLAN,
        "schema_v2": V2,
        "ceiling_sql": CEILING_SQL,
        "batch_size": int(os.environ.get("SCHEMA_MIGRATION_BATCH_SIZE", 1000)),
        "code": code,
        "sizes": {},
        "bench_seconds": round(elapsed, 1),
        "cpu_pressure_share": round(waited / elapsed, 2) if waited is not None else None,
        "loadavg_end": os.getloadavg()[0],
    }
    for n in sizes:
        report["sizes"][str(n)] = {**summarize(n, rounds[n]), "seed_seconds": seeds[n]["seed_seconds"]}
    print(f"--- median of the rounds (dry run and ceiling: {args.rounds}; run and rollback: {args.run_rounds}); "
          f"bench {elapsed:.0f} s; CPU pressure (share of time some task waited for a CPU) "
          f"{report['cpu_pressure_share']}")  # fmt: skip
    for n in sizes:
        s = report["sizes"][str(n)]
        for phase in PHASES:
            f = s[phase]
            rss = (
                f"  peak RSS {f['peak_rss_mib']:6.1f} MiB (growth {f['growth_mib']:5.1f})"
                if "peak_rss_mib" in f
                else ""
            )
            print(f"{n:>7,} {phase:<9} {f['docs_per_s']:>9,} documents/s  ({f['docs_per_cpu_s']:>7,} per CPU-s)"
                  f"  rounds {f['all_docs_per_s']}{rss}")  # fmt: skip
        ratio, by_cpu = s["ceiling_over_run"], s["ceiling_over_run_cpu"]
        print(f"{n:>7,} ceiling / run {ratio:>18.2f}  (by CPU seconds {by_cpu:.2f}); goal <= 5")
    small, large = report["sizes"][str(sizes[0])], report["sizes"][str(sizes[-1])]
    flat = {}
    for phase in ("dry_run", "run", "rollback"):
        flat[phase] = {
            "peak_rss_ratio": round(large[phase]["peak_rss_mib"] / small[phase]["peak_rss_mib"], 2),
            "growth_mib": [small[phase]["growth_mib"], large[phase]["growth_mib"]],
        }
        growth = f"{small[phase]['growth_mib']} -> {large[phase]['growth_mib']} MiB"
        ratio = flat[phase]["peak_rss_ratio"]
        print(f"peak RSS {phase:<9} {sizes[-1]:,} / {sizes[0]:,}: {ratio:.2f}  (growth over the idle process {growth})")
    report["memory_flat"] = flat
    run_rate = large["run"]["docs_per_s"]
    goals = [
        (run_rate >= 5000, f"run at {sizes[-1]:,}: {run_rate:,} documents/s >= 5,000"),
        (large["ceiling_over_run"] <= 5, f"ceiling / run at {sizes[-1]:,}: {large['ceiling_over_run']} <= 5"),
        (
            all(value["peak_rss_ratio"] <= 1.1 for value in flat.values()),
            "memory flat: peak RSS at the largest size <= 1.1 x at the smallest, every phase",
        ),
    ]
    report["goals"] = [{"met": met, "goal": text} for met, text in goals]
    for met, text in goals:
        print(f"{'GOAL MET   ' if met else 'GOAL MISSED'} {text}")
    write_results("schema_migrations", report)


if __name__ == "__main__":
    main()
