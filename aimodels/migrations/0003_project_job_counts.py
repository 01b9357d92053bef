"""ProjectJobCounts: each project's training jobs counted by status, filled here from the jobs there are."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import Count, Q

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
TIMED = Q(status="succeeded", started_at__isnull=False, finished_at__isnull=False)


def count_existing_jobs(apps, schema_editor):
    jobs = apps.get_model("aimodels", "TrainingJob")
    counts = apps.get_model("aimodels", "ProjectJobCounts")
    rows = (
        jobs.objects.order_by()
        .values("project_id")
        .annotate(
            **{status: Count("pk", filter=Q(status=status)) for status in STATUSES}, timed=Count("pk", filter=TIMED)
        )
    )
    counts.objects.bulk_create((counts(**row) for row in rows.iterator()), batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("aimodels", "0002_analytics_indexes"),
        ("projects", "0004_project_extra"),
    ]

    operations = [
        migrations.CreateModel(
            name="ProjectJobCounts",
            fields=[
                (
                    "project",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="job_counts",
                        serialize=False,
                        to="projects.project",
                        verbose_name="project",
                    ),
                ),
                ("queued", models.PositiveIntegerField(default=0, verbose_name="queued")),
                ("running", models.PositiveIntegerField(default=0, verbose_name="running")),
                ("succeeded", models.PositiveIntegerField(default=0, verbose_name="succeeded")),
                ("failed", models.PositiveIntegerField(default=0, verbose_name="failed")),
                ("cancelled", models.PositiveIntegerField(default=0, verbose_name="cancelled")),
                ("timed", models.PositiveIntegerField(default=0, verbose_name="timed")),
            ],
            options={
                "verbose_name": "job counts of a project",
                "verbose_name_plural": "job counts of projects",
            },
        ),
        migrations.RunPython(count_existing_jobs, migrations.RunPython.noop, elidable=True),
    ]
