"""A model version's artifact goes when its row goes (a service, a project's cascade, the admin), after commit."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from datasets import storage

from .models import ModelVersion


@receiver(post_delete, sender=ModelVersion, dispatch_uid="aimodels.artifact_delete")
def artifact_delete(sender: Any, instance: ModelVersion, **kwargs: Any) -> None:
    if name := instance.artifact:
        transaction.on_commit(lambda: storage.delete_quietly(name))
