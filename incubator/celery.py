"""The Celery app. With no broker configured, an in-memory broker and a worker thread inside the server
process run tasks asynchronously, so a newcomer needs nothing but Python."""

import logging
import os
import threading

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")

app = Celery("incubator")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.autodiscover_tasks(["incubator"])  # the project package is not an installed app

logger = logging.getLogger(__name__)
_embedded_lock = threading.Lock()
_embedded_started = False


def start_embedded_worker() -> bool:
    """Start one in-process worker thread on the memory broker (development only). Returns True if started.

    Called by incubator.asgi when the server starts serving, never on import; it is synchronous (Celery's
    Django fixup closes database connections while the worker is built), so an event loop runs it in a thread.
    Eager tasks (the test suite's setting, or CELERY_TASK_ALWAYS_EAGER) leave nothing for a worker to do.
    """
    global _embedded_started
    from django.conf import settings

    if not settings.CELERY_EMBEDDED_WORKER or app.conf.task_always_eager:
        return False
    with _embedded_lock:
        if _embedded_started:
            return False
        worker = app.WorkController(
            pool_cls="solo",
            concurrency=1,
            loglevel="WARNING",
            without_heartbeat=True,
            without_mingle=True,
            without_gossip=True,
            hostname="embedded@incubator",
            queues=["celery", "training"],
        )
        threading.Thread(target=worker.start, name="celery-embedded", daemon=True).start()
        _embedded_started = True
    logger.info("celery: no CELERY_BROKER_URL, tasks run in an in-process worker thread")
    return True
