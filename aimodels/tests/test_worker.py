"""Training on a real Celery worker (prefork, on the broker of CELERY_BROKER_URL, the test database and the
test's storage): a job end to end, cancel of a queued and of a running job, retry, the time limit, a worker
process killed mid-job, and the running-jobs limit. Skipped without a broker (CI runs them on Redis)."""

import os
import signal
import time

import pytest
from django.test import override_settings

from aimodels import services
from aimodels.models import JobLog, ModelVersion, TrainingJob
from incubator.tests.live import celery_worker

from .factories import ready_version, spec

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

Status = TrainingJob.Status
PLUGINS = "aimodels.tests.plugins"


@pytest.fixture
def worker(fs_storage, tmp_path):
    """A prefork worker with two processes on both queues; beats every second, stops a cancelled job that
    ignores its flag 2 s later, allows one running job per user."""
    name = f"aimodels-{os.getpid()}@test"
    try:
        with celery_worker(
            name,
            log=tmp_path / "worker.log",
            queues="celery,training",
            concurrency=2,
            MEDIA_ROOT=str(fs_storage.location.parent),
            DATASETS_CACHE_DIR=str(tmp_path / "worker-cache"),
            AIMODELS_PLUGINS=PLUGINS,
            AIMODELS_HEARTBEAT_SECONDS="1",
            AIMODELS_CANCEL_GRACE_SECONDS="2",
            AIMODELS_MAX_RUNNING_PER_USER="1",
        ):
            with override_settings(AIMODELS_PLUGINS=[PLUGINS], AIMODELS_MAX_RUNNING_PER_USER=1):
                from aimodels.algorithms import base

                base.registry_reset()
                yield name
    finally:
        from aimodels.algorithms import base

        base.registry_reset()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def status_of(job) -> str:
    return TrainingJob.objects.values_list("status", flat=True).get(pk=job.pk)


def active_jobs(name: str) -> list:
    from incubator.celery import app

    active = app.control.inspect(destination=[name], timeout=1).active() or {}
    return [task for tasks in active.values() for task in tasks if task["name"] == "aimodels.job_run"]


@pytest.fixture
def setup(db, worker):
    from accounts.tests.factories import UserFactory
    from projects.tests.factories import make_project

    owner = UserFactory()
    project = make_project(owner, name="真实 worker")
    return owner, project, ready_version(project, owner)


def start(setup, **data):
    owner, project, version = setup
    return services.job_create(project=project, version=version, actor=owner, data=spec(**data))


def test_a_job_runs_end_to_end_on_the_worker(setup):
    job = start(setup, model_name="端到端")
    wait_for(lambda: status_of(job) in TrainingJob.FINISHED, 60, "the job to finish")
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.worker.startswith("aimodels-") and job.metrics["accuracy"] > 0.5
    assert ModelVersion.objects.filter(job=job, model__name="端到端").exists()


def test_cancel_a_queued_job_and_a_cooperative_running_one(setup, worker):
    owner = setup[0]
    running = start(setup, algorithm="test_steps", hyperparameters={"steps": 600, "pause": 0.05})
    queued = start(setup)  # waits: one running job per user
    wait_for(lambda: status_of(running) == Status.RUNNING, 30, "the first job to run")
    services.job_cancel(job=queued, actor=owner)
    cancelled_at = time.monotonic()
    services.job_cancel(job=running, actor=owner)
    wait_for(lambda: not active_jobs(worker), 5, "the running job to stop")
    assert time.monotonic() - cancelled_at < 5
    queued.refresh_from_db()
    assert queued.status == Status.CANCELLED and queued.started_at is None
    assert status_of(running) == Status.CANCELLED
    assert JobLog.objects.filter(job=running, message__startswith="stopped").exists()
    # Retry makes a new attempt that runs to the end.
    again = services.job_retry(job=queued, actor=owner)
    wait_for(lambda: status_of(again) == Status.SUCCEEDED, 60, "the retry to succeed")


def test_cancel_a_running_job_that_never_checks(setup, worker):
    job = start(setup, algorithm="test_sleeps", hyperparameters={"seconds": 120})
    wait_for(lambda: status_of(job) == Status.RUNNING, 30, "the job to run")
    time.sleep(0.5)
    cancelled_at = time.monotonic()
    services.job_cancel(job=job, actor=setup[0])
    wait_for(lambda: not active_jobs(worker), 8, "the worker to drop the job")
    stopped = time.monotonic() - cancelled_at
    assert stopped < 5, stopped
    assert status_of(job) == Status.CANCELLED


def test_the_time_limit_stops_a_job(setup):
    job = start(setup, algorithm="test_sleeps", hyperparameters={"seconds": 120}, time_limit=2)
    wait_for(lambda: status_of(job) == Status.FAILED, 20, "the job to fail")
    job.refresh_from_db()
    assert job.error_code == "TIME_LIMIT" and (job.finished_at - job.started_at).total_seconds() < 10


def test_a_worker_process_killed_mid_job_never_leaves_it_running(setup):
    job = start(setup, algorithm="test_sleeps", hyperparameters={"seconds": 120})
    wait_for(lambda: status_of(job) == Status.RUNNING, 30, "the job to run")
    job.refresh_from_db()
    pid = int(job.worker.rsplit("pid ", 1)[1].rstrip(")"))
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: status_of(job) != Status.RUNNING, 30, "the job to leave running")
    job.refresh_from_db()
    assert job.status == Status.FAILED and job.error_code == "WORKER_LOST"


def test_jobs_past_the_running_limit_wait_their_turn(setup):
    first = start(setup, algorithm="test_steps", hyperparameters={"steps": 20, "pause": 0.1})
    second = start(setup, algorithm="test_steps", hyperparameters={"steps": 2})
    wait_for(lambda: status_of(second) == Status.SUCCEEDED, 60, "both jobs to finish")
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Status.SUCCEEDED
    assert second.started_at >= first.finished_at  # never both running at once


def test_a_jobs_progress_reaches_a_websocket_client_live_from_the_worker(setup):
    """The worker (another process) writes and publishes; a real ASGI server delivers to a real WebSocket
    client; a reconnect with `since` brings back exactly what was missed."""
    import asyncio
    import json

    import websockets
    from rest_framework_simplejwt.tokens import RefreshToken

    from incubator.tests.live import asgi_server

    owner = setup[0]
    token = str(RefreshToken.for_user(owner).access_token)
    with asgi_server("granian") as base:
        url = base.replace("http", "ws") + "/ws/v1/stream"
        job = start(setup, algorithm="test_steps", hyperparameters={"steps": 40, "pause": 0.1})
        topic = f"job:{job.pk}"

        async def watch(since=None, until_finished=True):
            seen = []
            async with websockets.connect(url, subprotocols=["incubator.v1", f"bearer.{token}"]) as ws:
                assert json.loads(await ws.recv())["type"] == "authenticated"
                await ws.send(json.dumps({"type": "subscribe", "topics": [topic], "since": since}))
                assert json.loads(await ws.recv())["type"] == "subscribed"
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if message["type"] == "heartbeat":
                        continue
                    assert message["topic"] == topic, message
                    seen.append(message)
                    finished = message["type"] == "job.status" and message["data"]["status"] in TrainingJob.FINISHED
                    if finished or (not until_finished and len(seen) >= 3):
                        return seen

        first = asyncio.run(watch(since=0, until_finished=False))
        rest = asyncio.run(watch(since=first[-1]["id"]))
    ids = [m["id"] for m in first + rest]
    assert ids == sorted(set(ids)), "no gap, no duplicate, in order"
    stored = list(_event_ids(topic))
    assert ids == stored
    kinds = {m["type"] for m in first + rest}
    assert {"job.status", "job.progress"} <= kinds
    assert rest[-1]["data"]["status"] == Status.SUCCEEDED


def _event_ids(topic):
    from incubator.events.models import Event

    return Event.objects.filter(topic=topic).order_by("id").values_list("id", flat=True)
