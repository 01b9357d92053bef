"""Fault gates against real processes (issue 15): Redis down, a PostgreSQL connection dropped mid-request, a
whole Celery worker killed during a job, and a web process restarted under connected WebSocket clients.

What other files already prove is not repeated here:
- a pool process killed mid-job (the job fails WORKER_LOST on redelivery): aimodels/tests/test_worker.py;
- a pool process killed mid document migration (redelivered, resumes after its last batch):
  schema_registry/tests/test_worker.py;
- the database unreachable from the start (503 naming it): incubator/tests/test_live.py;
- readiness naming a check that fails: incubator/tests/test_health.py;
- a client that reconnects with `since` to a server that stayed up: incubator/tests/test_live_stream.py.
"""

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.tests.factories import UserFactory
from accounts.tokens import token_pair_for
from incubator.servers import free_port
from projects.tests.factories import make_project

from .live import ROOT, asgi_server, processes
from .live import test_database_url as database_url

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]


def access(user) -> str:
    return str(RefreshToken.for_user(user).access_token)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.text[:500])
    body = response.json()
    assert set(body) == {"status_code", "error_code", "message", "details"}, body
    assert body["status_code"] == status and body["error_code"] == code, body
    assert body["message"], body
    return body


# --- 1. Redis down ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def private_redis(port: int):
    """A redis-server of this test's own, on its own port (the shared one on 6379 is never touched), with
    nothing written to disk."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for(lambda: _redis_ping(port), 10, f"redis-server on {port}")
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=10)


def _redis_ping(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=0.5).ping())
    except redis.exceptions.ConnectionError:
        return False


def _broker_queue_length(port: int, db: int, queue: str) -> int:
    import redis

    return int(redis.Redis(port=port, db=db).llen(queue))


@pytest.fixture
def training_setup(fs_storage):
    from aimodels.tests.factories import ready_version

    owner = UserFactory()
    project = make_project(owner, name="故障演练")
    version = ready_version(project, owner)
    return owner, project, version


def _job_body(project, version) -> dict:
    return {"project": project.id, "dataset": version.dataset_id, "algorithm": "logistic_regression", "target": "标签"}


def _redis_env(port: int, *, cache: bool = True) -> dict[str, str]:
    env = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{port}/1", "CELERY_RESULT_BACKEND": f"redis://127.0.0.1:{port}/1"}
    if cache:
        env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return env


@pytest.mark.redis
def test_redis_down_readiness_names_it_and_a_write_that_needs_it_is_a_503_that_writes_nothing(training_setup):
    """Cache, rate limits, channel layer and broker on one private Redis, killed under a live server; started
    again, the same write succeeds and its task reaches the broker."""
    from aimodels.models import TrainingJob
    from incubator.events.models import Event

    owner, project, version = training_setup
    headers = {"Authorization": f"Bearer {access(owner)}"}
    port = free_port()
    with private_redis(port) as redis_process, asgi_server("granian", **_redis_env(port)) as base:
        assert httpx.get(f"{base}/api/v1/health/ready", timeout=10).status_code == 200
        assert httpx.get(f"{base}/api/v1/projects/{project.pk}", timeout=10).status_code == 200
        jobs_before, events_before = TrainingJob.objects.count(), Event.objects.count()
        reads: dict[str, int] = {}

        redis_process.kill()
        redis_process.wait(timeout=10)

        started = time.monotonic()
        ready = httpx.get(f"{base}/api/v1/health/ready", timeout=30)
        body = assert_error(ready, 503, "SERVICE_UNAVAILABLE")
        assert {"cache", "broker"} <= set(body["details"]["unavailable"]), body
        assert body["details"]["checks"]["database"]["ok"] is True
        assert time.monotonic() - started < 10

        # Reads that need nothing only Redis knows still work: rate limits count in the process, the list's total
        # is counted again (incubator.batch). A logged-in read cannot know whether its session was logged out:
        # 503 naming the cache, never a revoked token served.
        started = time.monotonic()
        for path in ("/api/v1/projects", "/api/v1/tags", "/api/v1/openapi.json"):
            read = httpx.get(f"{base}{path}", timeout=30)
            assert read.status_code == 200, (path, read.text[:300])
            reads[path] = read.status_code
        session = {"Authorization": f"Bearer {token_pair_for(owner).access_token}"}
        read = httpx.get(f"{base}/api/v1/projects/{project.pk}", headers=session, timeout=30)
        assert assert_error(read, 503, "SERVICE_UNAVAILABLE")["details"]["unavailable"] == ["cache"]
        reads["logged in"] = read.status_code
        assert time.monotonic() - started < 10

        # The write: a token without a session (nothing to check in Redis) gets past authentication and the rate
        # limits to the service, whose generation bump needs Redis: 503, the whole write rolled back.
        started = time.monotonic()
        refused = httpx.post(f"{base}/api/v1/jobs", json=_job_body(project, version), headers=headers, timeout=30)
        body = assert_error(refused, 503, "SERVICE_UNAVAILABLE")
        assert body["details"]["unavailable"] == ["cache"], body
        assert time.monotonic() - started < 10
        # Nothing half-written: no job, no event (the whole write was rolled back).
        assert TrainingJob.objects.count() == jobs_before and Event.objects.count() == events_before

        with private_redis(port):  # back, on the same address
            assert httpx.get(f"{base}/api/v1/health/ready", timeout=10).status_code == 200
            created = httpx.post(f"{base}/api/v1/jobs", json=_job_body(project, version), headers=headers, timeout=30)
            assert created.status_code == 201, created.text
            job = TrainingJob.objects.get(pk=created.json()["id"])
            assert job.status == "queued" and job.task_id
            assert _broker_queue_length(port, 1, "training") == 1  # sent, waiting for a worker
    print(f"redis down: reads {reads}, the job's POST 503 and nothing written")


@pytest.mark.redis
def test_broker_down_a_job_is_accepted_once_and_sent_when_the_broker_is_back(training_setup):
    """The cache up (REDIS_URL), only the broker down: the job's row commits, its task cannot be sent. The
    request must not be a 500 and the job must not stay `queued` forever with a task that was never sent: the
    sweeper sends it once the broker is back."""
    from aimodels.models import TrainingJob

    owner, project, version = training_setup
    headers = {"Authorization": f"Bearer {access(owner)}"}
    port = free_port()
    env = {**_redis_env(port, cache=False), "REDIS_URL": os.environ["REDIS_URL"]}
    with private_redis(port) as redis_process, asgi_server("granian", **env) as base:
        redis_process.kill()
        redis_process.wait(timeout=10)
        ready = assert_error(httpx.get(f"{base}/api/v1/health/ready", timeout=30), 503, "SERVICE_UNAVAILABLE")
        assert ready["details"]["unavailable"] == ["broker"]
        started = time.monotonic()
        response = httpx.post(f"{base}/api/v1/jobs", json=_job_body(project, version), headers=headers, timeout=30)
        took = time.monotonic() - started
        assert response.status_code == 201, (took, response.text)
        assert took < 15
        job = TrainingJob.objects.get(pk=response.json()["id"])
        assert job.status == "queued" and job.task_id == ""  # waiting to be sent: what the sweeper picks up
        with private_redis(port):
            # What Celery beat runs every 30 s, in a process of its own on the broker that is back.
            assert _sweep(env)["sent"] == 1
            assert _broker_queue_length(port, 1, "training") == 1
            job.refresh_from_db()
            assert job.status == "queued" and job.task_id


def _sweep(env: dict[str, str]) -> dict:
    code = "import json; from aimodels import services; print(json.dumps(services.jobs_sweep()))"
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database_url(), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- 2. PostgreSQL connection dropped mid-request ------------------------------------------------------------


@pytest.mark.postgres
def test_a_database_connection_dropped_mid_request_is_a_503_and_the_next_request_works():
    """The server's request waits on a table lock the test holds; the test terminates the server's backends
    (of the test database only) while it waits: that request gets a 503 in the error format, and the next
    ones are served by fresh connections from the pool."""
    import psycopg

    owner = UserFactory()
    project = make_project(owner, name="断线项目")
    database = connection.settings_dict["NAME"]
    # The server's connections carry a name of their own: only they are terminated, never this process's, and
    # never those of another database.
    name = f"faults-server-{os.getpid()}"
    with asgi_server("granian", DB_OPTIONS=f"-c jit=off -c application_name={name}") as base:
        url = f"{base}/api/v1/projects/{project.pk}"
        for _ in range(3):  # warm: the pool holds several live connections now
            assert httpx.get(url, timeout=10).status_code == 200
        with psycopg.connect(database_url().replace("postgres://", "postgresql://")) as locker:
            locker.execute("LOCK TABLE projects_project IN ACCESS EXCLUSIVE MODE")
            result: dict = {}
            thread = threading.Thread(target=lambda: result.update(r=httpx.get(url, timeout=30)))
            thread.start()
            waiting = wait_for(lambda: _backends(database, name, waiting_on_lock=True), 10, "the request to wait")
            pooled = _backends(database, name)
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = %s AND application_name = %s",
                    [database, name],
                )
                killed = cursor.fetchone()[0]
            started = time.monotonic()
            thread.join(timeout=20)
            took = time.monotonic() - started
            locker.rollback()
        assert not thread.is_alive(), "the request hung"
        assert len(waiting) == 1 and killed == len(pooled) >= 2, (waiting, pooled, killed)
        body = assert_error(result["r"], 503, "SERVICE_UNAVAILABLE")
        assert body["details"]["unavailable"] == ["database"]
        assert took < 5
        # Every other pooled connection of the server was terminated too: the next requests still work.
        statuses = [httpx.get(url, timeout=10).status_code for _ in range(5)]
        assert statuses == [200] * 5, statuses
    print(f"database: {killed} server connections terminated, the waiting request answered 503 in {took:.2f}s")


def _backends(database: str, name: str, *, waiting_on_lock: bool = False) -> list[int]:
    sql = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
    if waiting_on_lock:
        sql += " AND wait_event_type = 'Lock'"
    with connection.cursor() as cursor:
        cursor.execute(sql, [database, name])
        return [row[0] for row in cursor.fetchall()]


# --- 3. a whole Celery worker killed during a job -------------------------------------------------------------


def _start_worker(name: str, env: dict[str, str]) -> subprocess.Popen:
    """A prefork worker on both queues, as aimodels/tests/test_worker.py starts one, in its own process group."""
    from incubator.celery import app

    command = [sys.executable, "-m", "celery", "-A", "incubator", "worker", "-Q", "celery,training", "--pool",
               "prefork", "--concurrency", "1", "--loglevel", "WARNING", "--without-mingle", "--without-gossip",
               "-n", name]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not app.control.ping(destination=[name], timeout=0.5):
        assert process.poll() is None, "the worker exited"
        assert time.monotonic() < deadline, "the worker did not start"
    return process


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.mark.celery_worker
def test_a_worker_killed_whole_mid_job_leaves_it_failed_not_running(training_setup, fs_storage, tmp_path):
    """The worker's main process and its pool child SIGKILLed together (a machine lost, the OOM killer on the
    group): no process is left to reject the task, and Redis would hand the unacknowledged message out again
    only after the visibility timeout (hours). The next worker's start-up sweep (or beat's, every 30 s) fails the
    job WORKER_LOST once its heartbeat is older than AIMODELS_STALE_SECONDS (2 s here, 60 s by default)."""
    from aimodels import services as aimodels_services
    from aimodels.algorithms import base
    from aimodels.models import TrainingJob
    from incubator.celery import app

    owner, project, version = training_setup
    app.control.purge()
    plugins = "aimodels.tests.plugins"
    env = {
        "DATABASE_URL": database_url(),
        "MEDIA_ROOT": str(fs_storage.location.parent),
        "DATASETS_CACHE_DIR": str(tmp_path / "worker-cache"),
        "AIMODELS_PLUGINS": plugins,
        "AIMODELS_HEARTBEAT_SECONDS": "1",
        "AIMODELS_STALE_SECONDS": "2",
    }
    first = _start_worker(f"faults-a-{os.getpid()}@test", env)
    second = None
    try:
        from django.test import override_settings

        with override_settings(AIMODELS_PLUGINS=[plugins]):
            base.registry_reset()
            job = aimodels_services.job_create(
                project=project,
                version=version,
                actor=owner,
                data={"algorithm": "test_sleeps", "target": "标签", "hyperparameters": {"seconds": 120}},
            )
        status = lambda: TrainingJob.objects.values_list("status", flat=True).get(pk=job.pk)  # noqa: E731
        wait_for(lambda: status() == "running", 30, "the job to run")
        time.sleep(1.5)  # a heartbeat or two
        _stop(first, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(1)
        assert status() == "running"  # nobody is left to say otherwise
        second = _start_worker(f"faults-b-{os.getpid()}@test", env)
        wait_for(lambda: status() != "running", 30, "the job to leave running")
        job.refresh_from_db()
        assert job.status == "failed" and job.error_code == "WORKER_LOST", (job.status, job.error_code)
        assert time.monotonic() - killed_at < 30
    finally:
        _stop(first, signal.SIGKILL)
        if second is not None:
            _stop(second)
        base.registry_reset()


# --- 4. a web process restarted under connected WebSocket clients ---------------------------------------------


CLIENTS = 5


async def _client(url: str, token: str, topic: str, since: int, state: dict, ready: threading.Event) -> None:
    """Subscribes with `since`, records every event; when the connection drops (or cannot be made while the
    server is away), reconnects with the last id it saw, as docs/events.md tells clients to."""
    import websockets

    seen: list[int] = state["ids"]
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not state["done"].is_set():
        try:
            async with websockets.connect(url, subprotocols=["incubator.v1", f"bearer.{token}"], open_timeout=5) as ws:
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "authenticated"
                cursor = seen[-1] if seen else since
                await ws.send(json.dumps({"type": "subscribe", "topics": [topic], "since": cursor}))
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "subscribed"
                state["connections"] += 1
                ready.set()
                while not state["done"].is_set():
                    if state["last"] is not None and seen and seen[-1] >= state["last"]:
                        state["done"].set()
                        break
                    try:
                        message = json.loads(await asyncio.wait_for(ws.recv(), 0.5))
                    except TimeoutError:
                        continue
                    assert message["type"] not in ("error", "replay.truncated"), message
                    if isinstance(message.get("id"), int):
                        seen.append(message["id"])
        except (OSError, TimeoutError, websockets.ConnectionClosed, websockets.InvalidHandshake):
            await asyncio.sleep(0.1)


def test_websocket_clients_reconnect_across_server_restarts_and_miss_nothing():
    """Five clients on one topic; the server is stopped twice, with SIGTERM (graceful) and then SIGKILL (gone at
    once), while events keep being committed, and each time a new server starts on the same port. Each client,
    reconnecting with the last id it saw, has every event exactly once, in order."""
    from incubator.events.models import Event

    from .test_stream import record

    owner = UserFactory()
    project = make_project(owner, name="重启项目")
    topic = f"project:{project.pk}"
    since = record(topic, 1)[0]
    token = access(owner)
    port = free_port()
    url = f"ws://127.0.0.1:{port}/ws/v1/stream"
    states = [{"ids": [], "connections": 0, "done": threading.Event(), "last": None} for _ in range(CLIENTS)]
    readies = [threading.Event() for _ in range(CLIENTS)]

    async def all_clients():
        await asyncio.gather(*(_client(url, token, topic, since, s, r) for s, r in zip(states, readies, strict=True)))

    clients = threading.Thread(target=asyncio.run, args=(all_clients(),))
    downtimes = {}
    with contextlib.ExitStack() as stack:
        base = stack.enter_context(asgi_server("granian", port=port))
        clients.start()
        try:
            assert all(ready.wait(30) for ready in readies), "the clients did not subscribe"
            for how in (signal.SIGTERM, signal.SIGKILL):
                record(topic, 5)  # live
                server = processes[base]
                os.killpg(server.pid, how)
                server.wait(timeout=20)
                stopped_at = time.monotonic()
                record(topic, 5)  # while no server runs: only in the table
                stack.close()  # the stopped server's context: nothing left to stop
                base = stack.enter_context(asgi_server("granian", port=port))
                downtimes[how.name] = round(time.monotonic() - stopped_at, 1)
            record(topic, 5)  # live again, or replayed to a client still reconnecting
            expected = list(Event.objects.filter(topic=topic, id__gt=since).order_by("id").values_list("id", flat=True))
            for state in states:
                state["last"] = expected[-1]
            assert all(state["done"].wait(30) for state in states), [s["ids"] for s in states]
        finally:
            for state in states:
                state["done"].set()
            clients.join(timeout=30)
    assert len(expected) == 25
    for state in states:
        assert state["ids"] == expected, state["ids"]  # every one, once, in order
        assert state["connections"] >= 3
    print(
        f"websocket restarts: server down for {downtimes} s; connections per client", [s["connections"] for s in states]
    )


@pytest.mark.postgres
def test_after_a_database_error_no_pooled_connection_from_before_serves_again():
    """database_lost() replaces every connection of the pool, not only those that fail a test query: a backend
    terminated with the others can still answer one for the few milliseconds it takes to exit."""
    from incubator.exceptions import database_lost

    connection.ensure_connection()
    pool = connection.pool
    before = [pool.getconn(timeout=10) for _ in range(2)]
    for conn in before:
        pool.putconn(conn)
    database_lost()
    after = [pool.getconn(timeout=10) for _ in range(pool.max_size - 1)]  # this thread holds one
    try:
        assert not [conn for conn in after if any(conn is old for old in before)]
        assert all(old.closed for old in before)
    finally:
        for conn in after:
            pool.putconn(conn)
