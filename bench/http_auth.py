"""Benchmark: login and GET /users/me against a plain Django reference view, on uvicorn and granian.

    python bench/http_auth.py [--seconds 8] [--rounds 3] [--servers uvicorn,granian]

Uses DATABASE_URL when set (PostgreSQL, through the pool) and REDIS_URL for the cache; SQLite otherwise.
The server runs on core 0, the load on core 1, 32 connections. Prints one line per figure and writes
bench/results/http_auth.json.
"""

import argparse
import asyncio
import json
import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ConnectionWatcher, ensure_postgres_database, line, manage, pin, server, write_results  # noqa: E402
from bench.loadgen import Request, median_of, run  # noqa: E402

PASSWORD = "Bench-Password-2026"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--servers", default="uvicorn,granian")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if pin(1) and os.environ.get("BENCH_PINNED") != "1":  # the load generator on core 1
        os.execvpe("taskset", ["taskset", "-c", "1", sys.executable, *sys.argv], {**os.environ, "BENCH_PINNED": "1"})

    database_url = os.environ.get("DATABASE_URL")
    if database_url:
        database_url = database_url.rsplit("/", 1)[0] + "/incubator_bench_auth"
        ensure_postgres_database(database_url)
    else:
        database_url = f"sqlite:///{Path(__file__).resolve().parent.parent / 'var' / 'bench-auth.sqlite3'}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "THROTTLE_USER": "100000000/min",
        "THROTTLE_ANON": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "LOGIN_FAILURES_PER_ACCOUNT": "1000000",
        "LOGIN_FAILURES_PER_ADDRESS": "1000000",
    }
    manage("migrate", "--no-input", "-v", "0", env=env)
    manage(
        "shell",
        "-c",
        (
            "from accounts.models import User\n"
            "u, _ = User.objects.get_or_create(username='bench', defaults={'email': 'bench@example.com', "
            "'display_name': '压测用户'})\n"
            f"u.set_password('{PASSWORD}'); u.save()"
        ),
        env=env,
    )

    report: dict = {"database": database_url.split("://")[0], "connections": args.connections, "servers": {}}
    for kind in args.servers.split(","):
        with server(kind, env) as port, ConnectionWatcher(database_url) as watcher:
            login_body = json.dumps({"username": "bench", "password": PASSWORD}).encode()
            login = Request("POST", "/api/v1/users/login", {"Content-Type": "application/json"}, login_body)
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/v1/users/login",
                data=login_body,
                headers={"Content-Type": "application/json"},
            )
            access = json.load(urllib.request.urlopen(request))["access"]
            auth = {"Authorization": f"Bearer {access}"}
            scenarios = {
                "login": login,
                "users_me": Request("GET", "/api/v1/users/me", auth),
                "reference_me": Request("GET", "/bench/reference/me", auth),
            }
            asyncio.run(run("warmup", port, scenarios["users_me"], 3, args.connections))
            rounds: dict[str, list] = {name: [] for name in scenarios}
            for _ in range(args.rounds):  # interleaved, so drift hits every scenario alike
                for name, req in scenarios.items():
                    rounds[name].append(asyncio.run(run(name, port, req, args.seconds, args.connections)))
            figures = {name: median_of(results) for name, results in rounds.items()}
            figures["ratio_me_vs_reference"] = round(figures["users_me"]["rps"] / figures["reference_me"]["rps"], 3)
            figures["peak_db_connections"] = watcher.peak if database_url.startswith("postgres") else None
            report["servers"][kind] = figures
        print(f"--- {kind} ({report['database']}, {args.connections} connections, median of {args.rounds})")
        for name in scenarios:
            print(line({**figures[name], "name": f"{kind} {name}"}))
        print(f"{kind} users_me / reference_me ratio: {figures['ratio_me_vs_reference']}")
        print(f"{kind} peak PostgreSQL connections: {figures['peak_db_connections']}")
    write_results("http_auth", report)


if __name__ == "__main__":
    main()
