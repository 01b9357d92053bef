"""PostgreSQL search indexes: trigram (substring, Chinese, typos) and full-text on Project.search_text.

On SQLite nothing is created: search falls back to a plain substring match there.
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

INDEXES = [
    "CREATE INDEX IF NOT EXISTS project_search_trgm ON projects_project USING gin (search_text gin_trgm_ops)",
    "CREATE INDEX IF NOT EXISTS project_search_fts ON projects_project "
    "USING gin (to_tsvector('simple'::regconfig, COALESCE(search_text, '')))",
    "CREATE INDEX IF NOT EXISTS tag_name_upper ON projects_tag (UPPER(name::text))",
]
DROPS = ["DROP INDEX IF EXISTS project_search_trgm", "DROP INDEX IF EXISTS project_search_fts",
         "DROP INDEX IF EXISTS tag_name_upper"]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [
        TrigramExtension(),
        migrations.RunPython(_run(INDEXES), _run(DROPS)),
    ]
