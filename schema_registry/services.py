"""Every write of the schema registry: subjects and their versions (checked against the meta-schema and the
subject's compatibility mode), validation of the documents the apps store, and document migrations: a dry run
that writes nothing, a run in batches that keeps each document's old value, can be resumed after a crash and
stops itself past its abort threshold, and a rollback that restores what was there."""

import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import unquote

import jsonschema_rs
import orjson
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator

from accounts.models import User
from incubator.errors import InvalidInput
from incubator.events.services import event_record
from incubator.generations import generation_bump, generation_get
from incubator.schemas import (
    MAX_JSON_DEPTH,
    error_problems,
    json_value_problem,
    no_retrieve,
    path_order,
    regex_problem,
    safe_validator,
)
from incubator.validation import model_clean

from . import compat
from .declarations import Declaration, Documents, declaration_get, declared
from .errors import (
    MigrationActive,
    MigrationNotPending,
    MigrationNotRollbackable,
    PlanInvalid,
    SchemaIncompatible,
    SchemaInvalid,
    SchemaVersionInUse,
    SchemaVersionLast,
    SubjectHasNoDocuments,
    SubjectManaged,
)
from .models import Compatibility, DocumentBackup, DocumentMigration, MigrationLogEntry, SchemaVersion, Subject
from .plan import CompiledPlan, OperationError, PlanError, document_diff, plan_compile, plan_propose
from .selectors import DRAFT, REGISTRY_GENERATION, documents_count

logger = logging.getLogger(__name__)

MAX_SCHEMA_BYTES = 256 * 1024
DRY_RUN_SAMPLES = 5
DRY_RUN_MAX_FAILURES = 1000
ABORTED_BY_THRESHOLD = "ABORT_THRESHOLD"
Status = DocumentMigration.Status


# --- schemas ------------------------------------------------------------------------------------------------


def schema_fingerprint(schema: Any) -> str:
    canonical = json.dumps(schema, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_META = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _dotted(prefix: str, path: tuple[Any, ...] | list[Any]) -> str:
    return ".".join([prefix, *(str(part) for part in path)]) if prefix else ".".join(str(part) for part in path)


def _keywords(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], str, Any]]:
    """Every (path, key, value) of the schema's objects, data (default, enum...) included: a check on keywords
    that looks everywhere cannot be sidestepped by naming a property "default"."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from _keywords(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _keywords(value, (*path, index))


def _reference_problems(schema: dict[str, Any], field: str) -> dict[str, list[str]]:
    """References stay inside the schema (nothing is ever fetched), `$id` and `$schema` only at the root (an inner
    `$id` would move what "#/..." means), and every pattern is one the regular-expression engine takes."""
    errors: dict[str, list[str]] = {}
    pattern_properties = unevaluated = False
    for path, key, value in _keywords(schema):
        where = _dotted(field, (*path, key))
        if key in ("$ref", "$dynamicRef") and isinstance(value, str):
            if not value.startswith("#"):
                errors[where] = [_("Only references inside the schema (starting with #) are allowed.")]
            elif not _resolvable(schema, value):
                errors[where] = [_("This reference points at nothing in the schema.")]
        elif key in ("$id", "$schema") and path:
            errors[where] = [_("Only the schema's root may have %(keyword)s.") % {"keyword": key}]
        elif key == "pattern" and isinstance(value, str):
            if reason := regex_problem(value):
                errors[where] = [_("This regular expression cannot be used: %(reason)s") % {"reason": reason}]
        elif key == "patternProperties" and isinstance(value, dict):
            pattern_properties = True
            for pattern in value:
                if reason := regex_problem(pattern):
                    errors[_dotted(where, (pattern,))] = [
                        _("This regular expression cannot be used: %(reason)s") % {"reason": reason}
                    ]
        elif key == "unevaluatedProperties":
            unevaluated = True
    if pattern_properties and unevaluated:
        errors[field] = [_("unevaluatedProperties cannot be combined with patternProperties here.")]
    return errors


def schema_check(schema: Any, *, field: str = "schema") -> None:
    """A JSON Schema the registry can hold: an object, valid against Draft 2020-12's meta-schema, at most
    256 KB, with only local references that resolve (a remote $ref would make the server fetch a URL)."""
    problem = _("A schema is a JSON object.") if not isinstance(schema, dict) else json_value_problem(schema)
    if problem is not None:
        raise SchemaInvalid(details={"field": field, "message": problem, "errors": {field: [problem]}})
    if len(json.dumps(schema, ensure_ascii=False)) > MAX_SCHEMA_BYTES:
        message = _("A schema has at most %(n)d KB.") % {"n": MAX_SCHEMA_BYTES // 1024}
        raise SchemaInvalid(details={"field": field, "message": message, "errors": {field: [message]}})
    errors: dict[str, list[str]] = {}
    declared = schema.get("$schema")
    if declared is not None and (not isinstance(declared, str) or declared.rstrip("#") != DRAFT):
        errors[f"{field}.$schema"] = [_("Only Draft 2020-12 (%(draft)s) is supported.") % {"draft": DRAFT}]
    try:
        problems = sorted(_META.iter_errors(schema), key=lambda error: path_order(tuple(error.absolute_path)))
    except RecursionError:
        problems = []
        errors[field] = [_("The schema is nested too deeply.")]
    for problem in problems:
        errors.setdefault(_dotted(field, tuple(problem.absolute_path)), []).append(problem.message)
    if not errors:
        errors = _reference_problems(schema, field)
    if errors:
        first, messages = next(iter(errors.items()))
        raise SchemaInvalid(details={"field": first, "message": messages[0], "errors": errors})


def _resolvable(schema: dict[str, Any], ref: str) -> bool:
    fragment = ref[1:]
    if fragment and not fragment.startswith("/"):
        return _anchor_exists(schema, fragment)
    node: Any = schema
    for raw in fragment.split("/")[1:] if fragment else []:
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _anchor_exists(node: Any, anchor: str) -> bool:
    if isinstance(node, dict):
        if node.get("$anchor") == anchor or node.get("$dynamicAnchor") == anchor:
            return True
        return any(_anchor_exists(value, anchor) for value in node.values())
    if isinstance(node, list):
        return any(_anchor_exists(value, anchor) for value in node)
    return False


class DocumentChecker:
    """Checks documents against one schema. jsonschema is the reference: its errors, translated, are what people
    read. jsonschema_rs (Rust, some 200x faster) answers first: a document it finds valid is valid, with no
    Python validation at all, which is most of a migration's time otherwise (bench/schema_migrations.py); one
    it refuses goes through jsonschema for the messages (and is valid if jsonschema finds nothing)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.validator = safe_validator(schema)
        try:
            fast = jsonschema_rs.validator_for(schema, validate_formats=True, retriever=no_retrieve)
            self.fast: Callable[[Any], bool] | None = fast.is_valid
        except Exception:  # noqa: BLE001 - a schema the Rust validator does not take: jsonschema alone
            self.fast = None

    def problems(self, document: Any) -> list[tuple[tuple[Any, ...], str]]:
        """Every (path, translated message) of the document against the schema, in document order."""
        if self.fast is not None:
            try:
                if self.fast(document):
                    return []
            except Exception:  # noqa: BLE001 - a value it cannot convert: jsonschema decides
                pass
        problems: list[tuple[tuple[Any, ...], str]] = []
        try:
            for error in self.validator.iter_errors(document):
                problems.extend(error_problems(error))
        except Exception:  # noqa: BLE001 - a schema registered before a check existed: refuse, never a 500
            logger.exception("a document could not be checked against its schema")
            return [((), _("The document cannot be checked against the current schema."))]
        return sorted(problems, key=lambda problem: path_order(problem[0]))


_checkers: dict[str, DocumentChecker] = {}


def document_checker(schema: dict[str, Any], fingerprint: str | None = None) -> DocumentChecker:
    """The checker of a schema, kept per process by fingerprint (a version's is stored: no hashing per write)."""
    fingerprint = fingerprint or schema_fingerprint(schema)
    checker = _checkers.get(fingerprint)
    if checker is None:
        if len(_checkers) >= 256:
            _checkers.clear()
        checker = _checkers[fingerprint] = DocumentChecker(schema)
    return checker


# --- subjects -----------------------------------------------------------------------------------------------


def _registry_changed() -> None:
    generation_bump(REGISTRY_GENERATION)


def _version_create(*, subject: Subject, schema: dict[str, Any], actor: User | None) -> SchemaVersion:
    number = (subject.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    version = SchemaVersion.objects.create(
        subject=subject, number=number, schema=schema, fingerprint=schema_fingerprint(schema), created_by=actor
    )
    subject.current_number = number
    subject.save(update_fields=["current_number", "updated_at"])
    return version


def _subject_sync(declaration: Declaration) -> bool:
    with transaction.atomic():
        subject, created = Subject.objects.select_for_update().get_or_create(
            name=declaration.name,
            defaults={
                "description": declaration.description,
                "compatibility": declaration.compatibility,
                "managed": declaration.managed,
            },
        )
        if subject.current_number == 0:
            _version_create(subject=subject, schema=declaration.schema, actor=None)
            return True
        if declaration.managed:
            current = subject.versions.filter(number=subject.current_number).first()
            if current is None or current.fingerprint != schema_fingerprint(declaration.schema):
                _version_create(subject=subject, schema=declaration.schema, actor=None)
                return True
        return created


def subjects_sync() -> None:
    """Every declared subject exists with at least its first version; a managed subject's current version is
    the schema its code declares (a changed plugin schema becomes a new version). Run after `migrate`."""
    changed = False
    for declaration in declared().values():
        try:
            changed = _subject_sync(declaration) or changed
        except IntegrityError:  # another process synced it at the same moment
            continue
    if changed:
        _registry_changed()


def subject_update(*, subject: Subject, actor: User, data: dict[str, Any]) -> Subject:
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        for field in ("description", "compatibility"):
            if field in data:
                setattr(subject, field, data[field])
        model_clean(subject)
        subject.save()
        _registry_changed()
    return subject


def _previous(subject: Subject) -> list[tuple[int, dict[str, Any]]]:
    return [(number, schema) for number, schema in subject.versions.order_by("number").values_list("number", "schema")]


def _incompatibilities(schema: dict[str, Any], subject: Subject, mode: str) -> list[dict[str, Any]]:
    return [problem.as_dict() for problem in compat.compatibility_check(schema, _previous(subject), mode)]


def schema_version_register(*, subject: Subject, schema: Any, actor: User | None) -> tuple[SchemaVersion, bool]:
    """(the version, whether it is new). The same schema again returns the version that has it. A managed
    subject's versions come from its code (subjects_sync), never from here."""
    if subject.managed:
        raise SubjectManaged()
    schema_check(schema)
    fingerprint = schema_fingerprint(schema)
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        existing = subject.versions.filter(fingerprint=fingerprint).order_by("number").first()
        if existing is not None:
            return existing, False
        problems = _incompatibilities(schema, subject, subject.compatibility)
        if problems:
            raise SchemaIncompatible(details={"compatibility": subject.compatibility, "incompatibilities": problems})
        version = _version_create(subject=subject, schema=schema, actor=actor)
        _registry_changed()
    return version, True


def compatibility_report(*, subject: Subject, schema: Any, mode: str | None = None) -> dict[str, Any]:
    """What registering `schema` would meet, without registering it; `mode` overrides the subject's."""
    mode = mode or subject.compatibility
    if mode not in Compatibility.values:
        raise InvalidInput({"compatibility": [_("Unknown compatibility mode.")]})
    schema_check(schema)
    problems = _incompatibilities(schema, subject, mode)
    return {"compatible": not problems, "compatibility": mode, "incompatibilities": problems}


def schema_version_update(*, version: SchemaVersion, actor: User, data: dict[str, Any]) -> SchemaVersion:
    with transaction.atomic():
        version = SchemaVersion.objects.select_for_update().select_related("subject").get(pk=version.pk)
        if "deprecated" in data and bool(data["deprecated"]) != version.deprecated:
            version.deprecated = bool(data["deprecated"])
            version.save(update_fields=["deprecated"])
            _registry_changed()
    return version


_UNFINISHED = [Status.PENDING, Status.RUNNING, Status.ROLLING_BACK]
_ROLLBACKABLE = [Status.RUNNING, Status.SUCCEEDED, Status.FAILED]


def schema_version_delete(*, version: SchemaVersion, actor: User) -> None:
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=version.subject_id)
        if subject.managed:
            raise SubjectManaged()
        if subject.versions.count() <= 1:
            raise SchemaVersionLast()
        documents = documents_count(subject=subject, number=version.number)
        # A migration that may still run or be rolled back would write documents under this version.
        migrations = (
            subject.migrations.filter(status__in=[*_UNFINISHED, *_ROLLBACKABLE])
            .filter(from_number=version.number)
            .count()
            + subject.migrations.filter(status__in=_UNFINISHED).filter(to_number=version.number).count()
        )
        if documents or migrations:
            message = _("%(n)d stored documents use this version: it cannot be deleted.") % {"n": documents}
            if not documents:
                message = _("%(n)d migrations may still write documents under this version.") % {"n": migrations}
            raise SchemaVersionInUse(message, details={"documents": documents, "migrations": migrations})
        version.delete()
        if subject.current_number == version.number:
            subject.current_number = subject.versions.order_by("-number").values_list("number", flat=True)[0]
            subject.save(update_fields=["current_number", "updated_at"])
        _registry_changed()


# --- documents the apps store -------------------------------------------------------------------------------


def _current(name: str) -> tuple[int, dict[str, Any], str]:
    """(number, schema, fingerprint) of the subject's current version, kept in the cache under the registry's
    generation."""
    key = f"schema_registry:current-version:{generation_get(REGISTRY_GENERATION)}:{name}"
    found = cache.get(key)
    if found is not None:
        return found
    subject = Subject.objects.filter(name=name).first()
    if subject is None or subject.current_number == 0:
        subjects_sync()
        subject = Subject.objects.filter(name=name).first()
    if subject is None:
        raise LookupError(f"schema subject {name!r} is not declared")
    schema, fingerprint = (
        subject.versions.filter(number=subject.current_number).values_list("schema", "fingerprint").get()
    )
    found = (subject.current_number, schema, fingerprint)
    cache.set(key, found, timeout=3600)
    return found


def document_validate(*, subject: str, document: Any, field: str) -> int:
    """The number of the subject's current version, which `document` fits; else InvalidInput with the JSON path
    of every error (`field.a.b`), the first one in details.field."""
    if not isinstance(document, dict):  # every subject's documents are JSON objects
        raise InvalidInput({field: [_("Expected a JSON object.")]})
    problem = json_value_problem(document)
    if problem is not None:
        raise InvalidInput({field: [problem]})
    number, schema, fingerprint = _current(subject)
    problems = document_checker(schema, fingerprint).problems(document)
    if problems:
        errors: dict[str, list[str]] = {}
        for path, message in problems:
            errors.setdefault(_dotted(field, path), []).append(message)
        raise InvalidInput(errors)
    return number


# --- migrations ---------------------------------------------------------------------------------------------


def _source(subject: Subject) -> Documents:
    declaration = declaration_get(subject.name)
    if declaration is None or declaration.documents is None:
        raise SubjectHasNoDocuments()
    return declaration.documents


def _version_schema(subject: Subject, number: Any, field: str) -> dict[str, Any]:
    if isinstance(number, bool) or not isinstance(number, int):
        raise InvalidInput({field: [_("A version number is required.")]})
    schema = subject.versions.filter(number=number).values_list("schema", flat=True).first()
    if schema is None:
        raise InvalidInput({field: [_("This subject has no version %(n)d.") % {"n": number}]})
    return schema


def migration_plan_propose(*, subject: Subject, from_number: Any, to_number: Any) -> list[dict[str, Any]]:
    old = _version_schema(subject, from_number, "from")
    new = _version_schema(subject, to_number, "to")
    return plan_propose(old, new)


def _compiled(plan: Any) -> CompiledPlan:
    # A plan's values, and the paths it creates, must stay within what a document may hold (MAX_JSON_DEPTH).
    problem = json_value_problem(plan)
    for index, operation in enumerate(plan if isinstance(plan, list) and problem is None else []):
        for key in ("path", "to"):
            path = operation.get(key) if isinstance(operation, dict) else None
            if isinstance(path, str) and len(re.split(r"[./]", path)) >= MAX_JSON_DEPTH:
                problem, field = _("The path is deeper than a document may be."), f"plan.{index}.{key}"
                raise PlanInvalid(details={"field": field, "message": problem, "errors": {field: [problem]}})
    if problem is not None:
        raise PlanInvalid(details={"field": "plan", "message": problem, "errors": {"plan": [problem]}})
    try:
        return plan_compile(plan)
    except PlanError as exc:
        field = ".".join(str(part) for part in ("plan", exc.index, exc.field) if part not in (None, ""))
        raise PlanInvalid(details={"field": field, "message": exc.message, "errors": {field: [exc.message]}}) from None


def _prepare(
    subject: Subject, from_number: Any, to_number: Any, plan: Any
) -> tuple[Documents, dict[str, Any], CompiledPlan]:
    source = _source(subject)
    old = _version_schema(subject, from_number, "from")
    new = _version_schema(subject, to_number, "to")
    if from_number == to_number:
        raise InvalidInput({"to": [_("A migration moves documents to another version.")]})
    return source, new, _compiled(plan_propose(old, new) if plan is None else plan)


def _migrate_one(compiled: CompiledPlan, checker: DocumentChecker, document: Any) -> tuple[Any, tuple[str, str] | None]:
    """(the migrated document, None) or (None, (path, reason)) when the plan fails or the result is invalid."""
    try:
        after = compiled.apply(document)
    except OperationError as exc:
        return None, (exc.path, exc.message)
    too_deep = json_value_problem(after)
    if too_deep is not None:
        return None, ("$", too_deep)
    problems = checker.problems(after)
    if problems:
        path, message = problems[0]
        return None, (_dotted("$", path) if path else "$", message)
    return after, None


def migration_dry_run(*, subject: Subject, from_number: Any, to_number: Any, plan: Any) -> dict[str, Any]:
    """What a run would do, writing nothing: how many documents change, a few before/after diffs, and every
    document that would fail (the first DRY_RUN_MAX_FAILURES of them)."""
    source, new, compiled = _prepare(subject, from_number, to_number, plan)
    checker = document_checker(new)
    total = changed = failed = 0
    samples: list[dict[str, Any]] = []
    failures: list[dict[str, Any]] = []
    documents = (
        source.manager()
        .filter(**{source.version_field: from_number})
        .order_by("pk")
        .values_list("pk", source.field)
        .iterator(chunk_size=2000)
    )
    for pk, before in documents:
        total += 1
        after, problem = _migrate_one(compiled, checker, before)
        if problem is not None:
            failed += 1
            if len(failures) < DRY_RUN_MAX_FAILURES:
                failures.append({"document_id": pk, "path": problem[0], "message": problem[1]})
            continue
        if after != before:
            changed += 1
            if len(samples) < DRY_RUN_SAMPLES:
                samples.append(
                    {"document_id": pk, "before": before, "after": after, "diff": document_diff(before, after)}
                )
    return {
        "subject": subject.name,
        "from": from_number,
        "to": to_number,
        "plan": compiled.operations,
        "total": total,
        "changed": changed,
        "unchanged": total - changed - failed,
        "failed": failed,
        "samples": samples,
        "failures": failures,
        "failures_truncated": failed > len(failures),
    }


def _migration_event(type_: str, migration: DocumentMigration, *, actor_id: int | None = None) -> None:
    event_record(
        type=type_,
        topic=f"schema_migration:{migration.id}",
        subject_type="schema_migration",
        subject_id=migration.id,
        payload={
            "id": migration.id,
            "subject": migration.subject.name,
            "status": migration.status,
            "total": migration.total,
            "processed": migration.processed,
            "changed": migration.changed,
            "failed": migration.failed,
            "restored": migration.restored,
        },
        actor_id=actor_id,
    )


def _log(migration: DocumentMigration, level: str, message: str, **extra: Any) -> None:
    MigrationLogEntry.objects.create(migration=migration, level=level, message=message, **extra)


def _send(task: str, migration_id: int) -> None:
    from . import tasks

    getattr(tasks, task).delay(migration_id)


def migration_create(
    *,
    subject: Subject,
    from_number: Any,
    to_number: Any,
    plan: Any,
    actor: User | None,
    abort_threshold: float = 0.0,
    batch_size: int | None = None,
    defer: bool = False,
) -> DocumentMigration:
    """A migration, sent to a worker on commit; `defer` leaves it pending for `migrate_documents --pending`."""
    _source_, _schema, compiled = _prepare(subject, from_number, to_number, plan)
    with transaction.atomic():
        subject = Subject.objects.select_for_update().get(pk=subject.pk)
        active = subject.migrations.filter(status__in=_UNFINISHED).order_by("id").first()
        if active is not None:
            raise MigrationActive(details={"migration_id": active.id})
        migration = DocumentMigration(
            subject=subject,
            from_number=from_number,
            to_number=to_number,
            plan=compiled.operations,
            abort_threshold=abort_threshold,
            batch_size=batch_size or settings.SCHEMA_MIGRATION_BATCH_SIZE,
            created_by=actor,
        )
        model_clean(migration)
        migration.save()
        _log(migration, MigrationLogEntry.Level.INFO, _("Migration created."))
        _migration_event("schema_migration.status", migration, actor_id=actor.id if actor else None)
        if not defer:
            transaction.on_commit(functools.partial(_send, "migration_run", migration.id))
    return migration


def migration_start(*, migration: DocumentMigration) -> DocumentMigration:
    """Sends a pending (deferred) migration to a worker now."""
    if migration.status != Status.PENDING:
        raise MigrationNotPending()
    transaction.on_commit(functools.partial(_send, "migration_run", migration.id))
    return migration


Progress = Callable[[DocumentMigration], None]


def migration_run(*, migration_id: int, task_id: str = "", progress: Progress | None = None) -> None:
    """Runs (or resumes) a migration batch by batch. Each batch is one transaction that locks the migration,
    takes the next documents after its cursor, keeps their old value, writes the new one and moves the cursor:
    a run killed mid-batch leaves nothing of that batch, and a resumed run starts after the last whole one."""
    with transaction.atomic():
        found = DocumentMigration.objects.select_for_update().select_related("subject").filter(pk=migration_id).first()
        if found is None or found.status not in (Status.PENDING, Status.RUNNING):
            return
        migration = found
        source = _source(migration.subject)
        if migration.status == Status.PENDING:
            migration.status = Status.RUNNING
            migration.started_at = timezone.now()
            migration.total = source.manager().filter(**{source.version_field: migration.from_number}).count()
            _log(migration, MigrationLogEntry.Level.INFO, _("Started: %(n)d documents.") % {"n": migration.total})
        else:
            _log(
                migration,
                MigrationLogEntry.Level.WARNING,
                _("Resumed after document %(id)d.") % {"id": migration.cursor},
            )
        migration.task_id = task_id[:64]
        migration.heartbeat_at = timezone.now()
        migration.save()
        _migration_event("schema_migration.status", migration)
    try:
        compiled = plan_compile(migration.plan)
        schema = migration.subject.versions.get(number=migration.to_number).schema
        checker = document_checker(schema)
        while True:
            outcome = _migration_batch(migration.id, source, compiled, checker)
            if progress is not None:
                progress(DocumentMigration.objects.get(pk=migration.id))
            if outcome == "more":
                continue
            if outcome == "abort":
                migration_rollback_run(migration_id=migration.id, task_id=task_id, progress=progress)
            return
    except Exception as exc:
        logger.exception("schema migration %s failed", migration.id)
        _migration_fail(migration.id, exc)


def _migration_fail(migration_id: int, exc: Exception) -> None:
    with transaction.atomic():
        migration = DocumentMigration.objects.select_for_update().select_related("subject").get(pk=migration_id)
        if migration.status != Status.RUNNING:
            return
        migration.status = Status.FAILED
        migration.error_code = "MIGRATION_ERROR"
        migration.error_message = f"{type(exc).__name__}: {exc}"[:2000]
        migration.finished_at = timezone.now()
        migration.save()
        _log(migration, MigrationLogEntry.Level.ERROR, migration.error_message)
        _migration_event("schema_migration.status", migration)


# Set-based writes: a batch's documents are written by one UPDATE that reads them from the backups just
# inserted (and a rollback's by one UPDATE reading `before`), not row by row: Django's bulk_update builds a CASE
# per row and field, which cost 20x the work of a plain UPDATE (bench/schema_migrations.py).


def _names(source: Documents) -> dict[str, str]:
    model = source.model_class()
    quote = connection.ops.quote_name
    return {
        "table": quote(model._meta.db_table),
        "pk": quote(str(model._meta.pk.column)),  # type: ignore[union-attr]
        "field": quote(str(model._meta.get_field(source.field).column)),  # type: ignore[union-attr]
        "version": quote(str(model._meta.get_field(source.version_field).column)),  # type: ignore[union-attr]
        "backups": quote(DocumentBackup._meta.db_table),
    }


def _backups_write(migration: DocumentMigration, backups: list[tuple[int, Any, Any]]) -> None:
    if not backups:
        return
    json_field = DocumentBackup._meta.get_field("before")
    prep = functools.partial(json_field.get_db_prep_value, connection=connection)  # type: ignore[attr-defined]
    table = connection.ops.quote_name(DocumentBackup._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} (migration_id, document_id, before, before_version, after, restored) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [
                (migration.id, pk, prep(before), migration.from_number, prep(after), False)
                for pk, before, after in backups
            ],
        )


def _documents_write(
    source: Documents, migration: DocumentMigration, *, column: str, version: int, first: int, last: int
) -> None:
    """The documents of this batch (ids first..last with a backup) take the backup's `column`."""
    n = _names(source)
    sql = (
        f"UPDATE {n['table']} SET {n['field']} = (SELECT b.{column} FROM {n['backups']} b "
        f"WHERE b.migration_id = %s AND b.document_id = {n['table']}.{n['pk']}), {n['version']} = %s "
        f"WHERE {n['pk']} IN (SELECT document_id FROM {n['backups']} "
        "WHERE migration_id = %s AND document_id BETWEEN %s AND %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [migration.id, version, migration.id, first, last])


def _documents_restore(source: Documents, migration: DocumentMigration, *, first: int, last: int) -> set[int]:
    """Puts `before` back into the documents of backups first..last not yet restored that still hold what the
    migration wrote (its version and `after`); the ids restored."""
    n = _names(source)
    backup = f"SELECT {{}} FROM {n['backups']} b WHERE b.migration_id = %s AND b.document_id = {n['table']}.{n['pk']}"
    sql = (
        f"UPDATE {n['table']} SET {n['field']} = ({backup.format('b.before')}), "
        f"{n['version']} = ({backup.format('b.before_version')}) "
        f"WHERE {n['pk']} IN (SELECT document_id FROM {n['backups']} "
        "WHERE migration_id = %s AND restored = %s AND document_id BETWEEN %s AND %s) "
        f"AND {n['version']} = %s AND {n['field']} = ({backup.format('b.after')}) "
        f"RETURNING {n['pk']}"
    )
    params = [migration.id, migration.id, migration.id, False, first, last, migration.to_number, migration.id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {row[0] for row in cursor.fetchall()}


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, which JSON and jsonb allow and orjson does not
        return json.dumps(value, ensure_ascii=False)


def _batch_write_postgresql(
    source: Documents, migration: DocumentMigration, backups: list[tuple[int, Any, Any]]
) -> None:
    """One statement: the backups copy each document's old value inside PostgreSQL (every part of a statement
    sees the same snapshot, so the INSERT reads the values the UPDATE replaces), and only the new values travel."""
    if not backups:
        return
    n = _names(source)
    sql = (
        "WITH d(id, after) AS (SELECT (e->>0)::bigint, e->1 FROM jsonb_array_elements(%s::jsonb) e), "
        f"kept AS (INSERT INTO {n['backups']} (migration_id, document_id, before, before_version, after, restored) "
        f"SELECT %s, p.{n['pk']}, p.{n['field']}, %s, d.after, false FROM {n['table']} p JOIN d ON p.{n['pk']} = d.id) "
        f"UPDATE {n['table']} p SET {n['field']} = d.after, {n['version']} = %s FROM d WHERE p.{n['pk']} = d.id"
    )
    # One JSON text for the batch: an array parameter costs a regular expression per element to quote.
    documents = _json_text([[pk, after] for pk, _before, after in backups])
    with connection.cursor() as cursor:
        cursor.execute(sql, [documents, migration.id, migration.from_number, migration.to_number])


def _migration_batch(migration_id: int, source: Documents, compiled: CompiledPlan, checker: DocumentChecker) -> str:
    with transaction.atomic():
        migration = DocumentMigration.objects.select_for_update().select_related("subject").get(pk=migration_id)
        if migration.status != Status.RUNNING:
            return "stopped"
        manager = source.manager()
        rows = list(
            manager.select_for_update()
            .filter(pk__gt=migration.cursor, **{source.version_field: migration.from_number})
            .order_by("pk")
            .values_list("pk", source.field)[: migration.batch_size]
        )
        if not rows:
            migration.status = Status.SUCCEEDED
            migration.finished_at = timezone.now()
            migration.heartbeat_at = timezone.now()
            migration.save()
            _log(
                migration,
                MigrationLogEntry.Level.INFO,
                _("Finished: %(changed)d changed, %(failed)d failed of %(total)d.")
                % {"changed": migration.changed, "failed": migration.failed, "total": migration.total},
            )
            _migration_event("schema_migration.status", migration)
            return "done"
        backups: list[tuple[int, Any, Any]] = []
        failures: list[MigrationLogEntry] = []
        changed = 0
        for pk, before in rows:
            after, problem = _migrate_one(compiled, checker, before)
            if problem is not None:
                failures.append(
                    MigrationLogEntry(
                        migration=migration,
                        level=MigrationLogEntry.Level.ERROR,
                        document_id=pk,
                        path=problem[0][:500],
                        message=problem[1][:2000],
                    )
                )
                continue
            changed += after != before
            backups.append((pk, before, after))
        if connection.vendor == "postgresql":
            _batch_write_postgresql(source, migration, backups)
        else:
            _backups_write(migration, backups)
            _documents_write(
                source, migration, column="after", version=migration.to_number, first=rows[0][0], last=rows[-1][0]
            )
        MigrationLogEntry.objects.bulk_create(failures)
        migration.cursor = rows[-1][0]
        migration.processed += len(rows)
        migration.changed += changed
        migration.failed += len(failures)
        migration.heartbeat_at = timezone.now()
        if migration.total and migration.failed * 100 > migration.abort_threshold * migration.total:
            migration.status = Status.ROLLING_BACK
            migration.error_code = ABORTED_BY_THRESHOLD
            migration.error_message = _(
                "%(failed)d of %(total)d documents failed, more than the abort threshold of %(threshold)s%%."
            ) % {"failed": migration.failed, "total": migration.total, "threshold": f"{migration.abort_threshold:g}"}
            migration.save()
            _log(migration, MigrationLogEntry.Level.ERROR, migration.error_message)
            _migration_event("schema_migration.status", migration)
            return "abort"
        migration.save()
        _migration_event("schema_migration.progress", migration)
        return "more"


def migration_rollback(*, migration: DocumentMigration, actor: User | None) -> DocumentMigration:
    """Asks for the documents back as they were: a running migration stops after its current batch."""
    with transaction.atomic():
        migration = DocumentMigration.objects.select_for_update().select_related("subject").get(pk=migration.pk)
        if migration.status == Status.PENDING:
            migration.status = Status.ROLLED_BACK
            migration.finished_at = timezone.now()
            migration.save()
            _log(migration, MigrationLogEntry.Level.INFO, _("Cancelled before it ran: nothing to restore."))
            _migration_event("schema_migration.status", migration, actor_id=actor.id if actor else None)
            return migration
        if migration.status not in _ROLLBACKABLE:
            raise MigrationNotRollbackable()
        migration.status = Status.ROLLING_BACK
        migration.heartbeat_at = timezone.now()
        migration.save()
        _log(migration, MigrationLogEntry.Level.INFO, _("Rollback requested."))
        _migration_event("schema_migration.status", migration, actor_id=actor.id if actor else None)
        transaction.on_commit(functools.partial(_send, "migration_rollback_run", migration.id))
    return migration


def migration_rollback_run(*, migration_id: int, task_id: str = "", progress: Progress | None = None) -> None:
    """Puts every document the migration changed back as it was, batch by batch (resumable like a run). A
    document changed since the migration wrote it is left as it is now, and logged."""
    with transaction.atomic():
        found = DocumentMigration.objects.select_for_update().select_related("subject").filter(pk=migration_id).first()
        if found is None or found.status != Status.ROLLING_BACK:
            return
        migration = found
        migration.task_id = task_id[:64]
        migration.heartbeat_at = timezone.now()
        migration.save(update_fields=["task_id", "heartbeat_at"])
    source = _source(migration.subject)
    while _rollback_batch(migration.id, source):
        if progress is not None:
            progress(DocumentMigration.objects.get(pk=migration.id))


def _rollback_batch(migration_id: int, source: Documents) -> bool:
    with transaction.atomic():
        migration = DocumentMigration.objects.select_for_update().select_related("subject").get(pk=migration_id)
        if migration.status != Status.ROLLING_BACK:
            return False
        backups = list(
            DocumentBackup.objects.filter(migration=migration, restored=False)
            .order_by("document_id")
            .only("document_id")[: migration.batch_size]
        )
        if not backups:
            aborted = migration.error_code == ABORTED_BY_THRESHOLD
            migration.status = Status.ABORTED if aborted else Status.ROLLED_BACK
            migration.finished_at = timezone.now()
            migration.save()
            _log(
                migration,
                MigrationLogEntry.Level.INFO,
                _("Rolled back: %(n)d documents restored.") % {"n": migration.restored},
            )
            _migration_event("schema_migration.status", migration)
            return False
        first, last = backups[0].document_id, backups[-1].document_id
        restored = _documents_restore(source, migration, first=first, last=last)
        missing = [backup.document_id for backup in backups if backup.document_id not in restored]
        existing = set(source.manager().filter(pk__in=missing).values_list("pk", flat=True)) if missing else set()
        MigrationLogEntry.objects.bulk_create(
            MigrationLogEntry(
                migration=migration,
                level=MigrationLogEntry.Level.WARNING,
                document_id=document_id,
                message=_("The document changed since the migration wrote it; it is left as it is now.")
                if document_id in existing
                else _("The document was deleted since the migration; nothing to restore."),
            )
            for document_id in missing
        )
        DocumentBackup.objects.filter(
            migration=migration, restored=False, document_id__gte=first, document_id__lte=last
        ).update(restored=True)
        migration.restored += len(restored)
        migration.heartbeat_at = timezone.now()
        migration.save()
        _migration_event("schema_migration.progress", migration)
        return True


def migrations_sweep(*, stale_after_seconds: float) -> dict[str, int]:
    """Sends again every running or rolling-back migration whose worker stopped beating: it resumes after its
    last whole batch."""
    cutoff = timezone.now() - timedelta(seconds=stale_after_seconds)
    resumed = {"runs": 0, "rollbacks": 0}
    stale = DocumentMigration.objects.filter(status__in=[Status.RUNNING, Status.ROLLING_BACK], heartbeat_at__lte=cutoff)
    for migration_id, status in stale.values_list("id", "status"):
        if status == Status.RUNNING:
            _send("migration_run", migration_id)
            resumed["runs"] += 1
        else:
            _send("migration_rollback_run", migration_id)
            resumed["rollbacks"] += 1
    return resumed
