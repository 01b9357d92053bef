"""Every write on datasets, their versions and uploads: validated, atomic, with outbox events, and with the
heavy work (conversion, profiling, exports, pipelines) done by tasks that call the functions at the bottom.

Files and rows: a version's files are stored first, under names no row knows yet, then the rows are written
in one transaction; if that fails, the files are deleted, so a failure leaves neither a half-made version nor
an orphan file. Deleting rows (here, through a project's cascade or the admin) deletes their files after
commit (datasets.signals).
"""

import hashlib
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import PROTECT, RESTRICT, F
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts.models import User
from incubator.errors import InvalidInput, NotFound
from incubator.events.services import event_record
from incubator.exceptions import object_storage_unreachable
from incubator.generations import generation_bump
from incubator.schemas import json_equal
from incubator.validation import json_storable, model_clean
from projects.models import Project
from schema_registry.services import document_validate

from . import storage

# The engine's modules that load polars and pyarrow (formats, pipeline) are imported where the web process uses them:
# a Celery worker runs the engine in a process of its own (engine.isolated) and never loads them itself.
from .engine import errors as engine_errors
from .engine import isolated, messages, terms
from .engine.terms import Converted
from .errors import (
    DatasetNameTaken,
    ExportFailed,
    ExportPreparing,
    FileUnreadable,
    ObjectStorageRequired,
    UnsupportedFormat,
    UploadIncomplete,
    UploadNotPending,
    VersionInUse,
    VersionNotReady,
)
from .models import Dataset, DatasetUpload, DatasetVersion, FileDeletion
from .selectors import LIST_GENERATION

logger = logging.getLogger(__name__)

DATASET_FIELDS = ("name", "description")
CHUNK = 1024 * 1024
# How often (in fraction of the work) a long task reports progress: a handful of events, not thousands.
PROGRESS_STEP = 0.1


# --- helpers ------------------------------------------------------------------------------------------------


def _search_text(dataset: Dataset) -> str:
    return " ".join(f"{dataset.name} {dataset.description}".split()).casefold()


def _file_name(raw: str) -> str:
    """A file name fit to show and to send back in Content-Disposition: the last path part, no control
    characters, at most 255 characters (keeping the extension)."""
    name = re.split(r"[\\/]", raw or "")[-1]
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if unicodedata.category(ch)[0] != "C").strip()
    name = name.strip(". ") or "data"
    if len(name) > 255:
        stem, dot, ext = name.rpartition(".")
        name = (stem[: 255 - len(ext) - 1] + dot + ext) if dot and len(ext) < 20 else name[:255]
    return name


def _object_prefix() -> str:
    """Where a new version's files live: a fresh folder no other row names."""
    return f"versions/{uuid.uuid4().hex}"


def _extension(fmt: str) -> str:
    return {"jsonl": "jsonl", "json": "json", "parquet": "parquet", "xlsx": "xlsx", "tsv": "tsv"}.get(fmt, "csv")


def _sha256_file(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _engine_error(exc: engine_errors.EngineError) -> Exception:
    """The API's error for an engine failure met while handling a request."""
    if isinstance(exc, engine_errors.UnsupportedFormat):
        return UnsupportedFormat(exc.message, details={"field": "file", **exc.details})
    return FileUnreadable(exc.message, details={"field": "file", **exc.details})


def _version_payload(version: DatasetVersion) -> dict[str, Any]:
    payload = {
        "dataset_id": version.dataset_id,
        "number": version.number,
        "status": version.status,
        "progress": round(version.progress, 3),
        "row_count": version.row_count,
        "size": version.size,
    }
    if version.status == DatasetVersion.Status.FAILED:
        payload["error"] = {"code": version.error_code, "message": version.error_message}
    return payload


def _version_translations(version: DatasetVersion) -> dict[str, dict[str, str] | None]:
    """The translations of the stored texts in _version_payload: a failure's message, for each reader's language."""
    if version.status != DatasetVersion.Status.FAILED:
        return {}
    return {"error.message": version.translations.get("error_message")}


def _version_event(
    type_: str, version: DatasetVersion, *, project_id: int, actor_id: int | None = None, **extra: Any
) -> None:
    event_record(
        type=type_,
        topic=f"dataset:{version.dataset_id}",
        subject_type="dataset_version",
        subject_id=version.id,
        payload={**_version_payload(version), "project_id": project_id, **extra},
        actor_id=actor_id,
        translations=_version_translations(version),
    )


def _dataset_event(type_: str, dataset: Dataset, *, actor_id: int | None, **extra: Any) -> None:
    event_record(
        type=type_,
        topic=f"dataset:{dataset.id}",
        subject_type="dataset",
        subject_id=dataset.id,
        payload={"id": dataset.id, "project_id": dataset.project_id, "name": dataset.name, **extra},
        actor_id=actor_id,
    )


def _enqueue(task_name: str, version_id: int) -> None:
    """Send a task once the transaction that made its version commits, in the language of the moment (the
    request's): the messages the task stores (a failed conversion's, a pipeline's) are in the language of whoever
    started the work, not always the server's default."""
    from . import tasks

    task = getattr(tasks, task_name)
    language = translation.get_language()
    transaction.on_commit(lambda: _send(task, version_id, language))


def _send(task: Any, version_id: int, language: str | None = None) -> None:
    """After commit: the task to the broker. With the broker down the version stays waiting and the write that
    made it stands (it has committed: an error now would only tell the client to retry a write that succeeded);
    datasets.requeue_stale sends it again once a worker starts or beat finds it waiting."""
    try:
        task.delay(version_id, language=language)
    except Exception:  # noqa: BLE001 - kombu's OperationalError, redis' or amqp's own: the broker is unreachable
        logger.warning("datasets: %s(%s) not sent (broker unreachable)", task.name, version_id, exc_info=True)


# --- receiving a file ---------------------------------------------------------------------------------------


@dataclass
class Received:
    """An uploaded file, checked and stored under a name no row knows yet."""

    name: str  # in storage
    file_name: str
    format: str
    content_type: str
    encoding: str
    delimiter: str
    size: int
    sha256: str


@contextmanager
def _local_path(upload: UploadedFile) -> Iterator[str]:
    """A path to the upload's bytes: Django's temporary file for large uploads, a temporary copy otherwise."""
    temporary = getattr(upload, "temporary_file_path", None)
    if temporary is not None:
        yield temporary()
        return
    with tempfile.NamedTemporaryFile(prefix="incubator-upload-", suffix=".bin") as handle:
        upload.seek(0)
        for chunk in upload.chunks(CHUNK):
            handle.write(chunk)
        handle.flush()
        yield handle.name


def file_receive(*, upload: Any) -> Received:
    """Check an uploaded file (format by name and content, a sample parsed) and store it. Raises 415 for an
    unsupported format and 400 FILE_UNREADABLE, naming the row and column, for a sample that cannot be read;
    nothing is stored then. The caller owns the stored file: it must delete it if its rows are not written."""
    if not isinstance(upload, UploadedFile):
        raise InvalidInput({"file": [_("Send the data as a file (multipart/form-data).")]})
    file_name = _file_name(upload.name or "")
    with _local_path(upload) as path:
        known = getattr(upload, "sha256", None)  # hashed as it arrived (datasets.uploads.HashingUploadHandler)
        sha256, size = (known, int(upload.size or 0)) if known else _sha256_file(path)
        if size == 0:
            raise InvalidInput({"file": [_("The submitted file is empty.")]})
        from .engine import formats

        try:
            detected = formats.detect(path, file_name)
            formats.check_sample(path, detected)
        except engine_errors.EngineError as exc:
            raise _engine_error(exc) from exc
        name = f"{_object_prefix()}/original.{_extension(detected.format)}"
        storage.store(path, name, content_type=detected.content_type, link=True)
    content_type = detected.content_type
    if detected.encoding and content_type.startswith("text/"):  # a GBK CSV downloads as what it is
        content_type += f"; charset={detected.encoding.removesuffix('-sig')}"
    return Received(
        name=name,
        file_name=file_name,
        format=detected.format,
        content_type=content_type,
        encoding=detected.encoding or "",
        delimiter=detected.delimiter or "",
        size=size,
        sha256=sha256,
    )


@contextmanager
def _stored(*names: str) -> Iterator[None]:
    """Delete these stored files if the block fails: their rows were not written."""
    try:
        yield
    except BaseException:
        storage.delete_quietly(*names)
        raise


# --- datasets -----------------------------------------------------------------------------------------------


def metadata_validate(metadata: Any) -> int:
    """The `dataset.metadata` schema version the object fits (InvalidInput naming each JSON path otherwise)."""
    return document_validate(subject="dataset.metadata", document=metadata, field="metadata")


def _dataset_save(dataset: Dataset) -> None:
    dataset.search_text = _search_text(dataset)
    model_clean(dataset, unique=False)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError as exc:
        raise DatasetNameTaken(details={"field": "name"}) from exc


def _version_new(dataset: Dataset, *, actor: User | None, **fields: Any) -> DatasetVersion:
    """The next numbered version, in processing; the dataset row is locked by the caller."""
    dataset.last_number += 1
    version = DatasetVersion(
        dataset=dataset,
        number=dataset.last_number,
        created_by=actor,
        language=translation.get_language() or "",
        **fields,
    )
    model_clean(version, exclude=["dataset"], unique=False)
    version.save()
    dataset.latest_version = version
    dataset.version_count = F("version_count") + 1
    dataset.save(update_fields=["last_number", "latest_version", "version_count", "updated_at"])
    dataset.refresh_from_db(fields=["version_count"])
    return version


def _version_from_received(
    dataset: Dataset, received: Received, *, actor: User | None, source: str = DatasetVersion.Source.UPLOAD
) -> DatasetVersion:
    version = _version_new(
        dataset,
        actor=actor,
        source=source,
        file_name=received.file_name,
        format=received.format,
        content_type=received.content_type,
        encoding=received.encoding,
        delimiter=received.delimiter,
        size=received.size,
        sha256=received.sha256,
        original=received.name,
    )
    _version_event(
        "dataset.version.processing", version, project_id=dataset.project_id, actor_id=actor.id if actor else None
    )
    _enqueue("version_convert", version.id)
    return version


def dataset_create(*, project: Project, actor: User, data: dict[str, Any], upload: Any = None) -> Dataset:
    """A dataset in the project and, with a file, its version 1 (processing until the conversion task runs).
    The metadata is validated first (`dataset.metadata`, whose current version the dataset is stamped with);
    the file is checked and stored before the rows are written, and deleted if they cannot be."""
    metadata = data.get("metadata", {})
    schema_version = metadata_validate(metadata)
    received = file_receive(upload=upload) if upload is not None else None
    with _stored(*([received.name] if received else [])), transaction.atomic():
        dataset = Dataset(project=project, created_by=actor, **{f: data[f] for f in DATASET_FIELDS if f in data})
        dataset.metadata, dataset.schema_version = metadata, schema_version
        _dataset_save(dataset)
        _dataset_event("dataset.created", dataset, actor_id=actor.id)
        if received is not None:
            _version_from_received(dataset, received, actor=actor)
        generation_bump(LIST_GENERATION)
    return dataset


@transaction.atomic
def dataset_update(*, dataset: Dataset, actor: User, data: dict[str, Any]) -> Dataset:
    dataset = Dataset.objects.select_for_update(no_key=True).get(pk=dataset.pk)
    changed = [f for f in DATASET_FIELDS if f in data and getattr(dataset, f) != data[f]]
    if "metadata" in data and not json_equal(dataset.metadata, data["metadata"]):
        # Stamped with the version it fits now; an unchanged object keeps the version it was written under.
        dataset.schema_version = metadata_validate(data["metadata"])
        changed.append("metadata")
    if not changed:
        return dataset
    for field in changed:
        setattr(dataset, field, data[field])
    _dataset_save(dataset)
    _dataset_event("dataset.updated", dataset, actor_id=actor.id, changed=changed)
    generation_bump(LIST_GENERATION)
    return dataset


def version_users(*, version: DatasetVersion) -> list[dict[str, Any]]:
    """What refers to this version from other apps (training jobs, models): every relation to
    DatasetVersion that protects it. Lineage (a derived version) and uploads do not hold a version."""
    used = []
    for relation in DatasetVersion._meta.related_objects:
        if relation.related_model._meta.app_label == "datasets":
            continue
        on_delete = getattr(relation, "on_delete", None)
        if on_delete not in (PROTECT, RESTRICT):
            continue
        manager = relation.related_model._default_manager
        count = manager.filter(**{relation.field.name: version}).count()
        if count:
            meta = relation.related_model._meta
            used.append(
                {
                    "kind": meta.model_name,
                    "count": count,
                    "name": meta.verbose_name_plural if count > 1 else meta.verbose_name,
                }
            )
    return used


def _refuse_if_used(versions: list[DatasetVersion]) -> None:
    for version in versions:
        used = version_users(version=version)
        if used:
            # "3 training jobs, 1 model version" in the reader's language; the details keep the machine's kinds.
            what = ", ".join(f"{u['count']} {u['name']}" for u in used)
            raise VersionInUse(
                _("Version %(number)d is used by %(what)s.") % {"number": version.number, "what": what},
                details={
                    "version": version.number,
                    "used_by": [{"kind": u["kind"], "count": u["count"]} for u in used],
                },
            )


@transaction.atomic
def dataset_delete(*, dataset: Dataset, actor: User) -> None:
    """Deletes the dataset, its versions and their files (after commit); 409 if another app uses a version."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    _refuse_if_used(list(dataset.versions.all()))
    pending = list(dataset.uploads.filter(status=DatasetUpload.Status.PENDING).values_list("object_name", "upload_id"))
    if pending:
        transaction.on_commit(lambda: _uploads_abort(pending))
    dataset_id, payload = dataset.id, {"id": dataset.id, "project_id": dataset.project_id, "name": dataset.name}
    Dataset.objects.filter(pk=dataset_id).update(latest_version=None)
    dataset.delete()
    event_record(
        type="dataset.deleted",
        topic=f"dataset:{dataset_id}",
        subject_type="dataset",
        subject_id=dataset_id,
        payload=payload,
        actor_id=actor.id,
    )
    generation_bump(LIST_GENERATION)


def _uploads_abort(pending: list[tuple[str, str]]) -> None:
    for name, upload_id in pending:
        storage.multipart_abort(name, upload_id=upload_id)


# --- versions -----------------------------------------------------------------------------------------------


def dataset_version_add(*, dataset: Dataset, actor: User, upload: Any) -> DatasetVersion:
    """The next version from an uploaded file, processing until the conversion task runs."""
    received = file_receive(upload=upload)
    with _stored(received.name), transaction.atomic():
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
        version = _version_from_received(locked, received, actor=actor)
        generation_bump(LIST_GENERATION)
    return version


@transaction.atomic
def dataset_version_delete(*, version: DatasetVersion, actor: User) -> None:
    """Deletes one version and its files (after commit); 409 VERSION_IN_USE naming what uses it."""
    dataset = Dataset.objects.select_for_update().get(pk=version.dataset_id)
    version = DatasetVersion.objects.filter(pk=version.pk).first() or version
    _refuse_if_used([version])
    # A pipeline still building from it reads its Parquet copy: deleting it now would fail that version for a
    # reason nobody could see. Once built, a derived version holds its own copy (its lineage keeps the number).
    building = list(
        version.children.filter(status=DatasetVersion.Status.PROCESSING)
        .order_by("number")
        .values_list("number", flat=True)
    )
    if building:
        raise VersionInUse(
            _("Version %(number)d is being used to build version %(versions)s; delete it once that has finished.")
            % {"number": version.number, "versions": ", ".join(str(number) for number in building)},
            details={"version": version.number, "used_by": [{"kind": "dataset_version", "numbers": building}]},
        )
    payload = {**_version_payload(version), "project_id": dataset.project_id}
    version_id = version.id
    version.delete()
    latest = dataset.versions.order_by("-number").first()
    Dataset.objects.filter(pk=dataset.pk).update(
        latest_version=latest, version_count=F("version_count") - 1, updated_at=timezone.now()
    )
    event_record(
        type="dataset.version.deleted",
        topic=f"dataset:{dataset.id}",
        subject_type="dataset_version",
        subject_id=version_id,
        payload=payload,
        actor_id=actor.id,
        translations=_version_translations(version),
    )
    generation_bump(LIST_GENERATION)


def dataset_version_preprocess(*, version: DatasetVersion, actor: User, steps: Any) -> DatasetVersion:
    """A new version made from this one by a pipeline of steps, validated before anything runs (400 naming
    the step and field); the task that builds it runs after commit."""
    from .engine import pipeline

    if version.status != DatasetVersion.Status.READY:
        raise VersionNotReady()
    try:
        normalized = pipeline.validate(steps, version.columns)
    except engine_errors.PipelineInvalid as exc:
        step, field = exc.details.get("step"), exc.details.get("field")
        errors: Any = [exc.message]
        if field is not None:
            errors = {str(field): errors}
        raise InvalidInput({"pipeline": {str(step): errors} if step is not None else errors}) from exc
    with transaction.atomic():
        dataset = Dataset.objects.select_for_update(no_key=True).get(pk=version.dataset_id)
        # Under the dataset's lock, which a delete takes too: the version may have gone since it was read.
        if not dataset.versions.filter(pk=version.pk).exists():
            raise NotFound()
        new = _version_new(
            dataset,
            actor=actor,
            source=DatasetVersion.Source.PIPELINE,
            file_name=f"{dataset.name}-v{dataset.last_number + 1}.parquet",
            format="parquet",
            content_type="application/vnd.apache.parquet",
            parent=version,
            parent_number=version.number,
            pipeline=normalized,
        )
        _version_event("dataset.version.processing", new, project_id=dataset.project_id, actor_id=actor.id)
        _enqueue("version_build", new.id)
        generation_bump(LIST_GENERATION)
    return new


# --- presigned uploads --------------------------------------------------------------------------------------


UPLOAD_TTL = timedelta(hours=24)


def dataset_upload_start(*, dataset: Dataset, actor: User, data: dict[str, Any]) -> tuple[DatasetUpload, list[str]]:
    """A multipart upload straight to the bucket: the object's name, its upload id and one presigned URL per
    part. 409 OBJECT_STORAGE_REQUIRED on the filesystem storage. The format is checked by name now and by
    content when the upload completes."""
    if not storage.is_object_storage():
        raise ObjectStorageRequired()
    from django.conf import settings

    file_name = _file_name(data["file_name"])
    size = int(data["size"])
    if size > settings.API_MAX_UPLOAD_BYTES:
        raise InvalidInput({"size": [_("At most %(n)d bytes.") % {"n": settings.API_MAX_UPLOAD_BYTES}]})
    fmt = terms.format_of_extension(terms.extension_of(file_name))
    if fmt is None:
        raise UnsupportedFormat(details={"field": "file_name"})
    part_size, part_count = storage.part_size_for(size)
    name = f"{_object_prefix()}/original.{_extension(fmt)}"
    content_type = terms.CONTENT_TYPES[fmt]
    upload_id = storage.multipart_start(name, content_type=content_type)
    try:
        upload = DatasetUpload(
            dataset=dataset,
            created_by=actor,
            file_name=file_name,
            format=fmt,
            content_type=content_type,
            size=size,
            sha256=data["sha256"].lower(),
            object_name=name,
            upload_id=upload_id,
            part_size=part_size,
            part_count=part_count,
            expires_at=timezone.now() + UPLOAD_TTL,
        )
        model_clean(upload, exclude=["dataset"])
        upload.save()
    except BaseException:
        storage.multipart_abort(name, upload_id=upload_id)
        raise
    urls = storage.multipart_part_urls(name, upload_id=upload_id, part_count=part_count)
    return upload, urls


def _upload_locked(upload: DatasetUpload, *, expired_too: bool = False, completed_too: bool = False) -> DatasetUpload:
    """The upload's row, locked; UploadNotPending unless it is pending and unexpired (or expired, with
    `expired_too`; or completed into a version that still exists, with `completed_too`)."""
    if not storage.is_object_storage():  # the storage was changed since the upload began
        raise ObjectStorageRequired()
    locked = DatasetUpload.objects.select_for_update().filter(pk=upload.pk).first()
    if locked is None:
        raise NotFound()
    if completed_too and locked.status == DatasetUpload.Status.COMPLETED and locked.version_id is not None:
        return locked
    expired = locked.expires_at <= timezone.now()
    if locked.status != DatasetUpload.Status.PENDING or (expired and not expired_too):
        raise UploadNotPending(details={"status": "expired" if locked.status == "pending" else locked.status})
    return locked


def dataset_upload_complete(*, upload: DatasetUpload, actor: User, parts: list[dict[str, Any]]) -> DatasetVersion:
    """Assembles the parts, checks the object's size, and creates the version; the conversion task checks its
    SHA-256 before anything else (a mismatch fails the version and deletes the object)."""
    wrong_size: int | None = None
    with transaction.atomic():
        upload = _upload_locked(upload, completed_too=True)
        if upload.status == DatasetUpload.Status.COMPLETED and upload.version is not None:
            return upload.version  # a retry (its first answer was lost): the version it made
        expected = range(1, upload.part_count + 1)
        numbers = [number for part in parts if type(number := part.get("part_number")) is int]
        if len(numbers) == len(parts) and sorted(numbers) != list(expected):  # else the storage names what is wrong
            # Checked before the bucket assembles anything: S3 would make an object of the parts listed, and the
            # size check would then delete it with every part already sent.
            missing = sorted(set(expected) - set(numbers))
            repeated = sorted(number for number, count in Counter(numbers).items() if count > 1)
            raise UploadIncomplete(
                _("List each part of this upload once, numbered 1 to %(count)d.") % {"count": upload.part_count},
                details={
                    "field": "parts",
                    "missing": missing[:100],
                    "repeated": repeated[:100],
                    "unknown": sorted(set(numbers) - set(expected))[:100],
                    "part_count": upload.part_count,
                },
            )
        try:
            storage.multipart_complete(upload.object_name, upload_id=upload.upload_id, parts=parts)
        except storage.UploadIncomplete as exc:
            # A retry after a completion whose response (or whose transaction here) was lost: the bucket already
            # assembled the object, so go on with it.
            if exc.reason != "NoSuchUpload" or storage.object_size(upload.object_name) is None:
                raise UploadIncomplete(exc.message, details={"field": "parts", "reason": exc.reason}) from exc
        size = storage.object_size(upload.object_name)
        if size != upload.size:
            wrong_size = size if size is not None else 0
            # The object is not what was announced: it goes, and so does the upload.
            storage.delete_quietly(upload.object_name)
            upload.status = DatasetUpload.Status.ABORTED
            upload.save(update_fields=["status"])
        else:
            dataset = Dataset.objects.select_for_update(no_key=True).get(pk=upload.dataset_id)
            received = Received(
                name=upload.object_name,
                file_name=upload.file_name,
                format=upload.format,
                content_type=upload.content_type,
                encoding="",
                delimiter="",
                size=upload.size,
                sha256="",  # unknown until the task reads the object; upload.sha256 is what it must equal
            )
            version = _version_from_received(dataset, received, actor=actor, source=DatasetVersion.Source.PRESIGNED)
            upload.status = DatasetUpload.Status.COMPLETED
            upload.version = version
            upload.save(update_fields=["status", "version"])
            generation_bump(LIST_GENERATION)
    if wrong_size is not None:
        raise UploadIncomplete(
            _("The object has %(got)d bytes where %(want)d were announced.") % {"got": wrong_size, "want": upload.size},
            details={"field": "size"},
        )
    return version


@transaction.atomic
def dataset_upload_abort(*, upload: DatasetUpload, actor: User) -> None:
    """Drops an unfinished upload and its parts; one past its expiry too (its parts are still stored)."""
    _upload_abort(_upload_locked(upload, expired_too=True))


def _upload_abort(upload: DatasetUpload) -> None:
    upload.status = DatasetUpload.Status.ABORTED
    upload.save(update_fields=["status"])
    name, upload_id = upload.object_name, upload.upload_id
    transaction.on_commit(lambda: storage.multipart_abort(name, upload_id=upload_id))


# --- the work of tasks --------------------------------------------------------------------------------------


def _processing(version_id: int) -> DatasetVersion | None:
    """The version if it still waits for its files (a retry or a duplicate delivery finds it done)."""
    version = DatasetVersion.objects.select_related("dataset").filter(pk=version_id).first()
    if version is None or version.status != DatasetVersion.Status.PROCESSING:
        return None
    return version


class _Progress:
    """Reports a task's progress as the version's field and an outbox event, a handful of times per task. A version
    deleted meanwhile stops the work (isolated.Stop: its engine process is killed), so a delete frees the worker
    within a tenth of the job instead of at its end."""

    def __init__(self, version: DatasetVersion, *, field: str, event: str, stage: str) -> None:
        self.version, self.field, self.event, self.stage, self.last = version, field, event, stage, 0.0

    def __call__(self, fraction: float) -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        if fraction < 1.0 and fraction - self.last < PROGRESS_STEP:
            return
        self.last = fraction
        with transaction.atomic():
            updated = DatasetVersion.objects.filter(pk=self.version.pk).update(**{self.field: fraction})
            if not updated:
                raise isolated.Stop
            event_record(
                type=self.event,
                topic=f"dataset:{self.version.dataset_id}",
                subject_type="dataset_version",
                subject_id=self.version.id,
                payload={
                    "dataset_id": self.version.dataset_id,
                    "number": self.version.number,
                    "stage": self.stage,
                    "progress": round(fraction, 3),
                },
            )


def _version_fail(
    version_id: int,
    *,
    code: str,
    message: str,
    translations: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
    delete: tuple[str, ...] = (),
) -> None:
    """Fails a processing version. `message` is stored with its translations (given, or made from a
    messages.Message), so that each reader gets it in their language."""
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update(no_key=True)
            .select_related("dataset")
            .filter(pk=version_id)
            .first()
        )
        if version is None or version.status != DatasetVersion.Status.PROCESSING:
            storage.delete_quietly(*delete)
            return
        version.status = DatasetVersion.Status.FAILED
        version.error_code = code
        version.error_message = message[:2000]
        version.error_details = details or {}
        # Nothing is left to profile: the profile ends too, rather than stay `pending` for a client that waits on it.
        version.profile_status = DatasetVersion.ProfileStatus.FAILED
        version.profile_error = messages.gettext("The version failed, so it has no profile.")
        version.translations = {
            **version.translations,
            "error_message": translations if translations is not None else messages.translations(message),
            "profile_error": messages.translations(version.profile_error),
        }
        if version.original and version.original in delete:
            version.original = ""  # nothing left to download
        version.save(
            update_fields=[
                "original",
                "status",
                "error_code",
                "error_message",
                "error_details",
                "profile_status",
                "profile_error",
                "translations",
            ]
        )
        _version_event("dataset.version.failed", version, project_id=version.dataset.project_id)
        generation_bump(LIST_GENERATION)
    storage.delete_quietly(*delete)


def _version_ready(
    version_id: int,
    converted: Converted,
    *,
    parquet: str,
    parquet_size: int,
    parquet_sha256: str,
    extra: dict[str, Any] | None = None,
    later: bool = True,
) -> bool:
    """Marks the version ready with its Parquet copy; False (and the copy deleted) if it went away. `later`:
    queue its profile, unless the caller profiles it at once."""
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update(no_key=True)
            .select_related("dataset")
            .filter(pk=version_id)
            .first()
        )
        if version is None or version.status != DatasetVersion.Status.PROCESSING:
            transaction.on_commit(lambda: storage.delete_quietly(parquet))
            return False
        for field, value in (extra or {}).items():
            setattr(version, field, value)
        version.status = DatasetVersion.Status.READY
        version.progress = 1.0
        version.row_count = converted.row_count
        version.columns = converted.columns
        version.parquet = parquet
        version.parquet_size = parquet_size
        version.parquet_sha256 = parquet_sha256
        version.ready_at = timezone.now()
        version.save()
        _version_event(
            "dataset.version.ready", version, project_id=version.dataset.project_id, columns=len(converted.columns)
        )
        if later:
            _enqueue("version_profile", version.id)
        generation_bump(LIST_GENERATION)
    return True


def _attempt_name(version: DatasetVersion, stem: str) -> str:
    """A file name for one attempt at a version's derived file: beside its original, unique per attempt, so
    two deliveries of the same task never overwrite (or clean up) each other's file; the loser deletes its own."""
    folder = version.original.rsplit("/", 1)[0] if version.original else _object_prefix()
    return f"{folder}/{stem}-{uuid.uuid4().hex[:12]}"


def _store_parquet(local: str, name: str) -> tuple[int, str]:
    sha256, size = _sha256_file(local)
    storage.store(local, name, content_type="application/vnd.apache.parquet", link=True)
    return size, sha256


def dataset_version_convert(*, version_id: int) -> str | None:
    """The task's work: the original, checked (a presigned upload's SHA-256) and converted once to the
    canonical Parquet copy; ready, or failed with the row and column of the first problem; then profiled. When the
    storage was out of reach nothing failed: returns the task to send again later (this one, or the profile's)."""
    work = tempfile.mkdtemp(prefix="incubator-convert-")
    try:
        return _convert_in(version_id, os.path.join(work, "data.parquet"))
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Conversion:
    """One conversion's state as the engine reports it: the Parquet copy written (the step "converted": stored, and
    the version made ready) and, in the same engine process, its profile (the result)."""

    def __init__(self, version: DatasetVersion, target: str) -> None:
        self.version, self.target = version, target
        self.parquet_name = _attempt_name(version, "data") + ".parquet"
        self.progress: Any = _Progress(version, field="progress", event="dataset.version.progress", stage="processing")
        self.extra: dict[str, Any] = {}
        self.ready = False  # past the conversion: what fails now is the profile's, not the version's

    def converted(self, step: str, value: dict[str, Any]) -> None:
        detected = value["detected"]
        if self.version.source == DatasetVersion.Source.PRESIGNED:  # found by the engine, not at upload
            self.extra.update(
                format=detected["format"],
                content_type=detected["content_type"],
                encoding=detected["encoding"] or "",
                delimiter=detected["delimiter"] or "",
            )
        self.progress(0.9)
        size, sha256 = _store_parquet(self.target, self.parquet_name)
        converted = Converted(**value["converted"])
        if not _version_ready(
            self.version.id,
            converted,
            parquet=self.parquet_name,
            parquet_size=size,
            parquet_sha256=sha256,
            extra=self.extra,
            later=False,
        ):
            raise isolated.Stop
        # The profile follows in the same engine process, on the file just written (no second download).
        profiling = _profile_start(self.version.id)
        if profiling is None:
            raise isolated.Stop
        self.ready = True
        self.progress = _profile_progress(profiling)


def _convert_in(version_id: int, target: str) -> str | None:
    version = _processing(version_id)
    if version is None:
        return None
    conversion = _Conversion(version, target)
    try:
        local = storage.local_copy(version.original)
        conversion.progress(0.1)
        detected: dict[str, Any] | None = None
        if version.source == DatasetVersion.Source.PRESIGNED:
            upload = DatasetUpload.objects.filter(version_id=version.id).first()
            sha256, size = _sha256_file(local)
            if upload is None or sha256 != upload.sha256 or size != upload.size:
                _version_fail(
                    version_id,
                    code="UPLOAD_INCOMPLETE",
                    message=messages.gettext("The uploaded file's SHA-256 does not match the one announced."),
                    details={"sha256": sha256, "expected": upload.sha256 if upload else None},
                    delete=(version.original,),
                )
                return None
            conversion.extra["sha256"] = sha256
        else:
            detected = {
                "format": version.format,
                "encoding": version.encoding or None,
                "delimiter": version.delimiter or None,
                "content_type": version.content_type,
            }
        result = isolated.run(
            "convert",
            progress=lambda fraction: conversion.progress(fraction),
            on_step=conversion.converted,
            path=local,
            target=target,
            file_name=version.file_name,
            detected=detected,
            profile=True,
        )
    except isolated.Stop:  # the version was deleted: its delete removes what was stored
        return None
    except engine_errors.EngineError as exc:
        if conversion.ready:
            _profile_fail(version_id, exc)
            return None
        code = "UNSUPPORTED_MEDIA_TYPE" if isinstance(exc, engine_errors.UnsupportedFormat) else "FILE_UNREADABLE"
        _version_fail(
            version_id,
            code=code,
            message=exc.message,
            translations=exc.translations(),
            details=exc.details,
            delete=(conversion.parquet_name,),
        )
        return None
    except Exception as exc:
        if object_storage_unreachable(exc):
            if conversion.ready:
                return _storage_wait(version_id, exc, profile=True)
            return _storage_wait(version_id, exc, task="version_convert", delete=(conversion.parquet_name,))
        if conversion.ready:
            _profile_fail(version_id, exc)
            return None
        logger.exception("dataset version %s: conversion failed", version_id)
        _version_fail(
            version_id,
            code="INTERNAL_ERROR",
            message=messages.gettext("The file could not be converted."),
            delete=(conversion.parquet_name,),
        )
        return None
    if result is not None:
        _profile_save(version_id, result["profile"])
    return None


def dataset_version_build(*, version_id: int) -> str | None:
    """The task's work for a pipeline's version: the parent's Parquet copy through the pipeline. The task to send
    again later when the storage was out of reach (as for dataset_version_convert)."""
    version = _processing(version_id)
    if version is None:
        return None
    parent = None
    if version.parent_id is not None:
        parent = DatasetVersion.objects.filter(pk=version.parent_id, status=DatasetVersion.Status.READY).first()
    if parent is None:
        _version_fail(
            version_id,
            code="VERSION_NOT_READY",
            message=messages.gettext("The version this one is made from was deleted before it was built."),
        )
        return None
    name = _attempt_name(version, "data") + ".parquet"
    try:
        source = storage.local_copy(parent.parquet)
        with tempfile.TemporaryDirectory(prefix="incubator-pipeline-") as work:
            target = os.path.join(work, "data.parquet")
            converted = Converted(
                **isolated.run("pipeline", source=source, steps=version.pipeline or [], target=target)
            )
            size, sha256 = _store_parquet(target, name)
    except engine_errors.EngineError as exc:
        _version_fail(
            version_id,
            code="PIPELINE_FAILED",
            message=exc.message,
            translations=exc.translations(),
            details=exc.details,
            delete=(name,),
        )
        return None
    except Exception as exc:
        if object_storage_unreachable(exc):
            return _storage_wait(version_id, exc, task="version_build", delete=(name,))
        logger.exception("dataset version %s: pipeline failed", version_id)
        message = messages.gettext("The pipeline could not be run.")
        _version_fail(version_id, code="INTERNAL_ERROR", message=message, delete=(name,))
        return None
    _version_ready(
        version_id,
        converted,
        parquet=name,
        parquet_size=size,
        parquet_sha256=sha256,
        extra={"size": size, "sha256": sha256, "original": name},
    )
    return None


def dataset_version_profile(*, version_id: int) -> str | None:
    """The task's work: the profile of a ready version, with progress events; done once. (A conversion profiles
    the version it made ready itself, in the same engine process: this task is for a pipeline's version, and
    for a profile left undone.)"""
    version = _profile_start(version_id)
    if version is None:
        return None
    progress = _profile_progress(version)
    try:
        result = isolated.run("profile", progress=progress, path=storage.local_copy(version.parquet))
    except Exception as exc:  # noqa: BLE001 - logged, with its traceback, by _profile_fail
        if object_storage_unreachable(exc):
            return _storage_wait(version_id, exc, profile=True)
        _profile_fail(version_id, exc)
        return None
    if result is not None:  # None: stopped, the version deleted
        _profile_save(version_id, result)
    return None


def _storage_wait(
    version_id: int,
    exc: Exception,
    *,
    task: str = "version_profile",
    profile: bool = False,
    delete: tuple[str, ...] = (),
) -> str:
    """The bucket could not be reached: not the file's fault, so nothing fails. The version stays processing (or its
    profile pending). Returns `task`, which the caller's task sends again in a while (datasets.tasks.again), with
    datasets.requeue_stale as the net behind that."""
    logger.warning("dataset version %s: the storage is unreachable (%s); the work is sent again later", version_id, exc)
    if profile:
        DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.READY).exclude(
            profile_status=DatasetVersion.ProfileStatus.READY
        ).update(profile_status=DatasetVersion.ProfileStatus.PENDING, profile_progress=0.0)
    storage.delete_quietly(*delete)
    return task


def _profile_progress(version: DatasetVersion) -> _Progress:
    return _Progress(version, field="profile_progress", event="dataset.profile.progress", stage="profile")


def _profile_start(version_id: int) -> DatasetVersion | None:
    """The version, its profile marked running; None when it is not ready or already profiled."""
    with transaction.atomic():
        version = (
            DatasetVersion.objects.select_for_update(no_key=True)
            .select_related("dataset")
            .filter(pk=version_id)
            .first()
        )
        if version is None or version.status != DatasetVersion.Status.READY:
            return None
        if version.profile_status == DatasetVersion.ProfileStatus.READY:
            return None
        version.profile_status = DatasetVersion.ProfileStatus.RUNNING
        version.profile_progress = 0.0
        version.save(update_fields=["profile_status", "profile_progress"])
    return version


def _profile_fail(version_id: int, exc: Exception) -> None:
    logger.error("dataset version %s: profiling failed", version_id, exc_info=exc)
    message = messages.gettext("The profile could not be computed.")
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update(no_key=True).filter(pk=version_id).first()
        if version is None:
            return
        version.profile_status = DatasetVersion.ProfileStatus.FAILED
        version.profile_error = message
        version.translations = {**version.translations, "profile_error": messages.translations(message)}
        version.save(update_fields=["profile_status", "profile_error", "translations"])


def _profile_save(version_id: int, result: dict[str, Any]) -> None:
    with transaction.atomic():
        version = DatasetVersion.objects.select_related("dataset").filter(pk=version_id).first()
        updated = DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.READY).update(
            profile=json_storable(result),
            profile_status=DatasetVersion.ProfileStatus.READY,
            profile_progress=1.0,
            profile_error="",
            profiled_at=timezone.now(),
        )
        if updated and version is not None:
            _version_event("dataset.profile.ready", version, project_id=version.dataset.project_id)
            _enqueue("version_export_csv", version.id)


def dataset_version_export_csv(*, version_id: int) -> None:
    """The task's work: the CSV copy of a ready version, written once (a concurrent second copy is dropped)."""
    version = DatasetVersion.objects.filter(pk=version_id, status=DatasetVersion.Status.READY, csv="").first()
    if version is None:
        return
    name = _attempt_name(version, "export") + ".csv"
    with tempfile.TemporaryDirectory(prefix="incubator-export-") as work:
        target = os.path.join(work, "export.csv")
        try:
            isolated.run("export_csv", source=storage.local_copy(version.parquet), target=target)
        except Exception as exc:
            if object_storage_unreachable(exc):
                raise  # not the data's fault: the next download asks again
            _export_fail(version_id, exc)
            return
        sha256, size = _sha256_file(target)
        with _stored(name):
            storage.store(target, name, content_type="text/csv")
    with transaction.atomic():
        updated = DatasetVersion.objects.filter(pk=version_id, csv="").update(
            csv=name, csv_size=size, csv_sha256=sha256
        )
    if not updated:
        storage.delete_quietly(name)


def _export_fail(version_id: int, exc: Exception) -> None:
    """The engine could not write the version as CSV: the reason is kept (with its translations), so downloads
    of the CSV copy answer EXPORT_FAILED instead of starting an export that fails again each time."""
    logger.exception("dataset version %s: the CSV export failed", version_id)
    if isinstance(exc, engine_errors.EngineError):  # the engine's own reason (a crash is isolated.EngineCrashed)
        message, translations = exc.message, exc.translations()
    else:
        message = messages.gettext("This version cannot be written as CSV; download it as Parquet or as uploaded.")
        translations = messages.translations(message)
    with transaction.atomic():
        version = DatasetVersion.objects.select_for_update(no_key=True).filter(pk=version_id, csv="").first()
        if version is None:
            return
        version.csv_error = message[:2000]
        version.translations = {**version.translations, "csv_error": translations}
        version.save(update_fields=["csv_error", "translations"])


def dataset_version_csv_request(*, version: DatasetVersion) -> None:
    """A CSV download was asked for before the copy exists (it is made after the profile): queue it now, and
    tell the caller to come back. A duplicate task finds the copy made and returns. A copy that could not be made
    is a 409 EXPORT_FAILED saying why."""
    if version.csv_error:
        raise ExportFailed(messages.localized(version.csv_error, version.translations.get("csv_error")))
    _enqueue("version_export_csv", version.id)
    raise ExportPreparing(details={"retry_after": 3})


def dataset_versions_requeue_stale(*, older_than: timedelta) -> int:
    """Sends again the work of versions left waiting longer than `older_than`: tasks lost with an in-memory
    broker when the server stopped, or with a worker that died past the broker's redelivery. A version that is
    in fact still being worked on gets a second delivery, which finds it done or writes its own attempt's file
    and loses the race harmlessly. Returns how many tasks were sent."""
    from . import tasks

    cutoff = timezone.now() - older_than
    sent = 0
    waiting = DatasetVersion.objects.filter(status=DatasetVersion.Status.PROCESSING, created_at__lt=cutoff)
    for version_id, source, language in waiting.values_list("id", "source", "language"):
        task = tasks.version_build if source == DatasetVersion.Source.PIPELINE else tasks.version_convert
        task.delay(version_id, language=language or None)  # the language of the request that made it
        sent += 1
    unprofiled = DatasetVersion.objects.filter(
        status=DatasetVersion.Status.READY,
        profile_status__in=[DatasetVersion.ProfileStatus.PENDING, DatasetVersion.ProfileStatus.RUNNING],
        ready_at__lt=cutoff,
    )
    for version_id, language in unprofiled.values_list("id", "language"):
        # A profile left running by a dead worker starts over.
        DatasetVersion.objects.filter(pk=version_id).update(profile_status=DatasetVersion.ProfileStatus.PENDING)
        tasks.version_profile.delay(version_id, language=language or None)
        sent += 1
    if sent:
        logger.warning("datasets: %d tasks sent again for versions left waiting", sent)
    return sent


# --- sweeps: files whose delete failed, uploads left unfinished -------------------------------------------------

FILE_DELETION_RETRY = timedelta(minutes=5)  # then twice as long each time, up to FILE_DELETION_RETRY_MAX
FILE_DELETION_RETRY_MAX = timedelta(hours=6)


def file_deletion_remember(*, name: str, error: str) -> None:
    """Keeps a file whose delete failed for file_deletions_retry (storage.delete_quietly calls this). In a
    savepoint of its own, so a failure here (the database down too) leaves a caller's transaction usable."""
    try:
        with transaction.atomic():
            FileDeletion.objects.create(
                name=name, last_error=error[:2000], next_attempt_at=timezone.now() + FILE_DELETION_RETRY
            )
    except Exception:  # noqa: BLE001 - logged; the caller's own error is the one to surface
        logger.exception("%s could not be kept for a later delete: it stays in the storage", name)


def file_deletions_retry(*, limit: int = 500) -> int:
    """Deletes again the files whose delete failed and is due (a beat task), and any unfinished upload to their
    names; one that fails again waits twice as long. Returns how many went. Two runs at once delete a file twice,
    which is harmless: names are never reused."""
    now = timezone.now()
    gone = 0
    for deletion in list(FileDeletion.objects.filter(next_attempt_at__lte=now)[:limit]):
        try:
            storage.delete(deletion.name, unfinished_uploads=True)
        except Exception as error:  # noqa: BLE001 - whatever it is, tried again later
            delay = min(FILE_DELETION_RETRY * 2**deletion.attempts, FILE_DELETION_RETRY_MAX)
            FileDeletion.objects.filter(pk=deletion.pk).update(
                attempts=F("attempts") + 1,
                last_error=f"{type(error).__name__}: {error}"[:2000],
                next_attempt_at=now + delay,
            )
            logger.warning("datasets: %s still cannot be deleted (%s); next try in %s", deletion.name, error, delay)
        else:
            FileDeletion.objects.filter(pk=deletion.pk).delete()
            gone += 1
    return gone


def dataset_uploads_expire() -> int:
    """Aborts the presigned uploads past their expiry that were never completed (a beat task): their parts are
    stored, and billed, until then. Returns how many."""
    expired = 0
    for upload_id in DatasetUpload.objects.filter(
        status=DatasetUpload.Status.PENDING, expires_at__lte=timezone.now()
    ).values_list("pk", flat=True):
        with transaction.atomic():
            upload = DatasetUpload.objects.select_for_update().filter(pk=upload_id).first()
            if upload is None or upload.status != DatasetUpload.Status.PENDING:
                continue
            _upload_abort(upload)
            expired += 1
    return expired
