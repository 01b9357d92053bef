from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DatasetsConfig(AppConfig):
    name = "datasets"
    verbose_name = _("Datasets")

    def ready(self) -> None:
        from incubator.events.topics import topic_kind_register

        from .selectors import dataset_topic_readable

        topic_kind_register("dataset", dataset_topic_readable)  # who may read `dataset:{id}` on the live stream

        from schema_registry.declarations import Documents, subject_declare

        subject_declare(
            "dataset.metadata",
            description="A dataset's descriptive metadata (the `metadata` object of the dataset API).",
            documents=Documents("datasets.Dataset", "metadata"),
        )

        import os

        from django.conf import settings

        from . import signals  # noqa: F401  (connects the receivers)

        # Where uploads are spooled (datasets.uploads): a missing directory would fail every upload.
        if settings.FILE_UPLOAD_TEMP_DIR:
            os.makedirs(settings.FILE_UPLOAD_TEMP_DIR, exist_ok=True)
