"""Celery: a real broker when CELERY_BROKER_URL is set; otherwise a broker in files under var/ and a worker
process that the server starts beside itself (incubator.celery.start_embedded_worker)."""

import hashlib
from pathlib import Path

from .base import BASE_DIR
from .env import env_bool, env_int, env_str

# Without a broker, tasks go through files (kombu's filesystem transport: no server to run) to a worker
# process of their own, so training never competes with HTTP for this process's GIL (bench/training.py). One
# folder per database and media root: the live-server tests' servers and `make run` never share tasks.
CELERY_EMBEDDED_WORKER = not env_str("CELERY_BROKER_URL")
_embedded_key = hashlib.sha256(f"{env_str('DATABASE_URL')}|{env_str('MEDIA_ROOT')}".encode()).hexdigest()[:12]
CELERY_EMBEDDED_DIR = Path(env_str("CELERY_EMBEDDED_DIR") or BASE_DIR / "var" / "celery" / _embedded_key)
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://localhost/"
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or (
    f"file://{CELERY_EMBEDDED_DIR / 'results'}" if CELERY_EMBEDDED_WORKER else env_str("REDIS_URL") or "cache+memory://"
)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
CELERY_RESULT_EXPIRES = 3600

# Training has its own queue, so long jobs never delay short tasks (profiles, exports); `make worker` runs a
# worker for each. The job's own time limit is set per task when it is sent.
CELERY_TASK_ROUTES = {"aimodels.job_run": {"queue": "training"}}
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Redis redelivers an unacknowledged task after this long: longer than the longest job may run, or a running
# job would be delivered a second time.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": env_int("AIMODELS_MAX_TIME_LIMIT", 6 * 3600) + 3600
}
if CELERY_EMBEDDED_WORKER:
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(CELERY_EMBEDDED_DIR / "queue"),
        data_folder_out=str(CELERY_EMBEDDED_DIR / "queue"),
        control_folder=str(CELERY_EMBEDDED_DIR / "control"),
        polling_interval=0.2,  # a listing of a small folder: a task starts within 0.2 s rather than 1 s
    )
# Celery beat (`make beat`, or embedded in `make worker` and in the embedded worker) runs the sweepers.
CELERY_BEAT_SCHEDULE = {
    "aimodels-jobs-sweep": {"task": "aimodels.jobs_sweep", "schedule": 30.0},
    "events-prune": {"task": "incubator.events_prune", "schedule": 3600.0},
    "schema-migrations-sweep": {"task": "schema_registry.migrations_sweep", "schedule": 60.0},
    # Versions left waiting: a conversion the broker was down to receive, or a worker lost past redelivery.
    "datasets-requeue-stale": {"task": "datasets.requeue_stale", "schedule": 600.0},
    # Files whose delete failed (the bucket unreachable): tried again until they go.
    "datasets-file-deletions-retry": {"task": "datasets.file_deletions_retry", "schedule": 300.0},
    # Presigned uploads never completed: their parts are stored, and billed, until aborted.
    "datasets-uploads-expire": {"task": "datasets.uploads_expire", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(BASE_DIR / "var" / "celerybeat-schedule")
