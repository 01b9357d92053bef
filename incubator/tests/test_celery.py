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
