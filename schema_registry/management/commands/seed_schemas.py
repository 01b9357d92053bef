"""Sandbox data of the schema registry (idempotent): some sample projects carry version-1 `extra` documents,
and `project.extra` has a version 2 they can be migrated to (POST /schema-migrations, `dry_run: true`)."""

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from projects import services as project_services
from projects.models import Project
from schema_registry import services
from schema_registry.sandbox import EXTRA_V1_DOCUMENT, EXTRA_V2
from schema_registry.selectors import subject_get


class Command(BaseCommand):
    help = "Register version 2 of project.extra and give sample projects version-1 documents (idempotent)."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        extra = subject_get(name="project.extra")
        if extra.versions.count() > 1:
            return
        admin = User.objects.filter(is_staff=True).order_by("pk").first()
        for project in Project.objects.filter(name__startswith="[示例]").order_by("pk")[::4]:
            project_services.project_update(project=project, actor=project.owner, data={"extra": EXTRA_V1_DOCUMENT})
        # A typed property added to an open object is incompatible under BACKWARD (an old document may hold
        # another type there): the documents are migrated instead, so this step is made under NONE.
        mode = extra.compatibility
        extra = services.subject_update(subject=extra, actor=admin, data={"compatibility": "NONE"})  # type: ignore[arg-type]
        services.schema_version_register(subject=extra, schema=EXTRA_V2, actor=admin)
        services.subject_update(subject=extra, actor=admin, data={"compatibility": mode})  # type: ignore[arg-type]
        self.stdout.write("Schema registry: project.extra v2 registered; sample projects hold v1 documents.")
