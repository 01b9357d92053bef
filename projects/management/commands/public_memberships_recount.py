"""Count every user's public projects again into PublicMembershipCount (what the analytics overview reads for the
users a member may see). The services keep those counts as members and visibilities change; this repairs them
after rows were written some other way (a restore from a partial backup, SQL by hand, a bulk load)."""

from typing import Any

from django.core.management.base import BaseCommand

from projects import services


class Command(BaseCommand):
    help = "Count every user's public projects again (the counts the analytics overview reads)."

    def handle(self, *args: Any, **options: Any) -> None:
        users = services.public_memberships_rebuild()
        self.stdout.write(f"{users} users in public projects counted")
