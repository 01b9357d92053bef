from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AimodelsConfig(AppConfig):
    name = "aimodels"
    verbose_name = _("AI models")

    def ready(self) -> None:
        from . import signals  # noqa: F401  (connects the receivers)
