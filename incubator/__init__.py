"""The Incubator project package: settings, URLs, ASGI/WSGI entry points and shared plumbing."""

import atexit
import hashlib
import os
import shutil
import tempfile
from pathlib import Path


def _metrics_multiprocess_dir() -> None:
    """Where this machine's processes (web workers, Celery pool processes) keep their metrics, for /metrics to
    sum (incubator.metrics). prometheus_client reads PROMETHEUS_MULTIPROC_DIR once, when it is first imported,
    so it is settled here, before anything can import it. Set and empty: one process's metrics only.
    Unset: var/metrics/<key>, one folder per database and media root (as the embedded broker's folder), so
    the live-server tests' servers and `make run` never add up each other's counters; under pytest, a
    temporary folder of the test run that the servers and workers it starts inherit."""
    testing = bool(os.environ.get("PYTEST_VERSION"))  # set by pytest (>= 8.2) in the test run's process
    xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if testing and os.environ.get("INCUBATOR_METRICS_XDIST_WORKER", "") != xdist_worker:
        # A pytest-xdist worker inherited its controller's folder: each worker counts in a folder of its own.
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        if not os.environ["PROMETHEUS_MULTIPROC_DIR"]:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
            return
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    elif testing:
        path = tempfile.mkdtemp(prefix="incubator-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ["INCUBATOR_METRICS_XDIST_WORKER"] = xdist_worker
    else:
        key = f"{os.environ.get('DATABASE_URL') or None}|{os.environ.get('MEDIA_ROOT') or None}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:12]
        path = str(Path(__file__).resolve().parent.parent / "var" / "metrics" / digest)
    os.makedirs(path, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path


_metrics_multiprocess_dir()

from .celery import app as celery_app  # noqa: E402

__all__ = ("celery_app",)
