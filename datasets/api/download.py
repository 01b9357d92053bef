"""Downloads of a version's files: streamed with Content-Length, an ETag and single byte ranges from the
filesystem, or a redirect to a short-lived presigned URL on object storage."""

import re
from collections.abc import Iterator
from typing import Any

from django.http import HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.utils.translation import gettext_lazy as _
from rest_framework import status
from rest_framework.request import Request

from incubator.errors import ApiError

from .. import services, storage
from ..errors import VersionNotReady
from ..models import DatasetVersion

CHUNK = 256 * 1024
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(ApiError):
    status_code = status.HTTP_416_REQUESTED_RANGE_NOT_SATISFIABLE
    error_code = "RANGE_NOT_SATISFIABLE"
    default_detail = _("The requested range is past the end of the file.")


def _file_of(version: DatasetVersion, fmt: str) -> tuple[str, int, str, str, str]:
    """(storage name, size, sha256, content type, file name) of one of the version's files."""
    stem = version.file_name.rsplit(".", 1)[0] if "." in version.file_name else version.file_name
    if fmt == "original":  # empty once deleted (a direct upload whose SHA-256 differed): download() says 409
        return version.original, version.size, version.sha256, version.content_type, version.file_name
    if version.status != DatasetVersion.Status.READY:
        raise VersionNotReady(details={"status": version.status})
    if fmt == "parquet":
        return (
            version.parquet,
            version.parquet_size or 0,
            version.parquet_sha256,
            "application/vnd.apache.parquet",
            f"{stem}.parquet",
        )
    if not version.csv:
        services.dataset_version_csv_request(version=version)
    return version.csv, version.csv_size or 0, version.csv_sha256, "text/csv; charset=utf-8", f"{stem}.csv"


def _byte_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) of a single `bytes=` range, None to send the whole file (no header, several ranges, or a
    syntax the server may ignore, RFC 9110 14.2); RangeNotSatisfiable past the end."""
    match = _RANGE.match(header.strip())
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            raise RangeNotSatisfiable()
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise RangeNotSatisfiable()
    if end < start:
        return None
    return start, end


def _none_match(header: str, etag: str) -> bool:
    """Whether If-None-Match names the file: "*", or its tag by the weak comparison (RFC 9110 13.1.2), so a
    tag a compressing proxy weakened (W/"...") still matches."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in [tag.removeprefix("W/") for tag in tags]


def _stream(handle: Any, start: int, length: int) -> Iterator[bytes]:
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


class DownloadMixin:
    def handle_exception(self, exc: Exception) -> Any:
        response = super().handle_exception(exc)  # type: ignore[misc]
        if isinstance(exc, RangeNotSatisfiable):
            response["Content-Range"] = f"bytes */{getattr(self, '_download_size', 0)}"
        return response

    def download(self, request: Request, version: DatasetVersion, fmt: str) -> HttpResponse:
        name, size, sha256, content_type, file_name = _file_of(version, fmt)
        if not name:
            raise VersionNotReady(details={"status": version.status})
        etag = f'"{sha256}"' if sha256 else None
        if storage.is_object_storage():
            url = storage.presigned_download_url(name, file_name=file_name, content_type=content_type)
            response: HttpResponse = HttpResponseRedirect(url)
            response["Cache-Control"] = "private, no-store"
            return response
        if etag and _none_match(request.headers.get("If-None-Match", ""), etag):
            response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
            response["ETag"] = etag
            return response
        self._download_size = size
        span = None
        range_header = request.headers.get("Range")
        if range_header and (not request.headers.get("If-Range") or request.headers.get("If-Range") == etag):
            span = _byte_range(range_header, size)
        handle, actual = storage.open_for_download(name)
        size = actual
        start, end = span if span else (0, size - 1)
        length = max(0, end - start + 1)
        streamed = StreamingHttpResponse(
            _stream(handle, start, length),
            status=status.HTTP_206_PARTIAL_CONTENT if span else status.HTTP_200_OK,
            content_type=content_type,
        )
        streamed["Content-Length"] = str(length)
        streamed["Accept-Ranges"] = "bytes"
        # The same header as the presigned URLs: filename*= and an ASCII filename= fallback (RFC 6266 4.3).
        streamed["Content-Disposition"] = storage.content_disposition(file_name)
        streamed["Cache-Control"] = "private, max-age=0, must-revalidate"
        if etag:
            streamed["ETag"] = etag
        if span:
            streamed["Content-Range"] = f"bytes {start}-{end}/{size}"
        return streamed
