"""PublicMembershipCount: how many public projects each user is a member of, filled here from the memberships
there are."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Count


def count_existing_memberships(apps, schema_editor):
    memberships = apps.get_model("projects", "Membership")
    counts = apps.get_model("projects", "PublicMembershipCount")
    rows = (
        memberships.objects.filter(project__visibility="public")
        .order_by()
        .values("user_id")
        .annotate(count=Count("pk"))
    )
    counts.objects.bulk_create((counts(**row) for row in rows.iterator()), batch_size=2000)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_revoked_session"),
        ("projects", "0004_project_extra"),
    ]

    operations = [
        migrations.CreateModel(
            name="PublicMembershipCount",
            fields=[
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="public_membership_count",
                        serialize=False,
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="user",
                    ),
                ),
                ("count", models.PositiveIntegerField(default=0, verbose_name="public projects")),
            ],
            options={
                "verbose_name": "public memberships of a user",
                "verbose_name_plural": "public memberships of users",
            },
        ),
        migrations.RunPython(count_existing_memberships, migrations.RunPython.noop, elidable=True),
    ]
