"""Tasks reach a worker: in-process when no broker is set, a real worker process on Redis in CI."""

import os
import subprocess
import sys
import time

import pytest

from incubator.tasks import ping

from .live import ROOT


@pytest.mark.skipif(bool(os.environ.get("CELERY_BROKER_URL")), reason="a broker is set: the worker test covers it")
def test_task_runs_without_a_broker():
    assert ping.delay().get(timeout=10) == "pong"


@pytest.mark.celery_worker
def test_real_worker_consumes_the_broker():
    from incubator.celery import app

    app.control.purge()  # what earlier runs left in the broker would queue ahead of the ping
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "incubator",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"ci-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        started = time.monotonic()
        assert ping.delay().get(timeout=60) == "pong"
        assert time.monotonic() - started < 60
    finally:
        worker.terminate()
        worker.wait(timeout=20)


@pytest.mark.skipif(bool(os.environ.get("CELERY_BROKER_URL")), reason="a broker is set: the worker test covers it")
def test_embedded_worker_thread_consumes_the_memory_broker():
    """What `make run` relies on: no broker configured, yet tasks run asynchronously in a worker thread."""
    import threading

    from incubator.celery import app, start_embedded_worker

    app.conf.task_always_eager = False
    try:
        start_embedded_worker()
        result = ping.delay()
        # A worker in this process makes Celery refuse blocking joins by default; this test is the exception.
        assert result.get(timeout=20, disable_sync_subtasks=False) == "pong"
        assert any(t.name == "celery-embedded" for t in threading.enumerate())
    finally:
        app.conf.task_always_eager = True
