"""Direct (presigned multipart) uploads to object storage, against moto: start, PUT the parts, complete, and the
version converted; a wrong digest, wrong parts, a second completion and an abort refused and cleaned up."""

import hashlib

import pytest
from django.test import override_settings

from datasets.models import DatasetUpload, DatasetVersion
from datasets.storage import MiB
from datasets.tests.factories import make_dataset

pytestmark = pytest.mark.django_db


def big_csv() -> bytes:
    """About 8.6 MiB: two parts of the 8 MiB minimum part size, the last one small."""
    text = "评论" * 200
    lines = ["编号,评论,评分"] + [f"{n},{text}{n},{n % 5 + 1}" for n in range(1, 7501)]
    data = ("\n".join(lines) + "\n").encode()
    assert 8 * MiB < len(data) < 9 * MiB
    return data


BIG = big_csv()
SMALL = "编号,名字\n1,甲\n2,乙\n".encode()


@pytest.fixture
def dataset(s3_storage, project, owner):
    return make_dataset(project, owner, content=None, name="直传")


def start(client, dataset, content, *, file_name="大文件.csv", sha256=None, size=None):
    return client.post(
        f"/api/v1/datasets/{dataset.id}/uploads",
        {
            "file_name": file_name,
            "size": len(content) if size is None else size,
            "sha256": sha256 or hashlib.sha256(content).hexdigest(),
        },
        format="json",
    )


def put_parts(http, started, content):
    """PUTs each part's bytes to its URL, as a browser does, and returns the parts with their ETags."""
    size = started["part_size"]
    parts = []
    for part in started["parts"]:
        index = part["part_number"] - 1
        chunk = content[index * size : (index + 1) * size]
        response = http.put(part["url"], content=chunk)
        assert response.status_code == 200, response.text
        parts.append({"part_number": part["part_number"], "etag": response.headers["ETag"]})
    return parts


def complete(client, dataset, upload_id, parts, **headers):
    url = f"/api/v1/datasets/{dataset.id}/uploads/{upload_id}/complete"
    return client.post(url, {"parts": parts}, format="json", **headers)


def keys(s3_storage):
    listed = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def pending_uploads(s3_storage):
    return s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", [])


def test_a_multipart_upload_becomes_a_ready_version(s3_storage, dataset, owner_client, run_tasks, http):
    response = start(owner_client, dataset, BIG)
    assert response.status_code == 201, response.content
    started = response.json()
    assert started["status"] == "pending"
    assert (started["part_size"], started["part_count"]) == (8 * MiB, 2)
    assert [part["part_number"] for part in started["parts"]] == [1, 2]
    assert all(part["url"].startswith(s3_storage.endpoint) for part in started["parts"])
    assert keys(s3_storage) == []  # nothing is stored until the parts arrive

    parts = put_parts(http, started, BIG)
    with run_tasks():
        completed = complete(owner_client, dataset, started["id"], parts)
        assert completed.status_code == 201, completed.content
        assert (completed.json()["number"], completed.json()["status"]) == (1, "processing")
        assert completed.json()["source"] == "presigned"

    version = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1").json()
    assert version["status"] == "ready", version["error"]
    assert version["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert version["size"] == len(BIG)
    assert (version["format"], version["encoding"], version["delimiter"]) == ("csv", "utf-8", ",")
    assert version["row_count"] == 7500
    assert [(c["name"], c["type"]) for c in version["columns"]] == [
        ("编号", "integer"),
        ("评论", "string"),
        ("评分", "integer"),
    ]
    page = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1/rows", {"page": 75, "page_size": 100}).json()
    assert page["rows"][-1] == {"编号": 7500, "评论": "评论" * 200 + "7500", "评分": 1}
    assert DatasetUpload.objects.get(pk=started["id"]).status == "completed"
    assert DatasetUpload.objects.get(pk=started["id"]).version.number == 1
    assert pending_uploads(s3_storage) == []

    redirect = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1/download")
    assert redirect.status_code == 302
    assert http.get(redirect["Location"]).content == BIG


def test_a_wrong_sha256_fails_the_version_and_deletes_the_object(s3_storage, dataset, owner_client, run_tasks, http):
    started = start(owner_client, dataset, SMALL, sha256="0" * 64).json()
    parts = put_parts(http, started, SMALL)
    with run_tasks():
        assert complete(owner_client, dataset, started["id"], parts).status_code == 201
    version = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1").json()
    assert version["status"] == "failed"
    assert version["error"]["code"] == "UPLOAD_INCOMPLETE"
    assert version["error"]["details"]["sha256"] == hashlib.sha256(SMALL).hexdigest()
    assert keys(s3_storage) == []  # neither the object nor a Parquet copy
    assert DatasetVersion.objects.get(dataset=dataset).parquet == ""
    # Nothing is left to download either: not a redirect to an object that is gone.
    for fmt in ("original", "parquet", "csv"):
        download = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1/download", {"format": fmt})
        assert (download.status_code, download.json()["error_code"]) == (409, "VERSION_NOT_READY"), fmt


def test_a_wrong_etag_is_409_and_the_upload_can_be_completed_after(s3_storage, dataset, owner_client, run_tasks, http):
    started = start(owner_client, dataset, SMALL).json()
    parts = put_parts(http, started, SMALL)
    wrong = [{"part_number": 1, "etag": '"00000000000000000000000000000000"'}]
    response = complete(owner_client, dataset, started["id"], wrong)
    assert response.status_code == 409
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (409, "UPLOAD_INCOMPLETE")
    assert body["details"]["field"] == "parts"
    assert DatasetUpload.objects.get(pk=started["id"]).status == "pending"
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()

    with run_tasks():
        assert complete(owner_client, dataset, started["id"], parts).status_code == 201
    assert DatasetVersion.objects.get(dataset=dataset).status == "ready"


def test_a_missing_part_is_409_and_the_parts_sent_are_kept(s3_storage, dataset, owner_client, run_tasks, http):
    started = start(owner_client, dataset, BIG).json()
    parts = put_parts(http, {**started, "parts": started["parts"][:1]}, BIG)  # only the first of two
    response = complete(owner_client, dataset, started["id"], parts, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 409
    body = response.json()
    assert body["error_code"] == "UPLOAD_INCOMPLETE"
    assert body["details"] == {"field": "parts", "missing": [2], "repeated": [], "unknown": [], "part_count": 2}
    twice = complete(owner_client, dataset, started["id"], parts * 2 + [{**parts[0], "part_number": 3}])
    assert twice.json()["details"] == {
        "field": "parts",
        "missing": [2],
        "repeated": [1],
        "unknown": [3],
        "part_count": 2,
    }
    assert body["message"] == "List each part of this upload once, numbered 1 to 2."
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()
    # Refused before the bucket assembled anything: the upload and its first part are still there.
    assert DatasetUpload.objects.get(pk=started["id"]).status == "pending"
    assert len(pending_uploads(s3_storage)) == 1 and keys(s3_storage) == []
    parts += put_parts(http, {**started, "parts": started["parts"][1:]}, BIG)
    with run_tasks():
        assert complete(owner_client, dataset, started["id"], parts).status_code == 201
    assert DatasetVersion.objects.get(dataset=dataset).status == "ready"


def test_a_parts_list_refused_by_the_bucket_is_409_in_the_clients_language(s3_storage, dataset, owner_client, http):
    started = start(owner_client, dataset, SMALL).json()
    put_parts(http, started, SMALL)
    wrong = [{"part_number": 1, "etag": '"00000000000000000000000000000000"'}]
    response = complete(owner_client, dataset, started["id"], wrong, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (response.status_code, response.json()["error_code"]) == (409, "UPLOAD_INCOMPLETE")
    assert response.json()["message"] == "缺少某个部分，或其 ETag 与已上传的部分不符。"
    twice = complete(owner_client, dataset, started["id"], wrong * 2, HTTP_ACCEPT_LANGUAGE="en")
    assert twice.json()["message"] == "List each part of this upload once, numbered 1 to 1."
    assert DatasetUpload.objects.get(pk=started["id"]).status == "pending"


def test_completing_again_answers_with_the_version_it_made(s3_storage, dataset, owner_client, run_tasks, http):
    # A retry after a timeout: the first answer was lost, and the client must learn which version it made.
    started = start(owner_client, dataset, SMALL).json()
    parts = put_parts(http, started, SMALL)
    with run_tasks():
        first = complete(owner_client, dataset, started["id"], parts)
    assert first.status_code == 201
    again = complete(owner_client, dataset, started["id"], parts)
    assert again.status_code == 201
    assert again.json()["number"] == first.json()["number"] == 1
    assert again.json()["status"] == "ready"
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 1


def test_abort_then_complete_is_409(s3_storage, dataset, owner_client, run_tasks, http):
    started = start(owner_client, dataset, SMALL).json()
    parts = put_parts(http, started, SMALL)
    assert len(pending_uploads(s3_storage)) == 1
    with run_tasks():
        aborted = owner_client.post(f"/api/v1/datasets/{dataset.id}/uploads/{started['id']}/abort")
    assert aborted.status_code == 204
    assert DatasetUpload.objects.get(pk=started["id"]).status == "aborted"
    assert pending_uploads(s3_storage) == []  # the parts are freed in the bucket
    response = complete(owner_client, dataset, started["id"], parts)
    assert response.status_code == 409
    assert response.json()["error_code"] == "UPLOAD_NOT_PENDING"
    again = owner_client.post(f"/api/v1/datasets/{dataset.id}/uploads/{started['id']}/abort")
    assert (again.status_code, again.json()["error_code"]) == (409, "UPLOAD_NOT_PENDING")
    assert keys(s3_storage) == [] and not DatasetVersion.objects.exists()


def test_a_size_other_than_announced_is_409_and_ends_the_upload(s3_storage, dataset, owner_client, http):
    started = start(owner_client, dataset, SMALL, size=len(SMALL) - 3).json()
    parts = put_parts(http, started, SMALL)  # three bytes more than announced
    response = complete(owner_client, dataset, started["id"], parts)
    assert response.status_code == 409
    assert (response.json()["error_code"], response.json()["details"]["field"]) == ("UPLOAD_INCOMPLETE", "size")
    assert keys(s3_storage) == []  # the object is deleted
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()
    assert DatasetUpload.objects.get(pk=started["id"]).status == "aborted"
    again = complete(owner_client, dataset, started["id"], parts)
    assert again.json()["error_code"] == "UPLOAD_NOT_PENDING"


def test_start_checks_what_is_announced(s3_storage, dataset, owner_client):
    unsupported = start(owner_client, dataset, SMALL, file_name="扫描件.pdf")
    assert (unsupported.status_code, unsupported.json()["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert unsupported.json()["details"]["field"] == "file_name"
    bad_digest = start(owner_client, dataset, SMALL, sha256="xyz")
    assert (bad_digest.status_code, bad_digest.json()["details"]["field"]) == (400, "sha256")
    with override_settings(API_MAX_UPLOAD_BYTES=1000):
        too_big = start(owner_client, dataset, SMALL, size=1001)
    assert (too_big.status_code, too_big.json()["details"]["field"]) == (400, "size")
    assert not DatasetUpload.objects.exists()
    assert pending_uploads(s3_storage) == []


def test_on_the_filesystem_storage_direct_uploads_are_409(project, owner, owner_client, fs_storage):
    dataset = make_dataset(project, owner, content=None, name="本地")
    response = start(owner_client, dataset, SMALL)
    assert response.status_code == 409
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (409, "OBJECT_STORAGE_REQUIRED")
    assert body["message"]
    assert not DatasetUpload.objects.exists()


def test_an_expired_upload_cannot_be_completed(dataset, owner, owner_client, http):
    started = start(owner_client, dataset, SMALL).json()
    parts = put_parts(http, started, SMALL)
    DatasetUpload.objects.filter(pk=started["id"]).update(expires_at="2000-01-01T00:00:00Z")
    response = complete(owner_client, dataset, started["id"], parts)
    assert (response.status_code, response.json()["error_code"]) == (409, "UPLOAD_NOT_PENDING")
    assert response.json()["details"] == {"status": "expired"}
    assert not DatasetVersion.objects.exists()


def test_expired_uploads_are_aborted_by_the_sweep_and_by_hand(
    s3_storage, dataset, owner_client, run_tasks, http, monkeypatch
):
    from datasets import services, storage

    swept, by_hand, current = (start(owner_client, dataset, SMALL).json() for _ in range(3))
    for started in (swept, by_hand, current):
        put_parts(http, started, SMALL)
    # moto finds an upload by its id alone; S3 wants its key too (or answers NoSuchUpload, and the parts stay).
    client = storage._client(storage.datasets_storage())
    real_abort, abort_calls = client.abort_multipart_upload, []

    def abort(**kwargs):
        abort_calls.append((kwargs["Key"], kwargs["UploadId"]))
        return real_abort(**kwargs)

    monkeypatch.setattr(client, "abort_multipart_upload", abort)
    DatasetUpload.objects.filter(pk__in=[swept["id"], by_hand["id"]]).update(expires_at="2000-01-01T00:00:00Z")
    with run_tasks():
        aborted = owner_client.post(f"/api/v1/datasets/{dataset.id}/uploads/{by_hand['id']}/abort")
    assert aborted.status_code == 204
    with run_tasks():
        assert services.dataset_uploads_expire() == 1
    statuses = dict(DatasetUpload.objects.values_list("pk", "status"))
    assert statuses == {swept["id"]: "aborted", by_hand["id"]: "aborted", current["id"]: "pending"}
    assert [upload["UploadId"] for upload in pending_uploads(s3_storage)] == [
        DatasetUpload.objects.get(pk=current["id"]).upload_id
    ]  # the expired ones' parts are freed in the bucket
    with run_tasks():
        assert services.dataset_uploads_expire() == 0
    expected = {
        (storage._key(storage.datasets_storage(), upload.object_name), upload.upload_id)
        for upload in DatasetUpload.objects.filter(pk__in=[swept["id"], by_hand["id"]])
    }
    assert set(abort_calls) == expected
    # Past its expiry, a completed upload is still called completed.
    DatasetUpload.objects.filter(pk=current["id"]).update(status="completed", expires_at="2000-01-01T00:00:00Z")
    late = owner_client.post(f"/api/v1/datasets/{dataset.id}/uploads/{current['id']}/abort")
    assert (late.status_code, late.json()["details"]) == (409, {"status": "completed"})


def test_an_upload_of_another_dataset_is_404(s3_storage, dataset, project, owner, owner_client):
    other = make_dataset(project, owner, content=None, name="别的")
    started = start(owner_client, other, SMALL).json()
    response = complete(owner_client, dataset, started["id"], [{"part_number": 1, "etag": '"x"'}])
    assert (response.status_code, response.json()["error_code"]) == (404, "NOT_FOUND")
    abort = owner_client.post(f"/api/v1/datasets/{dataset.id}/uploads/{started['id']}/abort")
    assert abort.status_code == 404
    assert DatasetUpload.objects.get(pk=started["id"]).status == "pending"
