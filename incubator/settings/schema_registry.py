"""The schema registry's document migrations."""

from .env import env_int

# Documents per batch: one transaction each, the unit a resumed run never repeats.
SCHEMA_MIGRATION_BATCH_SIZE = env_int("SCHEMA_MIGRATION_BATCH_SIZE", 1000)
# A running migration's worker beats once per batch; one silent this long is taken for lost and resumed by the
# sweeper (Celery beat) after its last whole batch.
SCHEMA_MIGRATION_STALE_SECONDS = env_int("SCHEMA_MIGRATION_STALE_SECONDS", 120)
