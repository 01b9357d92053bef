"""Moves stored documents between schema versions from the command line, for the deployment pipeline.

manage.py migrate_documents --pending                       # run every pending migration, resume interrupted ones
manage.py migrate_documents project.extra --from 1 --to 2 --dry-run
manage.py migrate_documents project.extra --from 1 --to 2 --plan plan.json --abort-threshold 1
"""

import json
import sys
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from incubator.errors import ApiError, flatten_errors
from schema_registry import selectors, services
from schema_registry.models import DocumentMigration

Status = DocumentMigration.Status


class Command(BaseCommand):
    help = "Migrate stored JSON documents of a schema subject from one version to another (or run pending ones)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject", nargs="?", help="e.g. project.extra")
        parser.add_argument("--from", dest="from_number", type=int, help="the version the documents are under")
        parser.add_argument("--to", dest="to_number", type=int, help="the version to move them to")
        parser.add_argument("--plan", help="a JSON file with the list of operations ('-' for stdin); default: proposed")
        parser.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
        parser.add_argument("--abort-threshold", type=float, default=0.0, help="percent of failures that aborts")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument(
            "--pending",
            action="store_true",
            help="run every pending migration and resume those whose worker stopped (the deploy stage's step)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        # A bar redrawn with \r is for a terminal: a deploy log gets the summary lines only.
        self.show_progress = not options["no_progress"] and self.stdout.isatty()
        try:
            if options["pending"]:
                if options["subject"]:
                    raise CommandError("--pending takes no subject")
                self._pending()
                return
            if not options["subject"] or options["from_number"] is None or options["to_number"] is None:
                raise CommandError("name a subject with --from and --to, or use --pending")
            self._one(options)
        except ApiError as exc:
            raise CommandError(self._explain(exc)) from exc

    def _explain(self, exc: ApiError) -> str:
        lines = [f"{exc.error_code}: {exc.detail}"]
        errors = getattr(exc, "errors", None) or exc.details.get("errors") or {}
        for field, messages in flatten_errors(errors).items():
            lines += [f"  {field}: {message}" for message in messages]
        for problem in exc.details.get("incompatibilities", []):
            lines.append(f"  {problem['path']}: {problem['message']}")
        return "\n".join(lines)

    def _plan(self, source: str | None) -> Any:
        if source is None:
            return None
        try:
            text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()  # noqa: SIM115
            return json.loads(text)
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot read the plan: {exc}") from exc

    def _one(self, options: dict[str, Any]) -> None:
        subject = selectors.subject_get_for_input(name=options["subject"])
        plan = self._plan(options["plan"])
        if options["dry_run"]:
            report = services.migration_dry_run(
                subject=subject, from_number=options["from_number"], to_number=options["to_number"], plan=plan
            )
            self.stdout.write(json.dumps(report, ensure_ascii=False, indent=2, default=str))
            return
        migration = services.migration_create(
            subject=subject,
            from_number=options["from_number"],
            to_number=options["to_number"],
            plan=plan,
            actor=None,
            abort_threshold=options["abort_threshold"],
            batch_size=options["batch_size"],
            defer=True,
        )
        self._run(migration)

    def _pending(self) -> None:
        stale = timezone.now() - timedelta(seconds=settings.SCHEMA_MIGRATION_STALE_SECONDS)
        todo = list(DocumentMigration.objects.filter(status=Status.PENDING).order_by("id")) + list(
            DocumentMigration.objects.filter(
                status__in=[Status.RUNNING, Status.ROLLING_BACK], heartbeat_at__lte=stale
            ).order_by("id")
        )
        if not todo:
            self.stdout.write("No pending document migrations.")
            return
        failed = 0
        for migration in todo:
            failed += not self._run(migration)
        if failed:
            raise CommandError(f"{failed} of {len(todo)} document migrations did not succeed")

    def _run(self, migration: DocumentMigration) -> bool:
        label = f"#{migration.id} {migration.subject.name} v{migration.from_number} → v{migration.to_number}"
        self.stdout.write(f"Migrating {label}")
        if migration.status == Status.ROLLING_BACK:
            services.migration_rollback_run(migration_id=migration.id, progress=self._bar)
        else:
            services.migration_run(migration_id=migration.id, progress=self._bar)
        migration.refresh_from_db()
        if self.show_progress:
            self.stdout.write("")
        summary = (
            f"{label}: {migration.status}, {migration.changed} changed, {migration.failed} failed of {migration.total}"
        )
        if migration.status == Status.SUCCEEDED:
            self.stdout.write(self.style.SUCCESS(summary))
            return True
        detail = f" ({migration.error_code}: {migration.error_message})" if migration.error_code else ""
        self.stdout.write(self.style.ERROR(summary + detail))
        return False

    def _bar(self, migration: DocumentMigration) -> None:
        if not self.show_progress:
            return
        rolling = migration.status == Status.ROLLING_BACK
        done = migration.restored if rolling else migration.processed
        total = migration.changed if rolling else migration.total
        share = min(done / total, 1.0) if total else 1.0
        width = 30
        filled = int(share * width)
        label = "rolling back" if rolling else "migrating"
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {share:6.1%} {done}/{total} {label}", ending="")
        self.stdout.flush()
