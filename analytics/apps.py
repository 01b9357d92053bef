from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

# How often Celery beat runs the exports sweeper (expired files, exports whose task or worker was lost).
EXPORTS_SWEEP_SECONDS = 60.0


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from django.contrib import admin

        from incubator.celery import app

        # The admin index links to the dashboard (templates/admin/analytics/index.html extends the stock index):
        # django.contrib.admin comes first in INSTALLED_APPS, so overriding admin/index.html by name cannot work.
        admin.site.index_template = "admin/analytics/index.html"
        # Beside the other apps' sweepers in settings.CELERY_BEAT_SCHEDULE (the same dict Celery reads).
        app.conf.beat_schedule.setdefault(
            "analytics-exports-sweep", {"task": "analytics.exports_sweep", "schedule": EXPORTS_SWEEP_SECONDS}
        )
