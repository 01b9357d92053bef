"""The Celery app. With no broker configured, tasks go through files under var/celery/ to a worker process
that the server starts beside itself, so a newcomer needs nothing but Python and training never shares the
server's GIL."""

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from celery import Celery
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    before_task_publish,
    task_postrun,
    task_prerun,
    worker_init,
)

from .logging import json_handlers
from .metrics import worker as _metrics_worker  # noqa: F401 - connects the task metrics' signal handlers
from .request_id import REQUEST_ID_RE, current_request_id, new_request_id, reset_request_id, set_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")

app = Celery("incubator")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The result backend of the file broker checks its folder when it is first used, in any process.
app.on_after_configure.connect(lambda **kwargs: embedded_folders(), weak=False)
app.autodiscover_tasks()
app.autodiscover_tasks(["incubator"])  # the project package is not an installed app

logger = logging.getLogger(__name__)
_embedded_lock = threading.Lock()
_embedded: list[subprocess.Popen] = []
# Set by stop_embedded_worker (the server stopping): the supervisor starts nothing after it.
_embedded_stopped = threading.Event()
_supervisor: threading.Thread | None = None
# How often the supervisor looks at the embedded workers; after a restart it waits twice as long each time (a worker
# that dies as it starts is not restarted in a tight loop), up to SUPERVISE_MAX_SECONDS.
SUPERVISE_SECONDS = 5.0
SUPERVISE_MAX_SECONDS = 60.0


def embedded_worker_commands() -> list[list[str]]:
    """Two workers, as `make worker` runs them: short tasks (conversion, profiles, exports) with beat for the job
    sweeper, and training on its own, so a long job never holds up an upload's conversion. One pool process
    each (a cancelled job that ignores its stop flag can end its pool process: the worker starts another)."""
    from django.conf import settings

    common = [sys.executable, "-m", "celery", "-A", "incubator", "worker", "--pool", "prefork", "--concurrency", "1",
              "--without-heartbeat", "--without-mingle", "--without-gossip", "--loglevel", "WARNING"]  # fmt: skip
    beat = ["--beat", "--schedule", str(settings.CELERY_EMBEDDED_DIR / "celerybeat-schedule")]
    return [
        [*common, "-Q", "celery", "-n", f"embedded-{os.getpid()}@%h", *beat],
        [*common, "-Q", "training", "-n", f"embedded-training-{os.getpid()}@%h"],
    ]


@worker_init.connect(dispatch_uid="incubator.embedded_watch_parent")
def _watch_parent(**kwargs: object) -> None:
    """An embedded worker stops when the server process that started it is gone, however it went (a thread
    polls the parent pid: unlike PR_SET_PDEATHSIG, this does not depend on which thread started the worker)."""
    parent = os.environ.get("INCUBATOR_EMBEDDED_PARENT", "")
    if not parent.isdigit():
        return

    def watch() -> None:
        while os.getppid() == int(parent):
            time.sleep(1)
        logger.warning("celery: the server that started this worker is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="embedded-parent-watch", daemon=True).start()


def start_embedded_worker(*, restart: bool = False) -> bool:
    """Start the worker process beside this server (development only). Returns True if started.

    Called by incubator.asgi when the server starts serving, never on import. Eager tasks (the test suite's
    setting, or CELERY_TASK_ALWAYS_EAGER) leave nothing for a worker to do.
    """
    global _embedded
    from django.conf import settings

    if not settings.CELERY_EMBEDDED_WORKER or app.conf.task_always_eager:
        return False
    with _embedded_lock:
        if restart and _embedded_stopped.is_set():  # the supervisor, racing the server's stop
            return False
        if _embedded and all(process.poll() is None for process in _embedded):
            return False
        if not restart:
            _embedded_stopped.clear()
        _terminate(_embedded)
        embedded_folders()
        # The same folders as this process, whatever the child's environment makes of its own settings.
        env = {
            **os.environ,
            "CELERY_EMBEDDED_DIR": str(settings.CELERY_EMBEDDED_DIR),
            "INCUBATOR_EMBEDDED_PARENT": str(os.getpid()),
        }
        # Each in a process group of its own, so that a stop reaches what a worker started: its pool processes and its
        # beat, which outlive a worker killed outright and would otherwise run beside the next worker's beat.
        _embedded = [
            subprocess.Popen(command, env=env, start_new_session=True) for command in embedded_worker_commands()
        ]
        atexit.register(stop_embedded_worker)
    pids = ", ".join(str(process.pid) for process in _embedded)
    logger.info("celery: no CELERY_BROKER_URL, tasks run in worker processes beside the server (pids %s)", pids)
    return True


def supervise_embedded_worker() -> bool:
    """Starts the embedded workers again when one has ended (a crash, such as kombu's file transport reading a
    message file still being written; an out-of-memory kill; a kill by hand): otherwise `make run` serves on while
    every task waits until it is restarted. The workers that start send again what was left waiting
    (datasets.requeue_stale on worker_ready). Returns True if it started the supervisor thread."""
    global _supervisor
    if not _embedded or (_supervisor is not None and _supervisor.is_alive()):
        return False

    def watch() -> None:
        delay = SUPERVISE_SECONDS
        while not _embedded_stopped.wait(delay):
            ended = [process.returncode for process in list(_embedded) if process.poll() is not None]
            if not ended:
                delay = SUPERVISE_SECONDS
                continue
            logger.warning("celery: an embedded worker process ended (exit %s): starting the workers again", ended)
            start_embedded_worker(restart=True)
            delay = min(delay * 2, SUPERVISE_MAX_SECONDS)

    _supervisor = threading.Thread(target=watch, name="embedded-worker-supervisor", daemon=True)
    _supervisor.start()
    return True


def stop_embedded_worker(timeout: float = 10) -> None:
    """Stops the embedded workers for good (the server is stopping): the supervisor starts nothing after this."""
    global _embedded
    with _embedded_lock:
        _embedded_stopped.set()
        processes, _embedded = _embedded, []
    _terminate(processes, timeout)


def _terminate(processes: list[subprocess.Popen], timeout: float = 10) -> None:
    """Stops each worker and then what is left of its process group (a worker killed outright leaves its beat and
    pool processes running)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()  # a warm shutdown: the worker stops its own pool and beat
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for process in processes:
        _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_group_alive(process.pid) for process in processes) and time.monotonic() < deadline:
        time.sleep(0.05)
    for process in processes:
        _signal_group(process.pid, signal.SIGKILL)


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is empty


def _group_alive(group: int) -> bool:
    """Whether a process of the group runs (zombies waiting for init to reap them do not count)."""
    if not os.path.isdir("/proc"):
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return bool(group_members(group))


def group_members(group: int) -> list[int]:
    """The pids of the running processes (not zombies) of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        if fields[0] != "Z" and int(fields[2]) == group:
            members.append(int(entry))
    return members


def embedded_folders() -> None:
    """The folders of the file broker (kombu creates none of them)."""
    from django.conf import settings

    if settings.CELERY_EMBEDDED_WORKER:
        for name in ("queue", "control", "results"):
            os.makedirs(settings.CELERY_EMBEDDED_DIR / name, exist_ok=True)


@before_task_publish.connect(dispatch_uid="incubator.embedded_folders")
def _folders_before_publish(**kwargs: object) -> None:
    embedded_folders()


# --- request ids: from the request (or task) that sends a task to every log line of that task --------------

REQUEST_ID_HEADER = "request_id"
_request_id_tokens: dict[str, object] = {}


@before_task_publish.connect(dispatch_uid="incubator.request_id_publish")
def _request_id_into_message(headers: dict[str, object] | None = None, **kwargs: object) -> None:
    """A task sent while a request (or another task) is served carries its id in the message's headers."""
    current = current_request_id()
    if headers is not None and current != "-":
        headers.setdefault(REQUEST_ID_HEADER, current)


@task_prerun.connect(dispatch_uid="incubator.request_id_prerun")
def _request_id_for_task(task_id: str | None = None, task: object = None, **kwargs: object) -> None:
    """The task runs under the id its message carries; sent outside any request, under its own task id. Run
    inline (eager), it keeps the id of the request that runs it."""
    request = getattr(task, "request", None)
    # A worker's message headers are attributes of the request; apply(headers=...) keeps them in .headers.
    given = getattr(request, REQUEST_ID_HEADER, None) or (getattr(request, "headers", None) or {}).get(
        REQUEST_ID_HEADER
    )
    if not (isinstance(given, str) and REQUEST_ID_RE.fullmatch(given)):
        current = current_request_id()
        given = current if current != "-" else (task_id or new_request_id())
    if task_id:
        _request_id_tokens[task_id] = set_request_id(given)


@task_postrun.connect(dispatch_uid="incubator.request_id_postrun")
def _request_id_after_task(task_id: str | None = None, **kwargs: object) -> None:
    token = _request_id_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        reset_request_id(token)  # type: ignore[arg-type]


# The worker's log lines are JSON with the request id, like the web's (Celery replaces the root logger's handlers).
after_setup_logger.connect(json_handlers, dispatch_uid="incubator.json_logs", weak=False)
after_setup_task_logger.connect(json_handlers, dispatch_uid="incubator.json_task_logs", weak=False)
