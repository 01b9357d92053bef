"""Shared by the benchmarks: start a real ASGI server pinned to core 0, watch PostgreSQL connections."""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from incubator.servers import free_port, server_command

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def pin(core: int) -> list[str]:
    return ["taskset", "-c", str(core)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []


@contextlib.contextmanager
def server(kind: str, env: dict[str, str]) -> Iterator[int]:
    port = free_port()
    cmd = server_command(kind, port)
    process = subprocess.Popen([*pin(0), *cmd], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{kind} did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=15)


class ConnectionWatcher:
    """Samples the number of PostgreSQL backends on the benchmark database every 50 ms."""

    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url if database_url and database_url.startswith("postgres") else None
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> "ConnectionWatcher":
        if self.database_url:
            self._thread = threading.Thread(target=self._watch, daemon=True)
            self._thread.start()
        return self

    def _watch(self) -> None:
        import psycopg

        dbname = self.database_url.rsplit("/", 1)[1]
        with psycopg.connect(self.database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            while not self._stop.is_set():
                count = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'",
                    [dbname],
                ).fetchone()[0]
                self.peak = max(self.peak, count)
                time.sleep(0.05)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()


def ensure_postgres_database(database_url: str) -> None:
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def write_results(name: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def line(figure: dict) -> str:
    return (
        f"{figure['name']:<34} {figure['rps']:>9.1f} req/s  p50 {figure['p50_ms']:>7.2f} ms  "
        f"p99 {figure['p99_ms']:>7.2f} ms  non-2xx {figure['non_2xx']}  errors {figure['errors']}"
    )
