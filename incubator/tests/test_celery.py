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
def test_the_embedded_worker_process_consumes_the_file_broker(monkeypatch, tmp_path):
    """What `make run` relies on: no broker configured, yet tasks run asynchronously, in a worker process the
    server starts beside itself (off the server's GIL), through files under var/celery/."""
    from incubator import celery

    # The worker's own database: not the developer's var/db.sqlite3 (its start-up sweeps would look there).
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'worker.sqlite3'}")
    celery.app.conf.task_always_eager = False
    restarted: list = []
    try:
        assert celery.start_embedded_worker()
        assert not celery.start_embedded_worker()  # one worker per server process
        workers = list(celery._embedded)
        assert len(workers) == 2 and all(worker.pid != os.getpid() for worker in workers)  # short tasks, training
        assert ping.delay().get(timeout=60) == "pong"
        assert all(worker.poll() is None for worker in workers)
        # One of them dies (kombu's file transport once read a message file still being written, and the worker
        # stopped for good): the supervisor starts them again.
        monkeypatch.setattr(celery, "SUPERVISE_SECONDS", 0.2)
        assert celery.supervise_embedded_worker()
        # What the short-task worker started (its pool process and its beat) is in its process group, and must not
        # outlive it: an orphaned beat would run beside the next worker's.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(celery.group_members(workers[0].pid)) < 3:
            time.sleep(0.1)
        started = celery.group_members(workers[0].pid)
        assert len(started) >= 3, started  # the worker, its pool process, its beat
        assert {os.getpgid(pid) for pid in started} == {workers[0].pid}
        assert not set(celery.group_members(os.getpgid(0))) & set(started)  # not in this process's group
        workers[0].kill()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (celery._embedded == workers or len(celery._embedded) != 2):
            time.sleep(0.1)
        restarted = list(celery._embedded)
        assert len(restarted) == 2 and not set(restarted) & set(workers)
        assert all(worker.poll() is not None for worker in workers)  # the survivor stopped with its pair
        assert celery.group_members(workers[0].pid) == []  # and what the killed one had started
        # (No second ping here: on a loaded run a worker another test started on the same file broker could take it.)
        assert all(worker.poll() is None for worker in restarted)
    finally:
        celery.app.conf.task_always_eager = True
        celery.stop_embedded_worker()
    assert all(worker.poll() is not None for worker in workers + restarted)  # stopped with the server
    assert not any(celery.group_members(worker.pid) for worker in restarted)
    time.sleep(0.5)
    assert celery._embedded == []  # and the supervisor started nothing after that


def test_group_members_are_the_processes_of_that_process_group_not_of_its_session():
    from incubator import celery

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], process_group=0)
    try:
        assert os.getsid(child.pid) == os.getsid(0)  # a group of its own in this session
        assert celery.group_members(child.pid) == [child.pid]
        assert child.pid not in celery.group_members(os.getpgid(0))
    finally:
        child.kill()
        child.wait()
    assert celery.group_members(child.pid) == []
