"""The engine in a process of its own (datasets.engine.isolated), as workers run it: the same results and errors as
inline, messages in the task's language, progress and steps as they happen, and a process that never outlives
the work: killed when the caller stops or is interrupted, gone when the caller is."""

import json
import os
import subprocess
import sys
import time

import polars as pl
import pytest
from django.utils import translation

from datasets import services
from datasets.engine import errors, isolated
from datasets.models import DatasetVersion
from datasets.tests.factories import CSV, make_dataset, stored_files, upload


@pytest.fixture
def in_process(settings):
    settings.DATASETS_ENGINE_PROCESS = isolated.ISOLATED


@pytest.fixture
def children(monkeypatch):
    """Every engine process started during the test."""
    started: list[subprocess.Popen] = []
    popen = subprocess.Popen

    def recording(*args, **kwargs):
        child = popen(*args, **kwargs)
        started.append(child)
        return child

    monkeypatch.setattr(isolated.subprocess, "Popen", recording)
    return started


def _csv(path, rows: int = 1000) -> str:
    pl.DataFrame(
        {"id": range(rows), "城市": [f"城市{i % 37}" for i in range(rows)], "值": [i * 0.5 for i in range(rows)]}
    ).write_csv(path)
    return str(path)


def _detected(fmt: str = "csv") -> dict:
    return {"format": fmt, "encoding": "utf-8", "delimiter": ",", "content_type": "text/csv"}


def test_a_dataset_is_converted_profiled_and_exported_by_engine_processes(
    project, owner, in_process, children, fs_storage, settings, run_tasks
):
    with run_tasks():
        dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    assert (version.status, version.profile_status) == ("ready", "ready"), version.error_message
    assert version.row_count == 3
    assert [column["name"] for column in version.columns] == ["城市", "日期", "AQI", "等级"]
    assert version.profile["column_profiles"][2]["null_count"] == 1
    assert version.csv  # the export ran in a process too
    # One process for the conversion and its profile, one for the export (the factory's second profile call finds
    # the profile done and starts nothing).
    assert len(children) == 2
    assert all(child.returncode is not None for child in children)

    settings.DATASETS_ENGINE_PROCESS = isolated.INLINE
    inline = make_dataset(project, owner, name="同一文件").versions.get()
    assert (inline.columns, inline.row_count, inline.profile) == (version.columns, version.row_count, version.profile)
    assert inline.parquet_sha256 == version.parquet_sha256


def test_the_conversion_reports_its_step_before_it_profiles(tmp_path, in_process):
    seen: list = []
    result = isolated.run(
        "convert",
        progress=lambda fraction: seen.append(("progress", fraction)),
        on_step=lambda name, value: seen.append((name, value["converted"]["row_count"])),
        path=_csv(tmp_path / "data.csv"),
        target=str(tmp_path / "data.parquet"),
        file_name="data.csv",
        detected=_detected(),
        profile=True,
    )
    assert seen[0] == ("converted", 1000)
    fractions = [fraction for kind, fraction in seen[1:]]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert result["profile"]["rows"] == 1000
    assert pl.read_parquet(tmp_path / "data.parquet").height == 1000


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "Line 3 has 3 fields, but the header has 2."), ("zh-hans", "第 3 行有 3 个字段，而表头有 2 个。")],
    ids=["en", "zh-hans"],
)
def test_a_parse_failure_keeps_its_kind_row_column_and_language(tmp_path, in_process, language, expected):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"a,b\n1,2\n3,4,5\n")
    with translation.override(language), pytest.raises(errors.ParseFailure) as failure:
        isolated.run("convert", path=str(bad), target=str(tmp_path / "out.parquet"), file_name="bad.csv", detected=None)
    assert failure.value.details == {"row": 3, "column": 3}
    assert failure.value.message == expected
    # and the same message in every language, for readers other than the one who started the work
    assert failure.value.translations() == {
        "en": "Line 3 has 3 fields, but the header has 2.",
        "zh-hans": "第 3 行有 3 个字段，而表头有 2 个。",
    }
    assert os.listdir(tmp_path) == ["bad.csv"]  # nothing half-written


def test_an_unsupported_file_keeps_its_kind(tmp_path, in_process):
    binary = tmp_path / "image.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(errors.UnsupportedFormat):
        isolated.run("convert", path=str(binary), target=str(tmp_path / "o.parquet"), file_name="image.bin")


def test_a_pipeline_error_keeps_its_step_and_field(tmp_path, in_process):
    source = tmp_path / "in.parquet"
    pl.DataFrame({"code": ["1", "2", "x"]}).write_parquet(source)
    steps = [{"type": "cast", "column": "code", "to": "integer", "strict": True}]
    with pytest.raises(errors.PipelineInvalid) as failure:
        isolated.run("pipeline", source=str(source), steps=steps, target=str(tmp_path / "out.parquet"))
    assert failure.value.details == {"step": 0, "field": "to"}
    ok = isolated.run("pipeline", source=str(source), steps=[{"type": "drop_na"}], target=str(tmp_path / "o.parquet"))
    assert ok["row_count"] == 3 and ok["columns"][0]["name"] == "code"


def test_any_other_error_is_a_crash_with_the_childs_traceback(tmp_path, in_process):
    with pytest.raises(isolated.EngineCrashed) as crash:
        isolated.run("profile", path=str(tmp_path / "missing.parquet"))
    assert "Traceback" in str(crash.value) and "missing.parquet" in str(crash.value)


def test_a_killed_process_is_a_crash_with_its_status(tmp_path, in_process, monkeypatch):
    # What the kernel's out-of-memory killer does to a process.
    monkeypatch.setattr(
        isolated,
        "_command",
        lambda: [sys.executable, "-c", "import os, sys; sys.stderr.write('dying'); os.kill(os.getpid(), 9)"],
    )
    with pytest.raises(isolated.EngineCrashed) as crash:
        isolated.run("profile", path=str(tmp_path / "x.parquet"))
    assert "-9" in str(crash.value) and "dying" in str(crash.value)


def test_a_version_whose_engine_process_crashes_fails_and_leaves_no_file(
    project, owner, in_process, monkeypatch, fs_storage
):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "崩溃"}, upload=upload(CSV))
    version = dataset.versions.get()
    monkeypatch.setattr(isolated, "_command", lambda: [sys.executable, "-c", "import os; os.kill(os.getpid(), 9)"])
    services.dataset_version_convert(version_id=version.id)
    version.refresh_from_db()
    assert (version.status, version.error_code) == ("failed", "INTERNAL_ERROR")
    assert stored_files(fs_storage.location) == [version.original]  # the original, and no Parquet copy


def test_stopping_at_a_step_kills_the_process(tmp_path, in_process, children, monkeypatch):
    monkeypatch.setattr(isolated, "EXIT_GRACE_SECONDS", 600)

    def stop(name, value):
        raise isolated.Stop

    result = isolated.run(
        "convert",
        on_step=stop,
        path=_csv(tmp_path / "data.csv", rows=200_000),
        target=str(tmp_path / "data.parquet"),
        file_name="data.csv",
        detected=_detected(),
        profile=True,
    )
    assert result is None
    assert children[0].returncode == -9  # killed, not left to profile


def test_an_interrupted_caller_kills_the_process_at_once(tmp_path, in_process, children, monkeypatch):
    monkeypatch.setattr(isolated, "EXIT_GRACE_SECONDS", 600)  # not the grace an answered process gets

    class SoftTimeLimit(Exception):  # what Celery raises in a task past its soft time limit
        pass

    def interrupt(fraction):
        raise SoftTimeLimit

    started = time.monotonic()
    with pytest.raises(SoftTimeLimit):
        isolated.run("profile", progress=interrupt, path=_parquet(tmp_path, rows=300_000))
    assert children[0].returncode == -9
    assert time.monotonic() - started < 30


def _parquet(tmp_path, rows: int) -> str:
    path = tmp_path / "data.parquet"
    pl.DataFrame({"id": [f"key-{i}" for i in range(rows)], "x": range(rows)}).write_parquet(path)
    return str(path)


def test_the_process_ends_when_its_caller_goes_away(tmp_path):
    """A caller killed outright (a worker's hard time limit, SIGKILL) cannot kill its child: the child sees its
    stdin close and exits."""
    child = subprocess.Popen(
        isolated._command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=isolated._environment(),
    )
    request = {
        "function": "profile",
        "arguments": {"path": _parquet(tmp_path, rows=2_000_000)},
        "language": "en",
        "languages": [["en", "en"]],
        "locale_paths": [],
    }
    child.stdin.write(json.dumps(request).encode() + b"\n")
    child.stdin.flush()
    assert "progress" in json.loads(child.stdout.readline())  # at work
    child.stdin.close()  # what the caller's death does to the pipe
    assert child.wait(timeout=30) == 70
    child.stdout.close()


def test_what_the_engine_prints_does_not_break_the_protocol(tmp_path, in_process, monkeypatch):
    monkeypatch.setattr(
        isolated,
        "_command",
        lambda: [
            sys.executable,
            "-c",
            "import datasets.engine.isolated as isolated, datasets.engine.profile as engine;"
            "profile = engine.profile;"
            "engine.profile = lambda *args, **kwargs: (print('noise'), profile(*args, **kwargs))[1];"
            "isolated._child()",
        ],
    )
    result = isolated.run("profile", path=_parquet(tmp_path, rows=10))
    assert result["rows"] == 10


def test_a_worker_never_loads_the_engine():
    """The Celery worker's own process (Django, every app, its tasks, the URLs its start-up checks load) holds
    neither polars, pyarrow nor numpy: they are the engine process's, 85 MiB a worker would keep for nothing."""
    code = (
        "import sys, django; django.setup();"
        "from incubator.celery import app; app.loader.import_default_modules();"
        "from django.core import checks; checks.run_checks();"
        "import incubator.urls;"
        "print(sorted(m for m in ('polars', 'pyarrow', 'numpy', 'sklearn', 'pandas') if m in sys.modules))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "incubator.settings"}
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=isolated.ROOT, check=True
    )
    assert found.stdout.strip().splitlines()[-1] == "[]", found.stderr


def test_an_inline_engine_gives_the_same_answers(tmp_path, settings):
    settings.DATASETS_ENGINE_PROCESS = isolated.INLINE
    steps: list = []
    result = isolated.run(
        "convert",
        on_step=lambda name, value: steps.append(name),
        path=_csv(tmp_path / "data.csv"),
        target=str(tmp_path / "data.parquet"),
        file_name="data.csv",
        detected=_detected(),
        profile=True,
    )
    assert steps == ["converted"] and result["profile"]["rows"] == 1000
    stopped = isolated.run(
        "convert",
        on_step=lambda name, value: (_ for _ in ()).throw(isolated.Stop()),
        path=_csv(tmp_path / "again.csv"),
        target=str(tmp_path / "again.parquet"),
        file_name="again.csv",
        detected=_detected(),
        profile=True,
    )
    assert stopped is None


def test_a_version_no_longer_waiting_starts_no_engine(project, owner, in_process, children):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "删除"}, upload=upload(CSV))
    version = dataset.versions.get()
    DatasetVersion.objects.filter(pk=version.pk).update(status=DatasetVersion.Status.FAILED)
    services.dataset_version_convert(version_id=version.id)
    assert children == []


def test_a_version_deleted_while_its_engine_works_stops_it_and_leaves_no_parquet(
    project, owner, in_process, children, fs_storage, run_tasks, monkeypatch
):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "竞态"}, upload=upload(CSV))
    version = dataset.versions.get()
    store = services._store_parquet

    def store_while_deleted(*args, **kwargs):
        services.dataset_version_delete(version=version, actor=owner)
        return store(*args, **kwargs)

    monkeypatch.setattr(services, "_store_parquet", store_while_deleted)
    with run_tasks():
        services.dataset_version_convert(version_id=version.id)
    assert not DatasetVersion.objects.exists()
    assert stored_files(fs_storage.location) == []
    assert children[0].returncode is not None  # stopped (or, on so small a file, already done): never left running


def test_an_unknown_function_starts_no_process(in_process, children):
    with pytest.raises(KeyError):
        isolated.run("format_disk", path="/")
    assert children == []
