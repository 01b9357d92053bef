"""A model version's artifact goes when its row goes (a service, a project's cascade, the admin), after commit;
a project's deletion locks its jobs before its cascade deletes their counts."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, pre_delete
from django.dispatch import receiver

from datasets import storage
from projects.models import Project

from .models import ModelVersion, TrainingJob


@receiver(post_delete, sender=ModelVersion, dispatch_uid="aimodels.artifact_delete")
def artifact_delete(sender: Any, instance: ModelVersion, **kwargs: Any) -> None:
    if name := instance.artifact:
        transaction.on_commit(lambda: storage.delete_quietly(name))


@receiver(pre_delete, sender=Project, dispatch_uid="aimodels.project_jobs_lock")
def project_jobs_lock(sender: Any, instance: Project, **kwargs: Any) -> None:
    """Locks the project's jobs, in order, before the cascade deletes the project's job counts (Django deletes
    such simple rows first): a status move holds its job's row when it reaches the counts, so taking the counts
    first deadlocks against it (aimodels.services._job_counts_move)."""
    list(TrainingJob.objects.select_for_update().filter(project_id=instance.pk).order_by("pk").values_list("pk"))
