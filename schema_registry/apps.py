from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class SchemaRegistryConfig(AppConfig):
    name = "schema_registry"
    verbose_name = _("Schema registry")

    def ready(self) -> None:
        from incubator.events.topics import topic_kind_register

        from .selectors import migration_topic_readable

        topic_kind_register("schema_migration", migration_topic_readable)
        post_migrate.connect(_sync_subjects, sender=self, dispatch_uid="schema_registry.sync_subjects")


def _sync_subjects(using: str = "default", **kwargs: object) -> None:
    """After `migrate` (and a test database's flush), every declared subject exists with its first version."""
    from .services import subjects_sync

    subjects_sync()
