"""Messages a worker stores are kept in every language (DatasetVersion.translations), so each reader gets theirs.
And a failed version's profile is failed too: it was left `pending`, which a client waiting on it took for work to
come. Reversible: going back drops the translations and leaves those profiles failed, which the old code reads."""

from django.conf import settings
from django.db import migrations, models
from django.utils import translation

NO_PROFILE = "The version failed, so it has no profile."


def profiles_of_failed_versions(apps, schema_editor):
    DatasetVersion = apps.get_model("datasets", "DatasetVersion")
    texts = {}
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            texts[code] = translation.gettext(NO_PROFILE)
    for version in DatasetVersion.objects.filter(status="failed").exclude(profile_status="failed").iterator():
        version.profile_status = "failed"
        version.profile_error = NO_PROFILE
        version.translations = {**version.translations, "profile_error": texts}
        version.save(update_fields=["profile_status", "profile_error", "translations"])


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0003_version_language"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetversion",
            name="translations",
            field=models.JSONField(blank=True, default=dict, verbose_name="translations"),
        ),
        migrations.RunPython(profiles_of_failed_versions, migrations.RunPython.noop, elidable=True),
    ]
