from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AimodelsConfig(AppConfig):
    name = "aimodels"
    verbose_name = _("AI models")

    def ready(self) -> None:
        from incubator.events.topics import topic_kind_register

        from .selectors import job_topic_readable

        topic_kind_register("job", job_topic_readable)  # who may read `job:{id}` on the live stream

        from . import signals  # noqa: F401  (connects the receivers)
