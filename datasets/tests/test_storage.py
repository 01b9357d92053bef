"""datasets.storage on both backends: a temporary directory and a moto S3 server on 127.0.0.1."""

import hashlib
import os
import random
import runpy
import shutil
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from botocore.exceptions import ClientError
from botocore.response import StreamingBody
from botocore.stub import Stubber
from django.core.exceptions import ImproperlyConfigured, SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage
from django.utils import translation
from storages.backends.s3 import S3Storage

from datasets import storage
from datasets.storage import MiB, ObjectStorageRequired, UploadIncomplete

# The fixtures fs_storage, s3_storage (and moto_server, once per module).
pytest_plugins = ["datasets.tests.s3"]

CSV = "text/csv"


@pytest.fixture(params=["filesystem", "s3"])
def backend(request: pytest.FixtureRequest) -> str:
    """Runs a test once on each backend; the value names the one in use."""
    request.getfixturevalue("fs_storage" if request.param == "filesystem" else "s3_storage")
    return request.param


@pytest.fixture
def http():
    with httpx.Client(trust_env=False, timeout=30) as client:  # 127.0.0.1 only: no proxy from the environment
        yield client


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def local_file(tmp_path: Path, data: bytes, name: str = "upload.bin") -> str:
    path = tmp_path / "work" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


def stored(tmp_path: Path, name: str, data: bytes) -> None:
    storage.store(local_file(tmp_path, data, hashlib.sha256(name.encode()).hexdigest()), name, content_type=CSV)


# Both backends


def test_the_fixtures_swap_the_datasets_storage(request: pytest.FixtureRequest):
    request.getfixturevalue("s3_storage")
    assert isinstance(storage.datasets_storage(), S3Storage)
    assert storage.is_object_storage()


def test_fs_fixture_swaps_back_to_files(fs_storage):
    assert isinstance(storage.datasets_storage(), FileSystemStorage)
    assert storage.datasets_storage().location == str(fs_storage.location)
    assert not storage.is_object_storage()


def test_store_then_read_back(backend, tmp_path):
    data = payload(300_000)
    storage.store(local_file(tmp_path, data), "datasets/1/original.csv", content_type=CSV)

    path = storage.local_copy("datasets/1/original.csv")
    assert Path(path).read_bytes() == data
    assert storage.sha256_of("datasets/1/original.csv") == hashlib.sha256(data).hexdigest()
    assert storage.object_size("datasets/1/original.csv") == len(data)
    file, size = storage.open_for_download("datasets/1/original.csv")
    with file:
        assert (size, file.read()) == (len(data), data)


def test_store_large_file_in_parts(s3_storage, tmp_path):
    data = payload(storage.MULTIPART_THRESHOLD + MiB)
    storage.store(local_file(tmp_path, data), "datasets/1/original.parquet", content_type="application/x-parquet")

    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="datasets/1/original.parquet")
    assert head["ETag"].strip('"').endswith("-3")  # a multipart upload: 8 + 8 + 1 MiB
    assert head["ContentType"] == "application/x-parquet"
    assert storage.sha256_of("datasets/1/original.parquet") == hashlib.sha256(data).hexdigest()


def test_store_refuses_to_overwrite(backend, tmp_path):
    stored(tmp_path, "datasets/1/original.csv", b"first")

    with pytest.raises(FileExistsError):
        storage.store(local_file(tmp_path, b"second"), "datasets/1/original.csv", content_type=CSV)
    assert Path(storage.local_copy("datasets/1/original.csv")).read_bytes() == b"first"


def test_store_never_overwrites_a_file_stored_meanwhile(fs_storage, tmp_path, monkeypatch):
    copyfile = shutil.copyfile

    def copy_while_another_process_stores(source: str, destination: str) -> None:
        copyfile(source, destination)
        target = fs_storage.location / "datasets/1/original.csv"
        target.write_bytes(b"stored meanwhile")

    monkeypatch.setattr(shutil, "copyfile", copy_while_another_process_stores)
    with pytest.raises(FileExistsError):
        storage.store(local_file(tmp_path, b"mine"), "datasets/1/original.csv", content_type=CSV)
    assert (fs_storage.location / "datasets/1/original.csv").read_bytes() == b"stored meanwhile"
    assert os.listdir(fs_storage.location / "datasets/1") == ["original.csv"]


def test_store_leaves_no_temporary_file(fs_storage, tmp_path):
    stored(tmp_path, "datasets/1/original.csv", b"a,b\n1,2\n")

    assert os.listdir(fs_storage.location / "datasets" / "1") == ["original.csv"]


def test_missing_files(backend):
    assert storage.object_size("datasets/1/missing.csv") is None
    with pytest.raises(FileNotFoundError):
        storage.local_copy("datasets/1/missing.csv")
    with pytest.raises(FileNotFoundError):
        storage.sha256_of("datasets/1/missing.csv")
    with pytest.raises(FileNotFoundError):
        storage.open_for_download("datasets/1/missing.csv")


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "datasets//1.csv", "datasets/./1.csv", "a\\b", ""])
def test_names_must_be_plain_relative_paths(fs_storage, tmp_path, name):
    with pytest.raises(SuspiciousFileOperation):
        storage.store(local_file(tmp_path, b"x"), name, content_type=CSV)
    with pytest.raises(SuspiciousFileOperation):
        storage.local_copy(name)


def test_delete_quietly(backend, tmp_path, caplog):
    stored(tmp_path, "datasets/1/original.csv", b"a,b\n")

    storage.delete_quietly("datasets/1/missing.csv", "datasets/1/original.csv", "../outside")

    assert storage.object_size("datasets/1/original.csv") is None
    records = [record for record in caplog.records if record.name == "datasets.storage"]
    assert [record.levelname for record in records] == ["ERROR"]  # the bad name only, not the missing file
    assert "../outside" in records[0].getMessage()


def test_delete_prefix_removes_one_folder_only(backend, tmp_path):
    for name in ["datasets/1/original.csv", "datasets/1/exports/a.csv", "datasets/10/original.csv"]:
        stored(tmp_path, name, name.encode())

    storage.delete_prefix("datasets/1/")

    assert storage.object_size("datasets/1/original.csv") is None
    assert storage.object_size("datasets/1/exports/a.csv") is None
    assert storage.object_size("datasets/10/original.csv") == len(b"datasets/10/original.csv")
    storage.delete_prefix("datasets/1")  # nothing left: no error


def test_concurrent_local_copies_are_whole(backend, tmp_path):
    data = payload(6 * MiB, seed=1)
    stored(tmp_path, "datasets/1/original.parquet", data)
    start = threading.Barrier(2)

    def read() -> str:
        start.wait()  # both threads ask at once, before either has a copy
        with open(storage.local_copy("datasets/1/original.parquet"), "rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(read) for _ in range(2)]
        digests = [future.result(timeout=60) for future in futures]

    assert digests == [hashlib.sha256(data).hexdigest()] * 2
    if backend == "s3":
        assert len(list(Path(storage.local_copy("datasets/1/original.parquet")).parent.iterdir())) == 1


def test_a_copy_being_downloaded_is_never_seen_partial(s3_storage, tmp_path, monkeypatch):
    data = payload(4 * MiB, seed=3)
    stored(tmp_path, "datasets/1/original.parquet", data)
    iter_chunks = StreamingBody.iter_chunks

    def slowly(body, *args, **kwargs):
        for chunk in iter_chunks(body, *args, **kwargs):
            time.sleep(0.03)
            yield chunk

    monkeypatch.setattr(StreamingBody, "iter_chunks", slowly)
    reader = threading.Thread(target=storage.local_copy, args=("datasets/1/original.parquet",))
    reader.start()
    partial: set[Path] = set()
    while reader.is_alive():
        for path in s3_storage.cache_dir.glob("*") if s3_storage.cache_dir.exists() else []:
            try:
                if path.stat().st_size != len(data):
                    partial.add(path)
            except FileNotFoundError:
                pass
        time.sleep(0.005)
    reader.join()

    assert partial, "the download was too fast to be observed"
    assert [path for path in partial if path.exists()] == []  # partial bytes only ever under a temporary name
    assert Path(storage.local_copy("datasets/1/original.parquet")).read_bytes() == data


def test_object_storage_is_told_by_class_with_subclasses_and_without_importing_boto3():
    class Mine(S3Storage):  # an operator's own subclass, say with a fixed bucket
        pass

    assert storage._is_s3(Mine(bucket_name="b")) and storage._is_s3(S3Storage(bucket_name="b"))
    assert not storage._is_s3(FileSystemStorage(location="/tmp"))


def test_content_disposition_names_any_file():
    header = storage.content_disposition('销售 "数据".csv')

    assert header.startswith('attachment; filename="download.csv"; ')
    encoded = header.split("filename*=UTF-8''")[1]
    assert unquote(encoded, encoding="utf-8") == '销售 "数据".csv'
    assert encoded.isascii() and " " not in encoded and '"' not in encoded
    assert storage.content_disposition("Résumé 2024.csv").startswith('attachment; filename="Resume 2024.csv"')
    assert 'filename="a_b_.csv"' in storage.content_disposition('a"b\\.csv')
    named = storage.content_disposition("训练任务-20261127.csv", ascii_name="jobs-20261127.csv")
    assert named.startswith('attachment; filename="jobs-20261127.csv"; ')
    assert unquote(named.split("filename*=UTF-8''")[1]) == "训练任务-20261127.csv"


def test_part_size_for():
    assert storage.part_size_for(0) == (8 * MiB, 1)
    assert storage.part_size_for(8 * MiB) == (8 * MiB, 1)
    assert storage.part_size_for(8 * MiB + 1) == (8 * MiB, 2)
    assert storage.part_size_for(512 * 1024 * 1024) == (8 * MiB, 64)
    for size in (100 * 1024**3, storage.MAX_OBJECT_SIZE):
        part_size, count = storage.part_size_for(size)
        assert count <= 10_000 and part_size * count >= size > part_size * (count - 1)
        assert part_size % MiB == 0 and storage.S3_MIN_PART_SIZE <= part_size <= storage.MAX_PART_SIZE
    with pytest.raises(ValueError):
        storage.part_size_for(-1)


# The local cache (object storage)


def test_local_copy_is_cached_and_evicted_least_recently_used(s3_storage, tmp_path, settings, monkeypatch):
    monkeypatch.setattr(storage, "CACHE_IN_USE_SECONDS", 0)
    settings.DATASETS_CACHE_MAX_BYTES = 250_000
    for index in range(3):
        stored(tmp_path, f"datasets/{index}/original.csv", payload(100_000, seed=index))
    first = Path(storage.local_copy("datasets/0/original.csv"))
    second = Path(storage.local_copy("datasets/1/original.csv"))
    os.utime(first, (time.time() - 1000,) * 2)
    os.utime(second, (time.time() - 900,) * 2)

    assert Path(storage.local_copy("datasets/0/original.csv")) == first  # a hit makes it the most recently used
    third = Path(storage.local_copy("datasets/2/original.csv"))

    assert first.parent == s3_storage.cache_dir
    assert first.exists() and third.exists() and not second.exists()
    assert third.read_bytes() == payload(100_000, seed=2)


def test_cache_spares_files_just_used(s3_storage, tmp_path, settings):
    settings.DATASETS_CACHE_MAX_BYTES = 1
    stored(tmp_path, "datasets/1/a.csv", b"a" * 1000)
    stored(tmp_path, "datasets/1/b.csv", b"b" * 1000)

    first = Path(storage.local_copy("datasets/1/a.csv"))
    second = Path(storage.local_copy("datasets/1/b.csv"))

    assert first.read_bytes() == b"a" * 1000 and second.read_bytes() == b"b" * 1000


def test_cache_keeps_the_copy_it_returns(s3_storage, tmp_path, settings, monkeypatch):
    monkeypatch.setattr(storage, "CACHE_IN_USE_SECONDS", 0)
    settings.DATASETS_CACHE_MAX_BYTES = 1
    stored(tmp_path, "datasets/1/a.csv", b"a" * 1000)
    stored(tmp_path, "datasets/1/b.csv", b"b" * 1000)

    first = Path(storage.local_copy("datasets/1/a.csv"))
    second = Path(storage.local_copy("datasets/1/b.csv"))

    assert not first.exists()  # evicted for the second: over the limit and not in use
    assert second.read_bytes() == b"b" * 1000


def test_cache_never_serves_a_replaced_file(s3_storage, tmp_path):
    stored(tmp_path, "datasets/1/original.csv", b"old")
    old_copy = storage.local_copy("datasets/1/original.csv")
    storage.delete_quietly("datasets/1/original.csv")
    storage.store(local_file(tmp_path, b"new"), "datasets/1/original.csv", content_type=CSV)

    assert Path(storage.local_copy("datasets/1/original.csv")).read_bytes() == b"new"
    assert not os.path.exists(old_copy)


def test_local_copy_on_files_is_the_file_itself(fs_storage, tmp_path):
    stored(tmp_path, "datasets/1/original.csv", b"a")

    assert storage.local_copy("datasets/1/original.csv") == str(fs_storage.location / "datasets/1/original.csv")
    assert not fs_storage.cache_dir.exists()


# Browser uploads and presigned downloads (object storage)


def browser_upload(http: httpx.Client, name: str, data: bytes) -> tuple[str, list[dict]]:
    """What the SPA does: start, PUT each part to its presigned URL, keep the ETags."""
    part_size, count = storage.part_size_for(len(data))
    upload_id = storage.multipart_start(name, content_type=CSV)
    urls = storage.multipart_part_urls(name, upload_id=upload_id, part_count=count)
    parts = []
    for number, url in enumerate(urls, start=1):
        response = http.put(url, content=data[(number - 1) * part_size : number * part_size])
        assert response.status_code == 200, response.text
        parts.append({"part_number": number, "etag": response.headers["ETag"]})
    return upload_id, parts


def test_presigned_multipart_upload(s3_storage, http):
    data = payload(8 * MiB + 300_000, seed=2)
    upload_id, parts = browser_upload(http, "datasets/1/original.csv", data)
    assert len(parts) == 2
    assert storage.object_size("datasets/1/original.csv") is None  # nothing visible before completion

    storage.multipart_complete("datasets/1/original.csv", upload_id=upload_id, parts=list(reversed(parts)))

    assert storage.object_size("datasets/1/original.csv") == len(data)
    assert storage.sha256_of("datasets/1/original.csv") == hashlib.sha256(data).hexdigest()
    head = s3_storage.client.head_object(Bucket=s3_storage.bucket, Key="datasets/1/original.csv")
    assert head["ContentType"] == CSV


def test_part_urls_expire_as_configured(s3_storage, settings):
    upload_id = storage.multipart_start("datasets/1/original.csv", content_type=CSV)

    urls = storage.multipart_part_urls("datasets/1/original.csv", upload_id=upload_id, part_count=3)
    assert [(f"partNumber={n}&" in url, "X-Amz-Expires=900" in url) for n, url in enumerate(urls, 1)] == [
        (True, True)
    ] * 3
    short = storage.multipart_part_urls("datasets/1/original.csv", upload_id=upload_id, part_count=1, expires=60)
    assert "X-Amz-Expires=60" in short[0]
    with pytest.raises(ValueError):
        storage.multipart_part_urls("datasets/1/original.csv", upload_id=upload_id, part_count=0)


def test_bucket_cors_lets_the_browser_read_part_etags(s3_storage, http):
    upload_id = storage.multipart_start("datasets/1/original.csv", content_type=CSV)
    url = storage.multipart_part_urls("datasets/1/original.csv", upload_id=upload_id, part_count=1)[0]

    origin = s3_storage.browser_origin
    preflight = http.options(url, headers={"Origin": origin, "Access-Control-Request-Method": "PUT"})

    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == origin
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert "ETag" in preflight.headers["Access-Control-Expose-Headers"]


def test_wrong_etag_leaves_the_upload_open(s3_storage, http):
    upload_id, parts = browser_upload(http, "datasets/1/original.csv", b"a,b\n1,2\n")

    with pytest.raises(UploadIncomplete) as raised:
        storage.multipart_complete(
            "datasets/1/original.csv", upload_id=upload_id, parts=[{"part_number": 1, "etag": '"0123abcd"'}]
        )
    assert raised.value.reason == "InvalidPart"
    assert storage.object_size("datasets/1/original.csv") is None

    storage.multipart_complete("datasets/1/original.csv", upload_id=upload_id, parts=parts)
    assert storage.object_size("datasets/1/original.csv") == 8


def test_complete_rejects_small_parts_and_bad_lists(s3_storage, http):
    upload_id = storage.multipart_start("datasets/1/original.csv", content_type=CSV)
    urls = storage.multipart_part_urls("datasets/1/original.csv", upload_id=upload_id, part_count=2)
    parts = [
        {"part_number": n, "etag": http.put(url, content=b"x" * 1024).headers["ETag"]} for n, url in enumerate(urls, 1)
    ]

    with pytest.raises(UploadIncomplete) as raised:
        storage.multipart_complete("datasets/1/original.csv", upload_id=upload_id, parts=parts)
    assert raised.value.reason == "EntityTooSmall"
    for bad in ([], [parts[0], parts[0]], [{"part_number": 0, "etag": "x"}], [{"part_number": 1, "etag": ""}]):
        with pytest.raises(UploadIncomplete):
            storage.multipart_complete("datasets/1/original.csv", upload_id=upload_id, parts=bad)


def test_abort(s3_storage, http, caplog):
    upload_id, _ = browser_upload(http, "datasets/1/original.csv", b"a,b\n")

    storage.multipart_abort("datasets/1/original.csv", upload_id=upload_id)

    assert s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", []) == []
    storage.multipart_abort("datasets/1/original.csv", upload_id=upload_id)  # already gone: quiet
    assert [record for record in caplog.records if record.name == "datasets.storage"] == []
    assert storage.object_size("datasets/1/original.csv") is None


@pytest.mark.django_db
def test_an_abort_that_fails_is_kept_and_the_retry_aborts_the_uploads_to_that_name(s3_storage, http, monkeypatch):
    from datasets import services
    from datasets.models import FileDeletion

    upload_id, _ = browser_upload(http, "datasets/1/original.csv", b"a,b\n")
    other_id, _ = browser_upload(http, "datasets/1/original.csv.bak", b"c\n")  # another name: left alone
    client = storage._client(storage.datasets_storage())
    real_abort = client.abort_multipart_upload
    monkeypatch.setattr(client, "abort_multipart_upload", lambda **kwargs: (_ for _ in ()).throw(OSError("down")))
    storage.multipart_abort("datasets/1/original.csv", upload_id=upload_id)
    assert list(FileDeletion.objects.values_list("name", flat=True)) == ["datasets/1/original.csv"]

    # The retry's abort failing too (access denied): the deletion stays, to be tried again.
    denied = ClientError({"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "Abort")
    monkeypatch.setattr(client, "abort_multipart_upload", lambda **kwargs: (_ for _ in ()).throw(denied))
    FileDeletion.objects.update(next_attempt_at=FileDeletion.objects.get().created_at)
    assert services.file_deletions_retry() == 0
    assert FileDeletion.objects.get().attempts == 2

    aborted = []

    def abort(**kwargs):
        aborted.append(kwargs["Key"])
        return real_abort(**kwargs)

    monkeypatch.setattr(client, "abort_multipart_upload", abort)
    FileDeletion.objects.update(next_attempt_at=FileDeletion.objects.get().created_at)
    assert services.file_deletions_retry() == 1
    assert aborted == [storage._key(storage.datasets_storage(), "datasets/1/original.csv")]
    left = s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", [])
    assert [upload["UploadId"] for upload in left] == [other_id]


def test_completing_a_finished_upload(s3_storage):
    # moto 5.2.5 answers 500 (a KeyError) to CompleteMultipartUpload of an unknown upload id; S3, MinIO and Ceph
    # answer 404 NoSuchUpload, which is stubbed here.
    client = storage.datasets_storage().connection.meta.client
    with Stubber(client) as stubber, translation.override("en"):
        stubber.add_client_error("complete_multipart_upload", "NoSuchUpload", "gone", http_status_code=404)
        with pytest.raises(UploadIncomplete) as raised:
            storage.multipart_complete("datasets/1/a.csv", upload_id="u", parts=[{"part_number": 1, "etag": "e"}])
    assert raised.value.reason == "NoSuchUpload"
    assert "completed, aborted or has expired" in raised.value.message


def test_uploads_never_overwrite(s3_storage, tmp_path, http):
    stored(tmp_path, "datasets/1/original.csv", b"stored")
    with pytest.raises(FileExistsError):
        storage.multipart_start("datasets/1/original.csv", content_type=CSV)

    upload_id, parts = browser_upload(http, "datasets/2/original.csv", b"uploaded")
    stored(tmp_path, "datasets/2/original.csv", b"stored meanwhile")
    with pytest.raises(FileExistsError):
        storage.multipart_complete("datasets/2/original.csv", upload_id=upload_id, parts=parts)
    assert Path(storage.local_copy("datasets/2/original.csv")).read_bytes() == b"stored meanwhile"


def test_delete_prefix_aborts_unfinished_uploads(s3_storage, http):
    browser_upload(http, "datasets/1/original.csv", b"a")
    browser_upload(http, "datasets/10/original.csv", b"b")

    storage.delete_prefix("datasets/1")

    uploads = s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", [])
    assert [upload["Key"] for upload in uploads] == ["datasets/10/original.csv"]


def test_presigned_download(s3_storage, tmp_path, http):
    data = "名称,数量\n苹果,3\n".encode()
    stored(tmp_path, "datasets/1/exports/v1.csv", data)

    url = storage.presigned_download_url(
        "datasets/1/exports/v1.csv", file_name="销售数据 2024.csv", content_type="text/csv; charset=utf-8"
    )
    response = http.get(url)

    assert response.status_code == 200
    assert response.content == data
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response.headers["Content-Disposition"]
    assert disposition == storage.content_disposition("销售数据 2024.csv")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == "销售数据 2024.csv"
    assert "X-Amz-Expires=300" in url
    assert "X-Amz-Expires=30&" in storage.presigned_download_url(
        "a.csv", file_name="a.csv", content_type=CSV, expires=30
    )


def test_object_storage_only_operations_refuse_files(fs_storage):
    calls = [
        lambda: storage.presigned_download_url("datasets/1/a.csv", file_name="a.csv", content_type=CSV),
        lambda: storage.multipart_start("datasets/1/a.csv", content_type=CSV),
        lambda: storage.multipart_part_urls("datasets/1/a.csv", upload_id="u", part_count=1),
        lambda: storage.multipart_complete("datasets/1/a.csv", upload_id="u", parts=[{"part_number": 1, "etag": "e"}]),
        lambda: storage.multipart_abort("datasets/1/a.csv", upload_id="u"),
    ]
    for call in calls:
        with pytest.raises(ObjectStorageRequired):
            call()


# incubator/settings/storage.py


def storage_settings(monkeypatch: pytest.MonkeyPatch, **environment: str) -> dict:
    names = ["AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_S3_REGION_NAME", "AWS_S3_ADDRESSING_STYLE"]
    for name in [*names, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATASETS_CACHE_DIR"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with warnings.catch_warnings():  # run_module warns that the module is imported already: that copy is untouched
        warnings.simplefilter("ignore", RuntimeWarning)
        return runpy.run_module("incubator.settings.storage")


def test_settings_default_to_files_under_var(monkeypatch):
    values = storage_settings(monkeypatch)

    datasets = values["STORAGES"]["datasets"]
    assert datasets["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert datasets["OPTIONS"]["location"] == values["MEDIA_ROOT"] / "datasets"
    assert values["STORAGES"]["staticfiles"]["BACKEND"] == "django.contrib.staticfiles.storage.StaticFilesStorage"
    assert (values["DATASETS_PRESIGN_UPLOAD_EXPIRES"], values["DATASETS_PRESIGN_DOWNLOAD_EXPIRES"]) == (900, 300)
    assert values["DATASETS_CACHE_DIR"] == values["BASE_DIR"] / "var" / "cache" / "datasets"
    assert values["DATASETS_CACHE_MAX_BYTES"] == 2 * 1024**3


def test_settings_from_the_environment_reach_the_bucket(s3_storage, monkeypatch, tmp_path):
    values = storage_settings(
        monkeypatch,
        AWS_STORAGE_BUCKET_NAME=s3_storage.bucket,
        AWS_S3_ENDPOINT_URL=s3_storage.endpoint,
        AWS_S3_REGION_NAME="us-east-1",
        AWS_S3_ADDRESSING_STYLE="path",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
    )

    datasets = values["STORAGES"]["datasets"]
    assert datasets["BACKEND"] == "storages.backends.s3.S3Storage"
    assert datasets["OPTIONS"]["file_overwrite"] is False and datasets["OPTIONS"]["default_acl"] is None
    backend = S3Storage(**datasets["OPTIONS"])
    backend.save("probe.txt", ContentFile(b"probe"))
    assert s3_storage.client.get_object(Bucket=s3_storage.bucket, Key="probe.txt")["Body"].read() == b"probe"


@pytest.mark.parametrize(
    "environment",
    [{"AWS_S3_ENDPOINT_URL": "http://minio:9000"}, {"AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ADDRESSING_STYLE": "dns"}],
)
def test_settings_refuse_half_configured_object_storage(monkeypatch, environment):
    with pytest.raises(ImproperlyConfigured):
        storage_settings(monkeypatch, **environment)


def test_content_disposition_drops_the_separator_left_by_a_chinese_prefix():
    assert storage.content_disposition("训练任务-20261127-0909.xlsx").startswith(
        'attachment; filename="20261127-0909.xlsx"'
    )
