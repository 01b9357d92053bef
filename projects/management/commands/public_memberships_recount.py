"""Count every user's public projects again into PublicMembershipCount (what the analytics overview reads for the
users a member may see). The services keep those counts as members and visibilities change; this repairs them
after rows were written some other way (a restore from a partial backup, SQL by hand, a bulk load, the old code of
a release between its migration and its switch)."""

from typing import Any

from django.core.management.base import BaseCommand

from projects import services


class Command(BaseCommand):
    help = "Count every user's public projects again (the counts the analytics overview reads)."

    def handle(self, *args: Any, **options: Any) -> None:
        wrong = services.public_memberships_rebuild()
        self.stdout.write(f"{wrong} users counted again (their counts differed from their memberships)")
