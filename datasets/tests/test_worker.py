"""Datasets on a real Celery worker (prefork, on the broker of CELERY_BROKER_URL, the test database and the test's
storage), which runs the engine in a process of its own per job (DATASETS_ENGINE_PROCESS=isolated, the default):
a file converted, profiled and exported; a file that fails to convert, with the row, column and language of the
request that sent it. Skipped without a broker (CI runs them on Redis)."""

import os
import time

import pytest
from django.utils import translation

from datasets import services
from datasets.models import DatasetVersion
from incubator.tests.live import celery_worker

from .factories import CSV, upload

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(fs_storage, tmp_path):
    """A prefork worker with one process on the default queue, the engine isolated (whatever the tests' own
    setting); yields its log."""
    log = tmp_path / "worker.log"
    with celery_worker(
        f"datasets-{os.getpid()}@test",
        log=log,
        loglevel="INFO",
        MEDIA_ROOT=str(fs_storage.location.parent),
        DATASETS_CACHE_DIR=str(tmp_path / "worker-cache"),
        DATASETS_ENGINE_PROCESS="isolated",
    ):
        yield log


def _settled(version_id: int, log, *, profiled: bool = True, timeout: float = 90) -> DatasetVersion:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = DatasetVersion.objects.get(pk=version_id)
        if version.status == "failed" or (
            version.status == "ready" and (not profiled or (version.profile_status == "ready" and version.csv))
        ):
            return version
        time.sleep(0.2)
    raise AssertionError(f"the version did not settle: {log.read_text(errors='replace')[-3000:]}")


def test_a_file_is_converted_profiled_and_exported_by_the_workers_engine_processes(project, owner, worker):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "工作进程"}, upload=upload(CSV))
    version = _settled(dataset.versions.get().id, worker)
    assert (version.status, version.profile_status) == ("ready", "ready"), version.error_message
    assert version.row_count == 3
    assert [column["type"] for column in version.columns] == ["string", "date", "integer", "string"]
    assert version.profile["column_profiles"][2]["null_count"] == 1
    assert version.csv_size > 0
    logged = worker.read_text(errors="replace")
    # The conversion and its profile in one engine process, the CSV export in another.
    assert logged.count("datasets engine: convert in") == 1
    assert logged.count("datasets engine: export_csv in") == 1


def test_a_file_that_fails_to_convert_says_where_in_the_requests_language(project, owner, worker):
    # Past the head the upload checks (1 MiB), one line has a field too many.
    lines = ["城市,AQI"] + [f"北京,{i % 300}" for i in range(120_000)] + ["上海,38,多余"]
    content = ("\n".join(lines) + "\n").encode()
    assert len(content) > 1 << 20
    with translation.override("en"):
        dataset = services.dataset_create(
            project=project, actor=owner, data={"name": "坏文件"}, upload=upload(content, "坏.csv")
        )
    version = _settled(dataset.versions.get().id, worker, profiled=False)
    assert (version.status, version.error_code) == ("failed", "FILE_UNREADABLE")
    assert version.error_details == {"row": len(lines), "column": 3}
    assert version.error_message == f"Line {len(lines)} has 3 fields, but the header has 2."
    assert not version.parquet
