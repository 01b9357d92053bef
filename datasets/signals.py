"""A version's files go when its row goes, however it goes: through a service, a project's cascade or the
admin. After commit only, so a rolled-back delete keeps its files."""

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver

from . import storage
from .models import DatasetVersion


@receiver(post_delete, sender=DatasetVersion, dispatch_uid="datasets.version_files_delete")
def version_files_delete(sender: Any, instance: DatasetVersion, **kwargs: Any) -> None:
    names = tuple(name for name in (instance.original, instance.parquet, instance.csv) if name)
    if names:
        transaction.on_commit(lambda: storage.delete_quietly(*names))
