"""Why a version's CSV copy cannot be made (DatasetVersion.csv_error). With a database default, so the previous
release, which does not know the column, still inserts versions during a deploy and after a rollback."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0005_file_deletions"),
    ]

    operations = [
        migrations.AddField(
            model_name="datasetversion",
            name="csv_error",
            field=models.CharField(
                blank=True, db_default="", default="", max_length=2000, verbose_name="CSV export error"
            ),
        ),
    ]
