"""Count every project's training jobs again into ProjectJobCounts (what the analytics overview sums). The
services keep those counts as jobs move; this repairs them after rows were written some other way (a restore
from a partial backup, SQL by hand, a bulk load)."""

from typing import Any

from django.core.management.base import BaseCommand

from aimodels import services


class Command(BaseCommand):
    help = "Count every project's training jobs again (the counts the analytics overview sums)."

    def handle(self, *args: Any, **options: Any) -> None:
        projects = services.job_counts_rebuild()
        self.stdout.write(f"{projects} projects with training jobs counted")
