from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AimodelsConfig(AppConfig):
    name = "aimodels"
    verbose_name = _("AI models")

    def ready(self) -> None:
        from incubator.events.topics import topic_kind_register

        from .selectors import job_topic_readable

        topic_kind_register("job", job_topic_readable)  # who may read `job:{id}` on the live stream

        from schema_registry.declarations import subjects_provider_register

        from . import signals  # noqa: F401  (connects the receivers)

        subjects_provider_register(_algorithm_subjects)


def _algorithm_subjects() -> list:
    """Each algorithm's hyperparameter schema, as a subject whose versions its plugin's code owns."""
    from schema_registry.declarations import Declaration

    from .algorithms.base import registry

    return [
        Declaration(
            name=f"algorithm.{name}.hyperparameters",
            description=f"Hyperparameters of the {name} algorithm (registered from its plugin).",
            schema=algorithm.schema,
            compatibility="NONE",
            managed=True,
        )
        for name, algorithm in registry().items()
    ]
