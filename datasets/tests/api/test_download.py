"""Downloads of a version's files: the bytes and SHA-256 of what was stored (the original equal to the upload),
Content-Disposition with a Chinese file name (RFC 6266), Content-Length, ETag and If-None-Match, byte ranges;
on object storage a redirect to a presigned URL that serves the same bytes."""

import hashlib
import io
from urllib.parse import unquote

import polars as pl
import pytest

from datasets.models import DatasetVersion
from datasets.tests.factories import CSV, upload

pytestmark = pytest.mark.django_db

FILE_NAME = "北京空气质量 2026.csv"


@pytest.fixture
def dataset_id(project, owner_client, run_tasks):
    with run_tasks():  # conversion, profile and CSV export
        response = owner_client.post(
            "/api/v1/datasets", {"project": project.id, "name": "空气", "file": upload(CSV, FILE_NAME)}
        )
    assert response.status_code == 201
    return response.json()["id"]


def url(dataset_id, fmt=None, number=1):
    base = f"/api/v1/datasets/{dataset_id}/versions/{number}/download"
    return f"{base}?format={fmt}" if fmt else base


def body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def file_name_of(disposition: str) -> str:
    """The file name a browser saves as: filename*= (RFC 6266 / RFC 8187) wins over filename=."""
    assert disposition.startswith("attachment"), disposition
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "filename*":
            charset, _, encoded = value.partition("''")
            assert charset.lower() == "utf-8", disposition
            return unquote(encoded, encoding="utf-8")
    raise AssertionError(f"no filename* in {disposition}")


def test_original_is_the_uploaded_bytes(dataset_id, owner_client):
    response = owner_client.get(url(dataset_id))
    assert response.status_code == 200
    data = body(response)
    assert data == CSV
    assert response["ETag"] == f'"{hashlib.sha256(CSV).hexdigest()}"'
    assert response["Content-Length"] == str(len(CSV))
    assert response["Content-Type"].startswith("text/csv")
    assert response["Accept-Ranges"] == "bytes"
    assert file_name_of(response["Content-Disposition"]) == FILE_NAME
    assert owner_client.get(url(dataset_id, "original")).get("ETag") == response["ETag"]


def test_content_disposition_has_an_ascii_fallback(dataset_id, owner_client):
    # RFC 6266 section 4.3: filename= for user agents that do not read filename*, as on object storage.
    disposition = owner_client.get(url(dataset_id))["Content-Disposition"]
    fallback = [part.strip() for part in disposition.split(";") if part.strip().startswith("filename=")]
    assert fallback and fallback[0].isascii(), disposition
    assert fallback[0].endswith('.csv"'), disposition


def test_parquet_copy(dataset_id, owner_client):
    version = DatasetVersion.objects.get(dataset_id=dataset_id, number=1)
    response = owner_client.get(url(dataset_id, "parquet"))
    assert response.status_code == 200
    data = body(response)
    assert hashlib.sha256(data).hexdigest() == version.parquet_sha256
    assert response["ETag"] == f'"{version.parquet_sha256}"'
    assert response["Content-Length"] == str(len(data)) == str(version.parquet_size)
    assert file_name_of(response["Content-Disposition"]) == "北京空气质量 2026.parquet"
    frame = pl.read_parquet(io.BytesIO(data))
    assert frame.columns == ["城市", "日期", "AQI", "等级"]
    assert frame["城市"].to_list() == ["北京", "上海", "广州"]
    assert frame["AQI"].to_list() == [52, 38, None]


def test_csv_export(dataset_id, owner_client):
    version = DatasetVersion.objects.get(dataset_id=dataset_id, number=1)
    response = owner_client.get(url(dataset_id, "csv"))
    assert response.status_code == 200
    data = body(response)
    assert hashlib.sha256(data).hexdigest() == version.csv_sha256
    assert response["ETag"] == f'"{version.csv_sha256}"'
    assert response["Content-Length"] == str(len(data)) == str(version.csv_size)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert data.decode("utf-8").splitlines() == CSV.decode().splitlines()


def test_csv_before_its_export_exists_is_409_then_made(project, owner, owner_client, run_tasks):
    from datasets.tests.factories import make_dataset

    dataset = make_dataset(project, owner, profile=False)  # the export is made after the profile
    response = owner_client.get(url(dataset.id, "csv"))
    assert response.status_code == 409
    assert response.json()["error_code"] == "EXPORT_PREPARING"
    assert response.json()["details"]["retry_after"] > 0
    with run_tasks():  # the request asked for the export
        owner_client.get(url(dataset.id, "csv"))
    assert owner_client.get(url(dataset.id, "csv")).status_code == 200


def test_a_csv_copy_that_cannot_be_made_is_409_export_failed_and_not_tried_again(
    project, owner, owner_client, run_tasks, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    from datasets import services
    from datasets.engine import isolated
    from datasets.engine.errors import ParseFailure
    from datasets.engine.messages import gettext
    from datasets.models import DatasetVersion
    from datasets.tests.factories import make_dataset

    dataset = make_dataset(project, owner, profile=False)
    DatasetVersion.objects.filter(dataset=dataset).update(translations={"profile_error": {"en": "kept"}})
    real_run = isolated.run
    refusal = {"error": EndpointConnectionError(endpoint_url="http://bucket")}

    def refused(function, **kwargs):
        if function == "export_csv":
            raise refusal["error"]
        return real_run(function, **kwargs)

    monkeypatch.setattr(isolated, "run", refused)
    # The bucket out of reach is not the data's fault: nothing recorded, the next download asks again.
    with run_tasks():
        assert owner_client.get(url(dataset.id, "csv")).json()["error_code"] == "EXPORT_PREPARING"
    assert DatasetVersion.objects.get(dataset=dataset).csv_error == ""
    refusal["error"] = ParseFailure(gettext("The JSON array is not closed."))
    with run_tasks():
        assert owner_client.get(url(dataset.id, "csv")).json()["error_code"] == "EXPORT_PREPARING"
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.csv == "" and version.csv_error
    assert version.translations["profile_error"] == {"en": "kept"}  # the other stored texts stay
    sent = []
    monkeypatch.setattr(services, "_enqueue", lambda *args: sent.append(args))
    for language, text in (("en", "The JSON array is not closed."), ("zh-hans", "JSON 数组没有闭合。")):
        response = owner_client.get(url(dataset.id, "csv"), HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 409
        assert (response.json()["error_code"], response.json()["message"]) == ("EXPORT_FAILED", text)
    assert sent == []  # no export started again for a copy that cannot be made
    assert owner_client.get(url(dataset.id, "parquet")).status_code == 200


def test_copies_of_a_version_not_ready_are_409(project, owner, owner_client):
    from datasets import services

    dataset = services.dataset_create(project=project, actor=owner, data={"name": "处理中"}, upload=upload())
    for fmt in ("parquet", "csv"):
        response = owner_client.get(url(dataset.id, fmt))
        assert response.status_code == 409
        assert response.json()["error_code"] == "VERSION_NOT_READY"
    # The original exists from the start.
    assert body(owner_client.get(url(dataset.id))) == CSV


def test_unknown_format_is_400(dataset_id, owner_client):
    response = owner_client.get(url(dataset_id, "xlsx"))
    assert response.status_code == 400
    assert response.json()["details"]["field"] == "format"


# --- conditional and range requests --------------------------------------------------------------------------


def test_if_none_match_is_304(dataset_id, owner_client):
    etag = owner_client.get(url(dataset_id))["ETag"]
    response = owner_client.get(url(dataset_id), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304
    assert response["ETag"] == etag
    assert body(response) == b""
    listed = owner_client.get(url(dataset_id), HTTP_IF_NONE_MATCH=f'"other", {etag}')
    assert listed.status_code == 304
    assert owner_client.get(url(dataset_id), HTTP_IF_NONE_MATCH='"other"').status_code == 200
    # Another file of the version has another tag.
    assert owner_client.get(url(dataset_id, "parquet"), HTTP_IF_NONE_MATCH=etag).status_code == 200


RANGES = [
    ("bytes=0-9", 0, 9),
    ("bytes=10-19", 10, 19),
    ("bytes=-10", len(CSV) - 10, len(CSV) - 1),
    ("bytes=20-", 20, len(CSV) - 1),
    ("bytes=90-100000", 90, len(CSV) - 1),  # an end past the file stops at its end
    (f"bytes=-{len(CSV) + 50}", 0, len(CSV) - 1),  # a suffix longer than the file is all of it
]


def test_ranges(dataset_id, owner_client):
    for header, first, last in RANGES:
        response = owner_client.get(url(dataset_id), HTTP_RANGE=header)
        assert response.status_code == 206, header
        assert body(response) == CSV[first : last + 1], header
        assert response["Content-Range"] == f"bytes {first}-{last}/{len(CSV)}", header
        assert response["Content-Length"] == str(last - first + 1), header
        assert response["ETag"] == f'"{hashlib.sha256(CSV).hexdigest()}"', header


def test_a_range_past_the_end_is_416(dataset_id, owner_client):
    for header in (f"bytes={len(CSV)}-", f"bytes={len(CSV) + 10}-{len(CSV) + 20}", "bytes=-0"):
        response = owner_client.get(url(dataset_id), HTTP_RANGE=header)
        assert response.status_code == 416, header
        assert response["Content-Range"] == f"bytes */{len(CSV)}", header
        assert response.json()["status_code"] == 416
        assert response.json()["error_code"] == "RANGE_NOT_SATISFIABLE"


def test_if_range(dataset_id, owner_client):
    etag = f'"{hashlib.sha256(CSV).hexdigest()}"'
    stale = owner_client.get(url(dataset_id), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"an-older-version"')
    assert stale.status_code == 200
    assert body(stale) == CSV
    assert "Content-Range" not in stale
    current = owner_client.get(url(dataset_id), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert current.status_code == 206
    assert body(current) == CSV[:10]


def test_ranges_the_server_may_ignore_send_the_whole_file(dataset_id, owner_client):
    for header in ("bytes=0-1,5-6", "items=0-5", "bytes=9-3", "bytes=abc"):
        response = owner_client.get(url(dataset_id), HTTP_RANGE=header)
        assert response.status_code == 200, header
        assert body(response) == CSV, header


# --- object storage --------------------------------------------------------------------------------------------


def test_on_object_storage_a_redirect_to_a_presigned_url(s3_storage, project, owner_client, run_tasks, http):
    with run_tasks():
        response = owner_client.post(
            "/api/v1/datasets", {"project": project.id, "name": "空气", "file": upload(CSV, FILE_NAME)}
        )
    dataset_id = response.json()["id"]
    version = DatasetVersion.objects.get(dataset_id=dataset_id)
    assert version.status == "ready", version.error_message

    for fmt, sha256, name in [
        ("original", hashlib.sha256(CSV).hexdigest(), FILE_NAME),
        ("parquet", version.parquet_sha256, "北京空气质量 2026.parquet"),
        ("csv", version.csv_sha256, "北京空气质量 2026.csv"),
    ]:
        redirect = owner_client.get(url(dataset_id, fmt))
        assert redirect.status_code == 302, redirect.content
        location = redirect["Location"]
        assert location.startswith(s3_storage.endpoint)
        assert "X-Amz-Signature=" in location and "X-Amz-Expires=300" in location
        assert redirect["Cache-Control"] == "private, no-store"
        fetched = http.get(location)
        assert fetched.status_code == 200
        assert hashlib.sha256(fetched.content).hexdigest() == sha256, fmt
        assert file_name_of(fetched.headers["Content-Disposition"]) == name
    assert http.get(owner_client.get(url(dataset_id))["Location"]).content == CSV


def test_if_none_match_uses_the_weak_comparison(dataset_id, owner_client):
    # RFC 9110 13.1.2: If-None-Match compares weakly (a proxy that compressed the file sent W/"..."), and "*"
    # matches any current file.
    etag = owner_client.get(url(dataset_id))["ETag"]
    assert owner_client.get(url(dataset_id), HTTP_IF_NONE_MATCH=f"W/{etag}").status_code == 304
    assert owner_client.get(url(dataset_id), HTTP_IF_NONE_MATCH="*").status_code == 304
