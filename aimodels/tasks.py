"""Celery entry points of aimodels: thin wrappers over the services. Training runs on the `training` queue
(settings.CELERY_TASK_ROUTES) with the job's own time limits, set when the task is sent."""

from datetime import timedelta
from typing import Any

from celery import Task, shared_task
from celery.signals import celeryd_after_setup, worker_process_init, worker_ready
from django.conf import settings
from django.utils import timezone

from . import services


# No result: the job's row is its state. A result would also make every send subscribe to the result backend
# first, which with Redis down retried for 20 s before the request could answer.
@shared_task(bind=True, name="aimodels.job_run", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def job_run(self: Task, job_id: int) -> None:
    services.job_run(job_id=job_id, task_id=self.request.id or "", hostname=self.request.hostname or "local")


@shared_task(name="aimodels.jobs_sweep", soft_time_limit=60, time_limit=90)
def jobs_sweep(requeue_lost: bool = False) -> dict[str, int]:
    # The embedded worker is the only one: when it starts, every job still running was lost with its previous
    # process, and a task still in the file broker may be from before; every sent job is sent again (the old
    # task then finds another task id on its job and does nothing).
    before = timezone.now() if requeue_lost else None
    stale = timedelta(seconds=0 if requeue_lost else settings.AIMODELS_STALE_SECONDS)
    return services.jobs_sweep(stale_after=stale, requeue_queued_before=before)


@celeryd_after_setup.connect(dispatch_uid="aimodels.engine_in_training_workers")
def engine_in_training_workers(sender: str, instance: Any, **kwargs: Any) -> None:
    """A worker that consumes the training queue loads the training engine before its pool starts. Prefork
    children then share it (copy on write), and a job does not spend its first seconds importing scikit-learn,
    deaf to a cancel. The web processes and the default queue's workers (datasets, exports) never load it."""
    training_queue = settings.CELERY_TASK_ROUTES["aimodels.job_run"]["queue"]
    if training_queue in (instance.app.amqp.queues.consume_from or {}):
        services.engine_load()


@worker_process_init.connect(dispatch_uid="aimodels.force_stop_in_pool_children")
def force_stop_in_pool_children(**kwargs: Any) -> None:
    """A prefork pool child may end itself to stop a cancelled job that ignores its stop flag."""
    services.FORCE_STOP["enabled"] = True


@worker_ready.connect(dispatch_uid="aimodels.sweep_on_worker_ready")
def sweep_on_worker_ready(**kwargs: Any) -> None:
    jobs_sweep.delay(requeue_lost=bool(settings.CELERY_EMBEDDED_WORKER))
