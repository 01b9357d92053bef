"""Reads of the registry: subjects, versions, the start-up bundle with its ETag, migrations and their log."""

import hashlib
import json
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, QuerySet
from django.utils.translation import gettext as _

from incubator.errors import InvalidInput, NotFound
from incubator.generations import generation_get

from .declarations import declaration_get
from .models import DocumentMigration, MigrationLogEntry, SchemaVersion, Subject

# Bumped by every write that changes what GET /schema shows.
REGISTRY_GENERATION = "schema_registry"
DRAFT = "https://json-schema.org/draft/2020-12/schema"


def subject_list(*, search: str | None = None) -> QuerySet[Subject]:
    subjects = Subject.objects.all().order_by("name")
    if search:
        subjects = subjects.filter(name__icontains=search)
    return subjects


def subject_get(*, name: str) -> Subject:
    subject = Subject.objects.filter(name=name).first()
    if subject is None:
        raise NotFound()
    return subject


def subject_get_for_input(*, name: str) -> Subject:
    """A subject named in a request's body: an unknown one is a 400 on that field, not a 404 of the URL."""
    subject = Subject.objects.filter(name=name).first()
    if subject is None:
        raise InvalidInput({"subject": [_("Unknown subject.")]})
    return subject


def schema_version_list(*, subject: Subject) -> QuerySet[SchemaVersion]:
    return SchemaVersion.objects.filter(subject=subject).order_by("number")


def schema_version_get(*, subject: Subject, number: Any) -> SchemaVersion:
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFound() from None
    version = SchemaVersion.objects.filter(subject=subject, number=number).first()
    if version is None:
        raise NotFound()
    return version


def schema_version_current(*, subject: Subject) -> SchemaVersion | None:
    return SchemaVersion.objects.filter(subject=subject, number=subject.current_number).first()


def documents_count(*, subject: Subject, number: int | None = None) -> int:
    """Stored documents of the subject (written under version `number`, when given)."""
    declaration = declaration_get(subject.name)
    if declaration is None or declaration.documents is None:
        return 0
    source = declaration.documents
    documents = source.manager().all()
    if number is not None:
        documents = documents.filter(**{source.version_field: number})
    return int(documents.count())


def documents_by_version(*, subject: Subject) -> dict[int, int]:
    declaration = declaration_get(subject.name)
    if declaration is None or declaration.documents is None:
        return {}
    source = declaration.documents

    rows = source.manager().values(source.version_field).annotate(n=Count("pk")).order_by(source.version_field)
    return {row[source.version_field]: row["n"] for row in rows}


def registry_bundle() -> tuple[dict[str, Any], str]:
    """What GET /schema answers (every subject's current version with its schema) and its ETag. Kept in the
    cache under the registry's generation, so the SPA's start-up fetch is one cache read when nothing changed."""
    key = f"schema_registry:bundle:{generation_get(REGISTRY_GENERATION)}"
    cached = cache.get(key)
    if cached is not None:
        return cached["body"], cached["etag"]
    subjects = []
    current = {
        (version.subject_id, version.number): version
        for version in SchemaVersion.objects.filter(subject__current_number__gt=0).select_related("subject")
        if version.number == version.subject.current_number
    }
    for subject in Subject.objects.order_by("name"):
        version = current.get((subject.id, subject.current_number))
        if version is None:
            continue
        subjects.append(
            {
                "subject": subject.name,
                "version": version.number,
                "compatibility": subject.compatibility,
                "deprecated": version.deprecated,
                "schema": version.schema,
            }
        )
    canonical = json.dumps(subjects, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    revision = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    # `revision` names this set of versions (the ETag's value): what a client stores beside its copy.
    body = {"draft": DRAFT, "revision": revision, "subjects": subjects}
    etag = f'"{revision}"'
    cache.set(key, {"body": body, "etag": etag}, timeout=3600)
    return body, etag


def migration_list(*, subject: str | None = None, status: str | None = None) -> QuerySet[DocumentMigration]:
    migrations = DocumentMigration.objects.select_related("subject", "created_by").order_by("-created_at", "-id")
    if subject:
        migrations = migrations.filter(subject__name=subject)
    if status:
        migrations = migrations.filter(status=status)
    return migrations


def migration_get(*, migration_id: Any) -> DocumentMigration:
    try:
        migration_id = int(migration_id)
    except (TypeError, ValueError):
        raise NotFound() from None
    migration = DocumentMigration.objects.select_related("subject", "created_by").filter(pk=migration_id).first()
    if migration is None:
        raise NotFound()
    return migration


def migration_log(*, migration: DocumentMigration, level: str | None = None) -> QuerySet[MigrationLogEntry]:
    entries = MigrationLogEntry.objects.filter(migration=migration).order_by("id")
    if level:
        entries = entries.filter(level=level)
    return entries


def migration_language(*, migration_id: int) -> str:
    """The language its log is written in: that of the admin who created it (a worker has no request)."""
    locale = DocumentMigration.objects.filter(pk=migration_id).values_list("created_by__locale", flat=True).first()
    return locale or settings.LANGUAGE_CODE


def migration_topic_readable(user: Any, ids: list[int]) -> set[int]:
    """A migration's progress (`schema_migration:{id}` on the live stream) is for platform admins."""
    return set(ids) if getattr(user, "is_staff", False) else set()
