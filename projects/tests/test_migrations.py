"""Data migrations of projects, run for real: back to the state before, rows written there, then forward."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("projects", "0004_project_extra")
COUNTS = ("projects", "0005_public_membership_count")


def test_the_count_migration_counts_the_public_memberships_there_are():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([BEFORE])
    try:
        apps = executor.loader.project_state([BEFORE]).apps
        project_model, membership_model = (
            apps.get_model("projects", "Project"),
            apps.get_model("projects", "Membership"),
        )
        alice, bob, carol = (UserFactory() for _ in range(3))  # accounts stays migrated: today's model
        public = [
            project_model.objects.create(name=f"公开{n}", owner_id=alice.pk, visibility="public") for n in range(2)
        ]
        private = project_model.objects.create(name="私有", owner_id=bob.pk, visibility="private")
        for project, user, role in (
            (public[0], alice, "owner"),
            (public[1], alice, "owner"),
            (public[0], bob, "member"),
            (private, bob, "owner"),
            (private, carol, "member"),
        ):
            membership_model.objects.create(project=project, user_id=user.pk, role=role)

        executor = MigrationExecutor(connection)
        executor.migrate([COUNTS])
        counts = executor.loader.project_state([COUNTS]).apps.get_model("projects", "PublicMembershipCount")
        assert dict(counts.objects.values_list("user_id", "count")) == {alice.pk: 2, bob.pk: 1}
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
