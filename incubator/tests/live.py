"""Start a real ASGI server process for a test, pointed at the test database."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from django.db import connection

from incubator.servers import free_port, server_command

ROOT = Path(__file__).resolve().parents[2]
# The process serving each live server's base URL, for a test that kills it itself (incubator/tests/test_faults.py).
processes: dict[str, subprocess.Popen] = {}


def test_database_url() -> str:
    settings = connection.settings_dict
    if settings["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{settings['NAME']}"
    host, port, user = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432, settings["USER"]
    return f"postgres://{user}@{host}:{port}/{settings['NAME']}"


@contextlib.contextmanager
def asgi_server(server: str = "uvicorn", *, port: int | None = None, **env: str) -> Iterator[str]:
    """Serves on `port` (a free one when None: a fixed one lets a test start a server again where one was)."""
    port = port or free_port()
    child_env = {**os.environ, "DATABASE_URL": test_database_url(), "DB_POOL_TIMEOUT": "2", **env}
    cmd = server_command(server, port)
    # Output to a file, not a pipe nobody reads: a server that logs more than a pipe holds would block on it.
    output = tempfile.TemporaryFile()
    # Its own process group: granian's worker is a child process, which must go with the server.
    process = subprocess.Popen(
        cmd, cwd=ROOT, env=child_env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    processes[base] = process
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                output.seek(0)
                raise RuntimeError(f"server exited: {output.read().decode(errors='replace')[-3000:]}")
            try:
                httpx.get(f"{base}/api/v1/health", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        processes.pop(base, None)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # whatever is left of the group (an orphaned worker)
        if os.environ.get("LIVE_SERVER_LOG"):  # keep the server's output for a look after the test
            output.seek(0)
            Path(os.environ["LIVE_SERVER_LOG"]).write_bytes(output.read())
        output.close()


@contextlib.contextmanager
def celery_worker(
    name: str, *, log: Path, queues: str = "celery", concurrency: int = 1, loglevel: str = "WARNING", **env: str
) -> Iterator[subprocess.Popen]:
    """A real prefork Celery worker named `name` on the broker of CELERY_BROKER_URL and the test database, its
    output in `log` (a file, not a pipe nobody reads), until it answers a ping; stopped with its whole process
    group (pool processes, engine processes) at the end."""
    from incubator.celery import app

    app.control.purge()
    child_env = {**os.environ, "DATABASE_URL": test_database_url(), **env}
    command = ["-m", "celery", "-A", "incubator", "worker", "-Q", queues, "--pool", "prefork",
               "--concurrency", str(concurrency), "--loglevel", loglevel, "--without-mingle", "--without-gossip",
               "-n", name]  # fmt: skip
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, *command], cwd=ROOT, env=child_env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[name], timeout=1):
            assert process.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the worker did not start"
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
