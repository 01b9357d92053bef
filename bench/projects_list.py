"""Benchmark: GET /api/v1/projects against a hand-written plain Django view, on 100,000 projects.

    python bench/projects_list.py [--seconds 8] [--rounds 3] [--size 100000] [--server granian|uvicorn]

With DATABASE_URL (PostgreSQL) it seeds its own databases (<name>_projects_100000 and _1000) with
`seed_sandbox --size large`, timing the seed. One server process on core 0, the load on core 1,
32 connections, scenarios interleaved, median of the rounds. Goals (issue 4): API >= 0.9x the
reference's req/s, p99 < 2.5x p50, zero non-2xx, p50 at 100,000 projects within 1.5x of p50 at 1,000.
Writes bench/results/projects_list.json.
"""

import argparse
import asyncio
import os
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ConnectionWatcher, ensure_postgres_database, line, manage, pin, server, write_results  # noqa: E402
from bench.loadgen import Request, median_of, run  # noqa: E402

SCENARIOS = {
    "list": "page_size=20",
    "tag": "page_size=20&tags=" + urllib.parse.quote("计算机视觉"),
    "search": "page_size=20&search=" + urllib.parse.quote("detection"),
    "search_zh": "page_size=20&search=" + urllib.parse.quote("医学影像"),
}


def database_for(size: int) -> str:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgres"):
        db = url.rsplit("/", 1)[0] + f"/incubator_bench_projects_{size}"
        ensure_postgres_database(db)
        return db
    return f"sqlite:///{Path(__file__).resolve().parent.parent / 'var' / f'bench-projects-{size}.sqlite3'}"


def prepare(size: int) -> tuple[dict[str, str], float]:
    env = {
        **os.environ,
        "DATABASE_URL": database_for(size),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "THROTTLE_ANON": "100000000/min",
        "THROTTLE_USER": "100000000/min",
        "LOG_LEVEL": "WARNING",
    }
    manage("migrate", "--no-input", "-v", "0", env=env)
    started = time.perf_counter()
    manage("seed_sandbox", "--size", "large", "--large-count", str(size), env=env)
    return env, time.perf_counter() - started


def measure(env: dict[str, str], names: list[str], seconds: float, rounds: int, connections: int, kind: str) -> dict:
    with server(kind, env) as port, ConnectionWatcher(env["DATABASE_URL"]) as watcher:
        requests = {}
        for name in names:
            query = SCENARIOS[name]
            requests[f"api_{name}"] = Request("GET", f"/api/v1/projects?{query}")
            requests[f"ref_{name}"] = Request("GET", f"/bench/reference/projects?{query}")
        for req in requests.values():  # warm caches and plans
            asyncio.run(run("warmup", port, req, 1.5, connections))
        results: dict[str, list] = {name: [] for name in requests}
        for _ in range(rounds):
            for name, req in requests.items():
                results[name].append(asyncio.run(run(name, port, req, seconds, connections)))
        figures = {name: median_of(r) for name, r in results.items()}
        figures["peak_db_connections"] = watcher.peak if env["DATABASE_URL"].startswith("postgres") else None
        return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    args = parser.parse_args()
    names = [name for name in args.only.split(",") if name in SCENARIOS]
    if pin(1) and os.environ.get("BENCH_PINNED") != "1":
        os.execvpe("taskset", ["taskset", "-c", "1", sys.executable, *sys.argv], {**os.environ, "BENCH_PINNED": "1"})

    env_large, seed_seconds = prepare(args.size)
    env_small, _ = prepare(args.small)
    print(f"seed_sandbox --size large ({args.size} projects): {seed_seconds:.1f} s (0 if already seeded)")
    large = measure(env_large, names, args.seconds, args.rounds, args.connections, args.server)
    small = measure(env_small, ["list"], args.seconds, args.rounds, args.connections, args.server)

    report: dict = {
        "database": env_large["DATABASE_URL"].split("://")[0],
        "size": args.size,
        "connections": args.connections,
        "seed_seconds": round(seed_seconds, 1),
        "large": large,
        "small": small,
        "checks": {},
    }
    print(
        f"--- {args.size} projects ({report['database']}, {args.server}), {args.connections} connections, "
        f"median of {args.rounds}"
    )
    for name in names:
        api, ref = large[f"api_{name}"], large[f"ref_{name}"]
        ratio = round(api["rps"] / ref["rps"], 3)
        tail = round(api["p99_ms"] / api["p50_ms"], 2)
        print(line({**api, "name": f"api {name}"}))
        print(line({**ref, "name": f"reference {name}"}))
        print(f"  {name}: ratio {ratio} (goal >= 0.9), api p99/p50 {tail} (goal < 2.5)")
        report["checks"][name] = {"ratio": ratio, "p99_over_p50": tail, "non_2xx": api["non_2xx"] + ref["non_2xx"]}
    growth = round(large["api_list"]["p50_ms"] / small["api_list"]["p50_ms"], 2)
    print(line({**small["api_list"], "name": f"api list at {args.small}"}))
    print(f"  p50 at {args.size} / p50 at {args.small}: {growth} (goal <= 1.5)")
    print(f"  peak PostgreSQL connections: {large['peak_db_connections']}")
    report["checks"]["p50_growth"] = growth
    write_results("projects_list", report)


if __name__ == "__main__":
    main()
