"""A failed version's profile is failed too (it was left `pending`, which a client waiting on it took for work to
come). Reversible: going back leaves them as they are now, which the old code reads as well."""

from django.db import migrations


def profiles_of_failed_versions(apps, schema_editor):
    DatasetVersion = apps.get_model("datasets", "DatasetVersion")
    DatasetVersion.objects.filter(status="failed").exclude(profile_status="failed").update(
        profile_status="failed", profile_error="The version failed, so it has no profile."
    )


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0003_version_language"),
    ]

    operations = [
        migrations.RunPython(profiles_of_failed_versions, migrations.RunPython.noop, elidable=True),
    ]
