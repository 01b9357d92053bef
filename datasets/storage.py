"""Dataset files in the "datasets" storage (local files under var/, or an S3-compatible bucket): one API for both.

A name is a storage-relative POSIX path chosen by the services, never by a user (e.g. "datasets/42/original.csv").
Names are immutable: written once under exactly that name, never overwritten or renamed, deleted with their dataset.
That is what makes local copies safe to cache and presigned URLs safe to hand out.

Everyday use:
    store(local_path, name, content_type=...)      write a file the worker produced (FileExistsError if taken)
    local_copy(name) -> path                       read it with the engine (a cached copy on object storage)
    open_for_download(name) / presigned_download_url(name, file_name=..., content_type=...)
    delete_quietly(*names)                          clean up after a failure (a failed delete is tried again later)
    delete(name) / delete_prefix(folder)            remove, raising if the storage fails

Browser uploads (object storage only; ObjectStorageRequired otherwise), straight to the bucket:
    size -> part_size_for(size) -> (part_size, part_count)
    multipart_start(name, content_type=...) -> upload_id
    multipart_part_urls(name, upload_id=..., part_count=...) -> one presigned PUT URL per part (1-based order)
    the browser PUTs bytes [i * part_size, (i + 1) * part_size) to URL i and keeps each response's ETag header
    multipart_complete(name, upload_id=..., parts=[{"part_number": 1, "etag": "..."}, ...])  (or multipart_abort)
    object_size(name) and sha256_of(name) let a worker check what arrived.
The bucket must allow those cross-origin PUTs and expose ETag: see browser_upload_cors_rule().
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any, TypeGuard, cast
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.core.files.utils import validate_file_name
from django.utils.translation import gettext, gettext_noop
from storages.utils import clean_name

if TYPE_CHECKING:
    from botocore.exceptions import ClientError
    from storages.backends.s3 import S3Storage

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
# Parts: S3 refuses parts under 5 MiB (but the last) and uploads of more than 10,000 parts; 8 MiB parts keep the
# number of requests (and presigned URLs) for a 512 MB upload at 64.
S3_MIN_PART_SIZE = 5 * MiB
MIN_PART_SIZE = 8 * MiB
MAX_PARTS = 10_000
MAX_PART_SIZE = 5 * 1024 * MiB
MAX_OBJECT_SIZE = 5 * 1024 * 1024 * MiB
# store() sends files above this size in parallel parts.
MULTIPART_THRESHOLD = 16 * MiB
# A cached copy used this recently may still be open by its caller (the engine opens a file more than once):
# eviction leaves it alone, so DATASETS_CACHE_MAX_BYTES is a soft limit.
CACHE_IN_USE_SECONDS = 120
# A download's temporary file this old was left by a process that died mid-download.
CACHE_STALE_TEMP_SECONDS = 3600
_CHUNK = MiB
_TEMP_PREFIX = ".tmp-"


class ObjectStorageRequired(Exception):
    """The operation exists only on object storage (presigned URLs, browser uploads); set AWS_STORAGE_BUCKET_NAME."""


class UploadIncomplete(Exception):
    """A multipart upload cannot be completed as described. `reason` is S3's error code (e.g. "InvalidPart")."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


def datasets_storage() -> Storage:
    """The storage that holds dataset files (STORAGES["datasets"]), so callers never name a backend."""
    return storages["datasets"]


def is_object_storage() -> bool:
    """Whether files live in a bucket: downloads then redirect to presigned URLs and uploads go to the bucket."""
    return _is_s3(datasets_storage())


# Writing and deleting


def store(local_path: str, name: str, *, content_type: str, link: bool = False) -> None:
    """Put a local file under exactly `name`, whole or not at all; FileExistsError if the name is taken.
    `link=True` (the caller's own temporary file, never written again): on the filesystem storage the file is
    linked into place instead of copied when both are on one filesystem, which saves writing a large upload a
    second time."""
    _check_name(name)
    storage = datasets_storage()
    if _is_s3(storage):
        key = _key(storage, name)
        # A check, not a conditional write (s3transfer cannot send If-None-Match): two stores of one name at once
        # would both succeed, which unique names per dataset version rule out.
        if _head(storage, key) is not None:
            raise FileExistsError(f"{name} already exists in the datasets storage.")
        part_size, _ = part_size_for(os.path.getsize(local_path))
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=part_size, max_concurrency=4
        )
        # s3transfer aborts its own multipart upload when a part fails, so a failure leaves nothing behind.
        _client(storage).upload_file(
            local_path,
            storage.bucket_name,
            key,
            ExtraArgs=_write_parameters(storage, key, content_type),
            Config=config,
        )
        return
    if link and _link_file(_filesystem(storage), local_path, name):
        return
    _store_file(_filesystem(storage), local_path, name)


def _link_file(storage: FileSystemStorage, local_path: str, name: str) -> bool:
    """Link a finished temporary file into place; False when the filesystems differ (then it is copied)."""
    target = Path(storage.path(name))
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(local_path, "rb") as source:
        os.fsync(source.fileno())  # the data is on disk before the name points at it
    try:
        os.link(local_path, target)
    except FileExistsError:
        raise FileExistsError(f"{name} already exists in the datasets storage.") from None
    except OSError:
        return False  # another filesystem, or none with hard links
    if storage.file_permissions_mode is not None:
        os.chmod(target, storage.file_permissions_mode)
    return True


def _store_file(storage: FileSystemStorage, local_path: str, name: str) -> None:
    """Copy beside the target, then link it into place: readers never see a partial file, and a link (unlike a
    rename) fails rather than overwrite a file another process stored meanwhile."""
    target = Path(storage.path(name))
    if target.exists():
        raise FileExistsError(f"{name} already exists in the datasets storage.")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=_TEMP_PREFIX)
    os.close(fd)
    try:
        shutil.copyfile(local_path, temp)
        with open(temp, "rb") as copy:
            os.fsync(copy.fileno())  # the data is on disk before the name points at it
        if storage.file_permissions_mode is not None:
            os.chmod(temp, storage.file_permissions_mode)
        try:
            os.link(temp, target)
        except FileExistsError:
            raise FileExistsError(f"{name} already exists in the datasets storage.") from None
        except OSError:
            # A filesystem without hard links: check, then rename (a concurrent store of the same name could win).
            if target.exists():
                raise FileExistsError(f"{name} already exists in the datasets storage.") from None
            os.replace(temp, target)
    finally:
        _unlink_quietly(temp)


def delete_quietly(*names: str) -> None:
    """Remove files if they exist, for clean-up after a failure: logs errors and never raises, so the original
    error is the one that surfaces. A delete that fails (the bucket unreachable) is kept and tried again later
    (datasets.services.file_deletions_retry), so the file does not stay for good."""
    for name in names:
        try:
            _check_name(name)
        except SuspiciousFileOperation:
            logger.exception("Could not delete %s from the datasets storage", name)
            continue
        try:
            datasets_storage().delete(name)
        except Exception as error:
            logger.exception("Could not delete %s from the datasets storage; it will be tried again", name)
            _delete_later(name, error)


def delete(name: str, *, unfinished_uploads: bool = False) -> None:
    """Remove a file (nothing to do if it is not there); raises when the storage fails. With `unfinished_uploads`,
    on object storage also abort the unfinished multipart uploads to that name (an abort that failed)."""
    _check_name(name)
    storage = datasets_storage()
    storage.delete(name)
    if not (unfinished_uploads and _is_s3(storage)):
        return
    client, key = _client(storage), _key(storage, name)
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=storage.bucket_name, Prefix=key):
        for upload in page.get("Uploads", []):
            if upload["Key"] == key and (error := _abort(storage, key, upload["UploadId"])) is not None:
                raise error


def _delete_later(name: str, error: BaseException) -> None:
    from .services import file_deletion_remember  # services import this module

    file_deletion_remember(name=name, error=f"{type(error).__name__}: {error}")


def delete_prefix(prefix: str) -> None:
    """Remove every file under a folder (a deleted dataset's "datasets/42"), and on object storage every unfinished
    upload there, whose parts would otherwise be kept and billed."""
    prefix = prefix.rstrip("/")
    _check_name(prefix)
    storage = datasets_storage()
    if _is_s3(storage):
        client = _client(storage)
        key_prefix = _key(storage, prefix) + "/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=storage.bucket_name, Prefix=key_prefix):
            objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if objects:  # a page holds at most 1,000 keys: DeleteObjects' limit
                result = client.delete_objects(Bucket=storage.bucket_name, Delete={"Objects": objects, "Quiet": True})
                if result.get("Errors"):
                    error = result["Errors"][0]
                    raise OSError(f"Could not delete {error['Key']}: {error.get('Code')} {error.get('Message')}")
        for page in client.get_paginator("list_multipart_uploads").paginate(
            Bucket=storage.bucket_name, Prefix=key_prefix
        ):
            for upload in page.get("Uploads", []):
                _abort(storage, upload["Key"], upload["UploadId"])
        return
    folder = _filesystem(storage).path(prefix)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    elif os.path.exists(folder):
        raise NotADirectoryError(f"{prefix} is a file, not a folder of the datasets storage.")


# Reading


def object_size(name: str) -> int | None:
    """The stored file's size in bytes, or None when there is no such file (e.g. an upload never completed)."""
    _check_name(name)
    storage = datasets_storage()
    if _is_s3(storage):
        head = _head(storage, _key(storage, name))
        return None if head is None else int(head["ContentLength"])
    try:
        return os.path.getsize(_filesystem(storage).path(name))
    except FileNotFoundError:
        return None


def local_copy(name: str) -> str:
    """A local path to read the file with (the engine needs paths): the file itself on the filesystem, else a copy
    cached under DATASETS_CACHE_DIR. Read it, never modify or delete it; FileNotFoundError if there is no such file."""
    _check_name(name)
    storage = datasets_storage()
    if _is_s3(storage):
        return _cached_copy(storage, name)
    path = _filesystem(storage).path(name)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{name} is not in the datasets storage.")
    return path


def _cached_copy(storage: S3Storage, name: str) -> str:
    """The cached copy of the object, downloaded on a miss.

    The copy is keyed by the bucket, the key and the object's ETag, checked with one HEAD per call: a name deleted and
    stored again (a retried upload) never serves the old bytes, on this machine or any other. Downloads go to a
    temporary file renamed into place, so concurrent callers (threads or processes) each get a whole file.
    """
    key = _key(storage, name)
    head = _head(storage, key)
    if head is None:
        raise FileNotFoundError(f"{name} is not in the datasets storage.")
    etag, size = str(head["ETag"]), int(head["ContentLength"])
    cache_dir = Path(settings.DATASETS_CACHE_DIR)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name_hash = hashlib.sha256(f"{storage.bucket_name}/{key}".encode()).hexdigest()[:32]
    version_hash = hashlib.sha256(etag.encode()).hexdigest()[:16]
    path = cache_dir / f"{name_hash}-{version_hash}{_safe_suffix(name)}"
    try:
        if path.stat().st_size == size:
            os.utime(path)  # recently used: the last to be evicted
            return str(path)
    except FileNotFoundError:
        pass
    _download(storage, key, etag=etag, size=size, path=path)
    for other in cache_dir.glob(f"{name_hash}-*"):
        if other != path:  # an older version of the name (deleted, then stored again)
            _unlink_quietly(str(other))
    _evict(cache_dir, keep=path, max_bytes=settings.DATASETS_CACHE_MAX_BYTES)
    return str(path)


def _download(storage: S3Storage, key: str, *, etag: str, size: int, path: Path) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=_TEMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            # IfMatch: the bytes are those of the version the cache key names, even if the name was replaced since.
            body = _client(storage).get_object(Bucket=storage.bucket_name, Key=key, IfMatch=etag)["Body"]
            try:
                for chunk in body.iter_chunks(_CHUNK):
                    out.write(chunk)
            finally:
                body.close()
        if os.path.getsize(temp) != size:
            raise OSError(f"Downloaded {os.path.getsize(temp)} bytes of {key}, expected {size}.")
        os.replace(temp, path)
    finally:
        _unlink_quietly(temp)


def _evict(cache_dir: Path, *, keep: Path, max_bytes: int) -> None:
    """Remove the least recently used copies until the cache fits in max_bytes, sparing `keep` and copies in use."""
    now = time.time()
    entries: list[tuple[float, int, str]] = []
    total = 0
    for entry in os.scandir(cache_dir):
        try:
            if not entry.is_file():
                continue
            stat = entry.stat()
        except FileNotFoundError:  # removed by another process meanwhile
            continue
        if entry.name.startswith(_TEMP_PREFIX):
            if now - stat.st_mtime > CACHE_STALE_TEMP_SECONDS:
                _unlink_quietly(entry.path)
            continue
        total += stat.st_size
        entries.append((stat.st_mtime, stat.st_size, entry.path))
    for mtime, size, path in sorted(entries):
        if total <= max_bytes:
            break
        if path == str(keep) or now - mtime < CACHE_IN_USE_SECONDS:
            continue
        _unlink_quietly(path)
        total -= size


def open_for_download(name: str) -> tuple[IO[bytes], int]:
    """The open file and its size, for a streaming response; the caller closes it. Seekable (so Range requests can be
    served) on the filesystem; on object storage a forward-only stream: redirect to presigned_download_url there."""
    _check_name(name)
    storage = datasets_storage()
    if _is_s3(storage):
        from botocore.exceptions import ClientError  # imported with S3Storage already: free

        try:
            response = _client(storage).get_object(Bucket=storage.bucket_name, Key=_key(storage, name))
        except ClientError as error:
            if _status(error) == 404:
                raise FileNotFoundError(f"{name} is not in the datasets storage.") from None
            raise
        return cast(IO[bytes], response["Body"]), int(response["ContentLength"])
    file = open(_filesystem(storage).path(name), "rb")  # the caller owns it and closes it
    return file, os.fstat(file.fileno()).st_size


def sha256_of(name: str) -> str:
    """The file's SHA-256 (hex), read in chunks: a worker checks a browser upload against the client's digest. On
    object storage this streams the object; a caller that also needs it locally hashes local_copy(name) instead."""
    _check_name(name)
    storage = datasets_storage()
    digest = hashlib.sha256()
    if _is_s3(storage):
        from botocore.exceptions import ClientError  # imported with S3Storage already: free

        try:
            body = _client(storage).get_object(Bucket=storage.bucket_name, Key=_key(storage, name))["Body"]
        except ClientError as error:
            if _status(error) == 404:
                raise FileNotFoundError(f"{name} is not in the datasets storage.") from None
            raise
        try:
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
        finally:
            body.close()
        return digest.hexdigest()
    with open(_filesystem(storage).path(name), "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def presigned_download_url(
    name: str, *, file_name: str, content_type: str, expires: int | None = None, ascii_name: str | None = None
) -> str:
    """A short-lived URL the browser downloads from directly, saving the file as `file_name` (any language; see
    content_disposition for `ascii_name`); `expires` in seconds, DATASETS_PRESIGN_DOWNLOAD_EXPIRES by default. It
    does not check that the file exists."""
    storage = _object_storage()
    _check_name(name)
    disposition = content_disposition(file_name, ascii_name=ascii_name)
    parameters = {"ResponseContentDisposition": disposition, "ResponseContentType": content_type}
    expire = settings.DATASETS_PRESIGN_DOWNLOAD_EXPIRES if expires is None else expires
    return str(storage.url(name, parameters=parameters, expire=expire))


def content_disposition(file_name: str, *, ascii_name: str | None = None) -> str:
    """An attachment header naming the file per RFC 6266: filename*= carries the real (e.g. Chinese) name, and
    filename= an ASCII approximation for clients that ignore filename*: of `ascii_name` when the caller has a
    better one (say, the report's key for a Chinese title), else of `file_name`. Also for filesystem downloads."""
    fallback = _ascii_file_name(ascii_name or file_name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(file_name, safe='')}"


def _ascii_file_name(file_name: str) -> str:
    suffix = PurePosixPath(file_name).suffix
    stem = file_name[: len(file_name) - len(suffix)] if suffix else file_name
    ascii_stem = _ascii(stem).strip(" .-")  # "训练任务-20261127" keeps "20261127", not "-20261127"
    if not re.search(r"[A-Za-z0-9]", ascii_stem):
        ascii_stem = "download"
    return ascii_stem + _ascii(suffix)


def _ascii(text: str) -> str:
    """Accents dropped (é -> e), anything not safe inside a quoted header value replaced by "_"."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9 ._()\[\]+,=@-]", "_", text).strip()


# Browser uploads: presigned multipart


def browser_upload_cors_rule(allowed_origins: Sequence[str]) -> dict[str, Any]:
    """The bucket CORS rule browser uploads need (PutBucketCors's CORSRules entry). The operator sets it once, e.g.

        aws s3api put-bucket-cors --bucket B --cors-configuration \\
          '{"CORSRules": [{"AllowedOrigins": ["https://app.example.org"], "AllowedMethods": ["PUT", "GET", "HEAD"],
            "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3600}]}'

    (MinIO: `mc cors set`, or its MINIO_API_CORS_ALLOW_ORIGIN, which exposes ETag already). Without ExposeHeaders
    ETag the browser cannot read the part's ETag, and multipart_complete cannot be called.
    """
    return {
        "AllowedOrigins": list(allowed_origins),
        "AllowedMethods": ["PUT", "GET", "HEAD"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 3600,
    }


def part_size_for(size: int) -> tuple[int, int]:
    """(part size, part count) for an upload of `size` bytes: parts of at least 8 MiB, whole MiB, at most 10,000."""
    if size < 0 or size > MAX_OBJECT_SIZE:
        raise ValueError(f"An upload must be 0 to {MAX_OBJECT_SIZE} bytes, got {size}.")
    part_size = max(MIN_PART_SIZE, -(-size // MAX_PARTS))
    part_size = -(-part_size // MiB) * MiB
    return part_size, max(1, -(-size // part_size))


def multipart_start(name: str, *, content_type: str) -> str:
    """Begin a browser upload to `name` and return its upload id; FileExistsError if the name is taken."""
    storage = _object_storage()
    _check_name(name)
    key = _key(storage, name)
    if _head(storage, key) is not None:
        raise FileExistsError(f"{name} already exists in the datasets storage.")
    response = _client(storage).create_multipart_upload(
        Bucket=storage.bucket_name, Key=key, **_write_parameters(storage, key, content_type)
    )
    return str(response["UploadId"])


def multipart_part_urls(name: str, *, upload_id: str, part_count: int, expires: int | None = None) -> list[str]:
    """Presigned PUT URLs for parts 1..part_count, in order (signing is local: no request to the bucket);
    `expires` in seconds, DATASETS_PRESIGN_UPLOAD_EXPIRES by default. Call again for fresh URLs to resume."""
    storage = _object_storage()
    _check_name(name)
    if not 1 <= part_count <= MAX_PARTS:
        raise ValueError(f"part_count must be 1 to {MAX_PARTS}, got {part_count}.")
    expire = settings.DATASETS_PRESIGN_UPLOAD_EXPIRES if expires is None else expires
    client = _client(storage)
    key = _key(storage, name)
    return [
        client.generate_presigned_url(
            "upload_part",
            Params={"Bucket": storage.bucket_name, "Key": key, "UploadId": upload_id, "PartNumber": number},
            ExpiresIn=expire,
        )
        for number in range(1, part_count + 1)
    ]


_INCOMPLETE_MESSAGES = {  # translated when raised
    "InvalidPart": gettext_noop("A part is missing or its ETag is not that of the uploaded part."),
    "InvalidPartOrder": gettext_noop("The parts are not in ascending order of part number."),
    "EntityTooSmall": gettext_noop("Every part but the last must be at least %(n)d MiB."),
    "NoSuchUpload": gettext_noop("There is no such upload: it was completed, aborted or has expired."),
    "MalformedXML": gettext_noop("The list of parts is empty or malformed."),
    "InvalidRequest": gettext_noop("The list of parts is not valid for this upload."),
}


def multipart_complete(name: str, *, upload_id: str, parts: Sequence[Mapping[str, Any]]) -> None:
    """Assemble the uploaded parts into `name`. parts: [{"part_number": int, "etag": str}] as the browser saw them
    (quotes optional, any order). UploadIncomplete when they do not match what was uploaded: the upload stays open,
    so the client may fix the list or re-upload a part (NoSuchUpload after a retried success: see object_size).
    FileExistsError if `name` was stored meanwhile."""
    storage = _object_storage()
    _check_name(name)
    listed = _parts(parts)
    from botocore.exceptions import ClientError  # imported with S3Storage already: free

    try:
        _client(storage).complete_multipart_upload(
            Bucket=storage.bucket_name,
            Key=_key(storage, name),
            UploadId=upload_id,
            MultipartUpload={"Parts": listed},
            IfNoneMatch="*",  # never overwrite (S3, MinIO and moto honour it; a server that ignores it just writes)
        )
    except ClientError as error:
        code = _code(error)
        if code == "PreconditionFailed" or _status(error) == 412:
            raise FileExistsError(f"{name} already exists in the datasets storage.") from None
        if code in _INCOMPLETE_MESSAGES:
            message = gettext(_INCOMPLETE_MESSAGES[code])
            if code == "EntityTooSmall":
                message %= {"n": S3_MIN_PART_SIZE // MiB}
            raise UploadIncomplete(message, reason=code) from error
        raise


def _parts(parts: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The client's part list in S3's shape, sorted; UploadIncomplete names what is wrong with it."""
    if not parts:
        raise UploadIncomplete(gettext("An upload needs at least one part."), reason="NoParts")
    listed: dict[int, str] = {}
    for part in parts:
        number, etag = part.get("part_number"), part.get("etag")
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_PARTS:
            message = gettext("part_number must be 1 to %(max)d, got %(got)s.")
            message %= {"max": MAX_PARTS, "got": repr(number)}
            raise UploadIncomplete(message, reason="InvalidPart")
        if number in listed:
            raise UploadIncomplete(gettext("Part %(n)d is listed twice.") % {"n": number}, reason="InvalidPart")
        if not isinstance(etag, str) or not etag.strip('"'):
            raise UploadIncomplete(gettext("Part %(n)d has no ETag.") % {"n": number}, reason="InvalidPart")
        bare = etag.strip('"')
        listed[number] = f'"{bare}"'  # S3 wants the quotes; browsers show them, some clients strip them
    return [{"PartNumber": number, "ETag": listed[number]} for number in sorted(listed)]


def multipart_abort(name: str, *, upload_id: str) -> None:
    """Drop an unfinished upload and its parts; quiet (logs, never raises), for clean-up and cancellation."""
    storage = _object_storage()
    try:
        _check_name(name)
    except SuspiciousFileOperation:
        logger.exception("Could not abort upload %s of %s", upload_id, name)
        return
    error = _abort(storage, _key(storage, name), upload_id)
    if error is not None:  # its parts would stay, and be billed: tried again later
        _delete_later(name, error)


def _abort(storage: S3Storage, key: str, upload_id: str) -> Exception | None:
    """Aborts the upload; the error if that failed (logged), None if it is gone."""
    from botocore.exceptions import ClientError  # imported with S3Storage already: free

    try:
        _client(storage).abort_multipart_upload(Bucket=storage.bucket_name, Key=key, UploadId=upload_id)
    except ClientError as error:
        if _code(error) != "NoSuchUpload" and _status(error) != 404:
            logger.exception("Could not abort upload %s of %s", upload_id, key)
            return error
    except Exception as error:
        logger.exception("Could not abort upload %s of %s", upload_id, key)
        return error
    return None


# Helpers


def _check_name(name: str) -> None:
    """Names are normalised relative POSIX paths, so one file has one name on every backend and in the cache."""
    if not isinstance(name, str) or not name or "\\" in name or name != posixpath.normpath(name):
        raise SuspiciousFileOperation(f"Not a datasets storage name: {name!r}")
    validate_file_name(name, allow_relative_path=True)


def _is_s3(storage: Storage) -> TypeGuard[S3Storage]:
    """Whether `storage` is django-storages' S3Storage, without importing it: boto3 and botocore would cost every
    process about 17 MiB, and an S3Storage exists only once STORAGES has had its module imported."""
    module = sys.modules.get("storages.backends.s3")
    return module is not None and isinstance(storage, module.S3Storage)


def _object_storage() -> S3Storage:
    storage = datasets_storage()
    if not _is_s3(storage):
        raise ObjectStorageRequired(
            "Presigned URLs and browser uploads need object storage: set AWS_STORAGE_BUCKET_NAME "
            "(and AWS_S3_ENDPOINT_URL for MinIO or Ceph)."
        )
    return storage


def _filesystem(storage: Storage) -> FileSystemStorage:
    if not isinstance(storage, FileSystemStorage):
        raise ImproperlyConfigured(
            f'STORAGES["datasets"] must be FileSystemStorage or S3Storage, not {type(storage).__name__}.'
        )
    return storage


def _client(storage: S3Storage) -> Any:
    """The storage's own boto3 client (per thread), so endpoint, credentials, region and signature agree."""
    return storage.connection.meta.client


def _key(storage: S3Storage, name: str) -> str:
    """The object key of a name, as django-storages maps it (under AWS_LOCATION when one is set)."""
    return str(storage._normalize_name(clean_name(name)))


def _write_parameters(storage: S3Storage, key: str, content_type: str) -> dict[str, Any]:
    """The operator's AWS_S3_OBJECT_PARAMETERS (e.g. server-side encryption), the ACL if any, the content type."""
    parameters: dict[str, Any] = storage.get_object_parameters(key)
    parameters["ContentType"] = content_type
    if storage.default_acl:
        parameters.setdefault("ACL", storage.default_acl)
    return parameters


def _head(storage: S3Storage, key: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError  # imported with S3Storage already: free

    try:
        return cast(dict[str, Any], _client(storage).head_object(Bucket=storage.bucket_name, Key=key))
    except ClientError as error:
        if _status(error) == 404:
            return None
        raise


def _status(error: ClientError) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _safe_suffix(name: str) -> str:
    """The name's extension if it is short and plain, so tools that look at extensions still work on the copy."""
    suffix = PurePosixPath(name).suffix
    return suffix if re.fullmatch(r"\.[A-Za-z0-9]{1,10}", suffix) else ""


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
