"""A file whose delete fails is tried again until it goes; a bucket that cannot be reached is a 503, and what a
delete could not remove meanwhile goes once it is back."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from botocore.config import Config
from django.core.files.storage import FileSystemStorage
from django.test import override_settings
from django.utils import timezone

from datasets import services, storage
from datasets.models import DatasetVersion, FileDeletion
from incubator.servers import free_port

from .factories import make_dataset, stored_files, upload

pytestmark = pytest.mark.django_db


def test_a_failed_delete_is_kept_and_retried_with_backoff_until_the_file_goes(
    project, owner, fs_storage, run_tasks, monkeypatch
):
    dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    names = sorted(name for name in (version.original, version.parquet) if name)
    real_delete = FileSystemStorage.delete

    def unreachable(self, name):
        raise OSError("the disk is gone")

    monkeypatch.setattr(FileSystemStorage, "delete", unreachable)
    with run_tasks():
        services.dataset_version_delete(version=version, actor=owner)
    assert not DatasetVersion.objects.filter(pk=version.pk).exists()
    kept = FileDeletion.objects.order_by("name")
    assert [deletion.name for deletion in kept] == names
    assert all("the disk is gone" in deletion.last_error and deletion.attempts == 1 for deletion in kept)
    assert len(stored_files(fs_storage.location)) == len(names)

    assert services.file_deletions_retry() == 0  # not due yet
    FileDeletion.objects.update(next_attempt_at=timezone.now())
    before = timezone.now()
    assert services.file_deletions_retry() == 0  # still failing: tried again later, twice as late
    for deletion in FileDeletion.objects.all():
        assert deletion.attempts == 2
        assert deletion.next_attempt_at - before >= services.FILE_DELETION_RETRY * 2 - timedelta(seconds=5)

    monkeypatch.setattr(FileSystemStorage, "delete", real_delete)
    FileDeletion.objects.update(next_attempt_at=timezone.now())
    assert services.file_deletions_retry() == len(names)
    assert not FileDeletion.objects.exists()
    assert stored_files(fs_storage.location) == []


def test_a_delete_that_works_keeps_nothing(project, owner, fs_storage, run_tasks):
    dataset = make_dataset(project, owner)
    with run_tasks():
        services.dataset_version_delete(version=dataset.versions.get(), actor=owner)
    assert not FileDeletion.objects.exists() and stored_files(fs_storage.location) == []


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [(1, timedelta(minutes=10)), (3, timedelta(minutes=40)), (30, timedelta(hours=6))],
    ids=["second", "fourth", "capped"],
)
def test_each_retry_waits_twice_as_long_up_to_six_hours(project, owner, fs_storage, monkeypatch, attempts, delay):
    deletion = FileDeletion.objects.create(name="datasets/x/y.csv", attempts=attempts, next_attempt_at=timezone.now())
    monkeypatch.setattr(storage, "delete", lambda *args, **kwargs: (_ for _ in ()).throw(OSError("down")))
    before = timezone.now()
    assert services.file_deletions_retry() == 0
    deletion.refresh_from_db()
    assert deletion.attempts == attempts + 1 and deletion.last_error == "OSError: down"
    assert abs(deletion.next_attempt_at - before - delay) < timedelta(seconds=5)


def test_an_unreachable_bucket_is_a_503_and_deletes_made_meanwhile_complete_later(
    s3_storage, project, owner, owner_client, run_tasks, settings
):
    dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    names = [version.original, version.parquet]
    bucket_keys = lambda: {  # noqa: E731
        item["Key"] for item in s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket).get("Contents", [])
    }
    assert {storage._key(storage.datasets_storage(), name) for name in names} <= bucket_keys()

    closed = f"http://127.0.0.1:{free_port()}"
    quick = Config(
        s3={"addressing_style": "path"}, signature_version="s3v4", retries={"max_attempts": 1}, connect_timeout=1
    )
    down = {
        **settings.STORAGES["datasets"],
        "OPTIONS": {**s3_storage.options, "endpoint_url": closed, "client_config": quick},
    }
    url = f"/api/v1/datasets/{dataset.id}"
    with override_settings(
        STORAGES={**settings.STORAGES, "datasets": down}, DATASETS_CACHE_DIR=s3_storage.cache_dir / "cold"
    ):
        added = owner_client.post(f"{url}/versions", {"file": upload()}, HTTP_ACCEPT_LANGUAGE="en")
        rows = owner_client.get(f"{url}/versions/1/rows")
        started = owner_client.post(
            f"{url}/uploads", {"file_name": "a.csv", "size": 10, "sha256": "0" * 64}, format="json"
        )
        for response in (added, rows, started):
            body = response.json()
            assert (response.status_code, body["error_code"]) == (503, "SERVICE_UNAVAILABLE"), body
            assert body["details"]["unavailable"] == ["storage"]
        assert DatasetVersion.objects.filter(dataset=dataset).count() == 1  # no half-made version
        with run_tasks():
            assert owner_client.delete(f"{url}/versions/1").status_code == 204
    kept = set(FileDeletion.objects.values_list("name", flat=True))
    assert set(names) <= kept  # the files it could not delete, and the upload the failed add stored, if any
    assert {storage._key(storage.datasets_storage(), name) for name in names} <= bucket_keys()  # still there

    FileDeletion.objects.update(next_attempt_at=timezone.now())
    assert services.file_deletions_retry() == len(kept)
    assert bucket_keys() == set() and not FileDeletion.objects.exists()


def test_work_that_finds_the_bucket_out_of_reach_waits_for_it_instead_of_failing(
    project, owner, fs_storage, run_tasks, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    from datasets.tests.factories import convert

    real_copy = storage.local_copy

    def unreachable(name):
        raise EndpointConnectionError(endpoint_url="http://bucket")

    dataset = services.dataset_create(project=project, actor=owner, data={"name": "等待"}, upload=upload())
    version = dataset.versions.get()
    monkeypatch.setattr(storage, "local_copy", unreachable)
    services.dataset_version_convert(version_id=version.id)
    version.refresh_from_db()
    assert (version.status, version.error_code) == ("processing", "")  # not failed: sent again later
    monkeypatch.setattr(storage, "local_copy", real_copy)
    convert(dataset, profile=False)
    version.refresh_from_db()
    assert version.status == "ready"

    monkeypatch.setattr(storage, "local_copy", unreachable)
    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="pending")
    services.dataset_version_profile(version_id=version.id)
    version.refresh_from_db()
    assert (version.profile_status, version.profile_error) == ("pending", "")  # not failed either

    with run_tasks():
        pipeline = services.dataset_version_preprocess(version=version, actor=owner, steps=[{"type": "deduplicate"}])
    pipeline.refresh_from_db()
    assert pipeline.status == "processing"

    monkeypatch.setattr(storage, "local_copy", real_copy)
    with run_tasks():
        assert services.dataset_versions_requeue_stale(older_than=timedelta(0)) == 2  # the profile, the pipeline
    version.refresh_from_db()
    pipeline.refresh_from_db()
    assert (version.profile_status, pipeline.status) == ("ready", "ready")


def test_work_that_waits_for_the_bucket_is_sent_again_sooner_each_time_longer_apart(
    project, owner, fs_storage, run_tasks, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    from datasets import tasks

    real_copy = storage.local_copy

    def unreachable(name):
        raise EndpointConnectionError(endpoint_url="http://bucket")

    sent = []
    for name in ("version_convert", "version_build", "version_profile"):
        monkeypatch.setattr(
            getattr(tasks, name),
            "apply_async",
            lambda args, kwargs, countdown, name=name: sent.append((name, args, kwargs, countdown)),
        )
    # Not the app's own setting: the autouse _eager_tasks restores that, and a monkeypatch undone after it left
    # every later test of the process eager (a real worker's tests then ran their tasks in the test process).
    monkeypatch.setattr(tasks, "celery_app", SimpleNamespace(conf=SimpleNamespace(task_always_eager=False)))
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "等待"}, upload=upload())
    version = dataset.versions.get()
    monkeypatch.setattr(storage, "local_copy", unreachable)
    tasks.version_convert(version.id, language="en")
    tasks.version_convert(version.id, language="en", attempt=3)
    tasks.version_convert(version.id, language="en", attempt=9)
    tasks.version_convert(version.id, attempt="junk")
    assert sent == [
        ("version_convert", (version.id,), {"language": "en", "attempt": 1}, 30),
        ("version_convert", (version.id,), {"language": "en", "attempt": 4}, 240),
        ("version_convert", (version.id,), {"language": "en", "attempt": 10}, 600),
        ("version_convert", (version.id,), {"language": None, "attempt": 1}, 30),
    ]
    sent.clear()

    # Converted in the task, then the bucket goes before its profile is saved: the profile is sent again, not
    # the conversion (which would find the version ready and do nothing).
    monkeypatch.setattr(storage, "local_copy", real_copy)
    real_converted = services._Conversion.converted

    def converted_then_gone(self, *args, **kwargs):
        real_converted(self, *args, **kwargs)  # the copy stored, the version ready...
        unreachable(None)  # ...and the bucket gone before the profile is done

    monkeypatch.setattr(services._Conversion, "converted", converted_then_gone)
    tasks.version_convert(version.id, language="en")
    version.refresh_from_db()
    assert (version.status, version.profile_status) == ("ready", "pending")
    assert sent == [("version_profile", (version.id,), {"language": "en", "attempt": 1}, 30)]
    sent.clear()
    monkeypatch.setattr(services._Conversion, "converted", real_converted)
    monkeypatch.setattr(storage, "local_copy", unreachable)
    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="pending")
    tasks.version_profile(version.id, language="zh-hans", attempt=1)
    assert sent == [("version_profile", (version.id,), {"language": "zh-hans", "attempt": 2}, 60)]
    sent.clear()
    version.refresh_from_db()
    with run_tasks():
        pipeline = services.dataset_version_preprocess(version=version, actor=owner, steps=[{"type": "deduplicate"}])
    sent.clear()  # the pipeline's first send, after commit
    tasks.version_build(pipeline.id)
    assert sent == [("version_build", (pipeline.id,), {"language": None, "attempt": 1}, 30)]
    sent.clear()

    # Back: the work is done and nothing more is sent; a deleted version is not sent again either.
    monkeypatch.setattr(storage, "local_copy", real_copy)
    tasks.version_build(pipeline.id, attempt=1)
    tasks.version_profile(version.id, attempt=2)
    assert sent == []
    pipeline.refresh_from_db()
    version.refresh_from_db()
    assert (pipeline.status, version.profile_status) == ("ready", "ready")
    # The broker down as well: nothing raised (requeue_stale is the net), the version still waits.
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("the broker is unreachable")

    monkeypatch.setattr(storage, "local_copy", unreachable)
    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="pending")
    monkeypatch.setattr(tasks.version_profile, "apply_async", broker_down)
    tasks.version_profile(version.id)
    assert DatasetVersion.objects.get(pk=version.pk).profile_status == "pending"
    # With eager tasks (a test, seed_sandbox), nothing is sent: it would run at once, over and over.
    monkeypatch.setattr(tasks, "celery_app", SimpleNamespace(conf=SimpleNamespace(task_always_eager=True)))
    monkeypatch.setattr(storage, "local_copy", unreachable)
    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="pending")
    tasks.version_profile(version.id)
    assert sent == []
