"""Exports, below the API: the reports against a direct count of known rows, the writers (CSV for Excel, XLSX,
JSON, formula injection), the run's failure paths (nothing stored), access re-checked in the worker, progress
events, and the sweeper (expiry, lost tasks and workers)."""

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta

import pytest
from django.test import TestCase
from django.utils import timezone, translation
from openpyxl import load_workbook

from accounts.tests.factories import UserFactory
from aimodels.models import TrainingJob
from analytics import reports, services
from analytics.models import Export
from analytics.reports import REPORTS, Table, chart_table
from analytics.writers import CsvWriter, JsonWriter, XlsxWriter, csv_safe, sheet_title
from datasets.models import Dataset, DatasetVersion
from datasets.tests.factories import stored_files
from incubator.errors import InvalidInput
from incubator.events.models import Event
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db

INJECTED = "=cmd|' /C calc'!A0"


def make_version(project, owner, name="客户评论"):
    """A ready dataset version made through the ORM: the reports read rows, they never open files."""
    dataset = Dataset.objects.create(project=project, name=name, created_by=owner)
    return DatasetVersion.objects.create(
        dataset=dataset,
        number=1,
        status=DatasetVersion.Status.READY,
        file_name="data.csv",
        format="csv",
        content_type="text/csv",
        row_count=100,
    )


def make_job(project, version, **fields):
    start = timezone.now() - timedelta(hours=1)
    values = {
        "algorithm": "logistic_regression",
        "task": "classification",
        "time_limit": 600,
        "model_name": "m",
        "status": TrainingJob.Status.SUCCEEDED,
        "started_at": start,
        "finished_at": start + timedelta(seconds=90),
        "train_rows": 80,
        "valid_rows": 20,
        "metrics": {"accuracy": 0.875, "f1_macro": 0.8, "confusion_matrix": {"labels": [], "matrix": []}},
        **fields,
    }
    return TrainingJob.objects.create(project=project, dataset_version=version, created_by=project.owner, **values)


def exports_world():
    """`owner` with a public project (a job, a dataset, a member), `other` with a private project (a job):
    the owner may count only the first."""
    owner, other = UserFactory(), UserFactory()
    mine = make_project(owner, name="城市交通流量预测", tags=["机器学习", "计算机视觉"])
    add_member(mine, role="member")
    secret = make_project(other, name="秘密项目", visibility="private", tags=["机密"])
    mine_version, secret_version = make_version(mine, owner), make_version(secret, other, name="私有数据")
    job = make_job(mine, mine_version)
    secret_job = make_job(secret, secret_version, algorithm="random_forest", metrics={"rmse": 1.5})
    return {
        "owner": owner,
        "other": other,
        "mine": mine,
        "secret": secret,
        "job": job,
        "secret_job": secret_job,
        "version": mine_version,
    }


def committed():
    """Runs the on-commit callbacks (the task, eager here) as the test's transaction never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def run_export(user, report, params=None, fmt="csv", language="zh-hans"):
    with translation.override(language), committed():
        export = services.export_create(user=user, report=report, params=params or {}, format=fmt)
    export.refresh_from_db()
    return export


def stored_bytes(fs_storage, export):
    return (fs_storage.location / export.file).read_bytes()


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))


# --- the reports --------------------------------------------------------------------------------------------


def test_the_jobs_report_counts_only_the_scope_and_flattens_the_metrics(fs_storage):
    world = exports_world()
    export = run_export(world["owner"], "jobs", fmt="json", language="en")
    assert export.status == "succeeded", export.error_message
    body = json.loads(stored_bytes(fs_storage, export))
    job = world["job"]
    visible = TrainingJob.objects.filter(project__visibility="public").count()
    assert export.row_count == visible == len(body["rows"]) == 1
    row = dict(zip(body["columns"], body["rows"][0], strict=True))
    assert row["ID"] == job.id and row["Project"] == "城市交通流量预测" and row["Dataset"] == "客户评论"
    assert row["Status"] == "Succeeded" and row["Task"] == "Classification"
    assert row["Duration (seconds)"] == 90.0 and row["Training rows"] == 80 and row["Validation rows"] == 20
    assert row["accuracy"] == 0.875 and row["f1_macro"] == 0.8 and row["rmse"] is None
    assert "confusion_matrix" not in body["columns"]  # not a scalar: not a column
    assert row["Created at"].endswith("Z")
    # An admin counts every project; the other user counts their private one too.
    admin = UserFactory(is_staff=True)
    assert run_export(admin, "jobs").row_count == TrainingJob.objects.count() == 2
    assert run_export(world["other"], "jobs").row_count == 2


def test_the_jobs_report_filters_by_its_parameters(fs_storage):
    world = exports_world()
    make_job(world["mine"], world["version"], status=TrainingJob.Status.FAILED, metrics=None, finished_at=None)
    owner = world["owner"]
    assert run_export(owner, "jobs", {"status": "failed"}).row_count == 1
    assert run_export(owner, "jobs", {"algorithm": "random_forest"}).row_count == 0  # only in the private project
    # Created at a set moment, not "now": midnight UTC could pass between making the jobs and reading today.
    # 23:59:59 UTC is already the next day in Shanghai: the filter's days are UTC days.
    TrainingJob.objects.update(created_at=datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC))
    day = date(2026, 3, 1)
    assert run_export(owner, "jobs", {"created_from": day.isoformat()}).row_count == 2
    assert run_export(owner, "jobs", {"created_to": day.isoformat()}).row_count == 2
    assert run_export(owner, "jobs", {"created_to": (day - timedelta(days=1)).isoformat()}).row_count == 0
    assert run_export(owner, "jobs", {"project": world["mine"].id}).row_count == 2


def test_the_projects_report_counts_members_datasets_and_jobs_per_project(fs_storage):
    world = exports_world()
    make_version(world["mine"], world["owner"], name="第二个数据集")
    make_job(world["mine"], world["version"])
    export = run_export(UserFactory(is_staff=True), "projects", fmt="json", language="en")
    body = json.loads(stored_bytes(fs_storage, export))
    rows = {row[0]: dict(zip(body["columns"], row, strict=True)) for row in body["rows"]}
    for project in (world["mine"], world["secret"]):
        row = rows[project.id]
        assert row["Member count"] == project.memberships.count()
        assert row["Datasets"] == Dataset.objects.filter(project=project).count()
        assert row["Training jobs"] == TrainingJob.objects.filter(project=project).count()
        assert row["Tags"] == ", ".join(project.tags)
    assert (rows[world["mine"].id]["Member count"], rows[world["mine"].id]["Datasets"]) == (2, 2)
    assert rows[world["mine"].id]["Training jobs"] == 2 and rows[world["secret"].id]["Visibility"] == "Private"
    owners_view = run_export(world["owner"], "projects")
    assert owners_view.row_count == 1  # the private project of another team is not in it


def test_a_chart_becomes_a_table_one_row_per_label():
    chart = {
        "x": ["2026-01", "2026-02"],
        "series": [{"name": "任务", "data": [3, 5]}, {"name": "成功", "data": [2, None]}],
        "unit": "个",
    }
    table = chart_table(chart, "月份")
    assert table.columns == ["月份", "任务 (个)", "成功 (个)"]
    assert list(table.rows) == [["2026-01", 3, 2], ["2026-02", 5, None]] and table.total == 2
    assert chart_table({"x": [], "series": [], "unit": ""}, "x").columns == ["x"]


# --- the writers --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_a_text_cell_that_a_spreadsheet_would_run_is_quoted(prefix):
    assert csv_safe(f"{prefix}SUM(A1)") == f"'{prefix}SUM(A1)"
    assert csv_safe(f"a{prefix}b") == f"a{prefix}b"


def test_the_csv_writer_writes_a_bom_crlf_and_numbers_as_numbers(tmp_path):
    path = tmp_path / "out.csv"
    writer = CsvWriter(str(path), meta={})
    writer.header(["名称", "值"])
    writer.row(["北京", -1.5])
    writer.row([INJECTED, None])
    writer.row(["多行\n文本", True])
    writer.close()
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    assert data.split(b"\r\n")[1] == "北京,-1.5".encode()  # a negative number is not text: not quoted
    assert csv_rows(data) == [["名称", "值"], ["北京", "-1.5"], ["'" + INJECTED, ""], ["多行\n文本", "TRUE"]]


def test_the_xlsx_writer_keeps_text_as_text_and_bolds_the_header(tmp_path):
    path = tmp_path / "out.xlsx"
    moment = timezone.now().replace(microsecond=0)
    writer = XlsxWriter(str(path), meta={"title": "训练任务: [全部]"})
    writer.header(["名称", "时间"])
    writer.row([INJECTED, moment])
    writer.row(["控制\x01字符", float("nan")])
    writer.close()
    book = load_workbook(path)
    sheet = book.active
    assert sheet.title == sheet_title("训练任务: [全部]") == "训练任务   全部"
    assert sheet["A1"].font.bold and not sheet["A2"].font.bold
    assert sheet["A2"].value == INJECTED and sheet["A2"].data_type == "s"  # a string, never a formula
    assert sheet["B2"].value == moment.replace(tzinfo=None)
    assert sheet["A3"].value == "控制字符" and sheet["B3"].value is None


def test_the_json_writer_streams_one_document(tmp_path):
    path = tmp_path / "out.json"
    writer = JsonWriter(
        str(path), meta={"report": "jobs", "params": {"status": "failed"}, "generated_at": timezone.now()}
    )
    writer.header(["a", "b"])
    for index in range(3):
        writer.row([index, float("inf") if index == 1 else "中文"])
    writer.close()
    body = json.loads(path.read_text(encoding="utf-8"))
    assert set(body) == {"report", "params", "generated_at", "columns", "rows"}
    assert body["rows"] == [[0, "中文"], [1, None], [2, "中文"]] and body["params"] == {"status": "failed"}
    empty = tmp_path / "empty.json"
    writer = JsonWriter(str(empty), meta={})
    writer.header(["a"])
    writer.close()
    assert json.loads(empty.read_text())["rows"] == []


# --- the run ------------------------------------------------------------------------------------------------


def test_a_report_failing_midway_leaves_a_failed_export_and_no_file(fs_storage, monkeypatch):
    world = exports_world()

    def broken(scope, params):
        def rows():
            yield [1]
            raise RuntimeError("the database went away")

        return Table(columns=["a"], rows=rows(), total=2)

    monkeypatch.setitem(REPORTS, "jobs", reports.Report("jobs", "任务", reports.JobReportParams, broken))
    export = run_export(world["owner"], "jobs")
    assert (export.status, export.error_code, export.file) == ("failed", "INTERNAL_ERROR", "")
    assert stored_files(fs_storage.location) == []
    assert (
        Event.objects.filter(type="export.status", subject_id=str(export.public_id)).last().payload["error"]["code"]
        == "INTERNAL_ERROR"
    )


def test_a_storage_failure_leaves_no_file(fs_storage, monkeypatch):
    world = exports_world()

    def fail_store(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(services.storage, "store", fail_store)
    export = run_export(world["owner"], "projects")
    assert export.status == "failed" and export.error_code == "INTERNAL_ERROR"
    assert stored_files(fs_storage.location) == []


def test_more_rows_than_the_limit_fail_the_export(fs_storage, settings):
    world = exports_world()
    settings.ANALYTICS_EXPORT_MAX_ROWS = 1
    admin = UserFactory(is_staff=True)
    with translation.override("en"):
        export = run_export(admin, "jobs", language="en")
    assert (export.status, export.error_code) == ("failed", "EXPORT_TOO_LARGE")
    assert "more than 1 rows" in export.error_message
    assert stored_files(fs_storage.location) == []
    assert run_export(world["owner"], "jobs").status == "succeeded"  # one row is within the limit


def test_a_row_limit_passed_while_writing_fails_too(fs_storage, settings, monkeypatch):
    """A report that cannot count beforehand (total None) is stopped at the limit as it writes."""
    exports_world()
    settings.ANALYTICS_EXPORT_MAX_ROWS = 2

    def endless(scope, params):
        return Table(columns=["n"], rows=([n] for n in range(10**9)), total=None)

    monkeypatch.setitem(REPORTS, "projects", reports.Report("projects", "项目", reports.ProjectReportParams, endless))
    export = run_export(UserFactory(), "projects")
    assert export.error_code == "EXPORT_TOO_LARGE" and stored_files(fs_storage.location) == []


def test_a_member_removed_before_the_run_no_longer_exports_the_private_project(
    fs_storage, django_capture_on_commit_callbacks
):
    world = exports_world()
    member = add_member(world["secret"], role="member")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = services.export_create(user=member, report="jobs", params={}, format="json")
    world["secret"].memberships.filter(user=member).delete()
    for callback in callbacks:
        callback()
    export.refresh_from_db()
    body = json.loads(stored_bytes(fs_storage, export))
    assert export.row_count == 1 and [row[0] for row in body["rows"]] == [world["job"].id]


def test_a_deactivated_creator_s_export_fails(fs_storage, django_capture_on_commit_callbacks):
    world = exports_world()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        export = services.export_create(user=world["owner"], report="jobs", params={}, format="csv")
    type(world["owner"]).objects.filter(pk=world["owner"].pk).update(is_active=False)
    for callback in callbacks:
        callback()
    export.refresh_from_db()
    assert (export.status, export.error_code, export.file) == ("failed", "PERMISSION_DENIED", "")


def test_the_run_reports_its_states_and_progress_on_the_creator_s_topic(fs_storage, monkeypatch):
    world = exports_world()
    monkeypatch.setattr(services, "PROGRESS_INTERVAL", 0.0)
    export = run_export(UserFactory(is_staff=True), "jobs")
    events = Event.objects.filter(subject_type="export", subject_id=str(export.public_id)).order_by("id")
    assert {event.topic for event in events} == {f"user:{export.created_by_id}"}
    statuses = [event.payload["status"] for event in events if event.type == "export.status"]
    assert statuses == ["queued", "running", "succeeded"]
    progress = [event.payload["progress"] for event in events if event.type == "export.progress"]
    assert progress == [0.5, 0.99] and all(event.payload["id"] == str(export.public_id) for event in events)
    assert events.last().payload == {
        "id": str(export.public_id),
        "report": "jobs",
        "format": "csv",
        "status": "succeeded",
        "row_count": 2,
    }
    assert world


def test_a_finished_export_is_not_run_again_and_a_stale_task_does_nothing(fs_storage):
    world = exports_world()
    export = run_export(world["owner"], "projects")
    before = (export.file, export.finished_at)
    services.export_run(export_id=export.pk, task_id=export.task_id)
    export.refresh_from_db()
    assert (export.file, export.finished_at) == before
    queued = Export.objects.create(
        created_by=world["owner"], report="projects", format="csv", language="en", task_id="current"
    )
    services.export_run(export_id=queued.pk, task_id="an-older-task")
    queued.refresh_from_db()
    assert queued.status == "queued" and queued.attempts == 0
    assert len(stored_files(fs_storage.location)) == 1


def test_delete_removes_the_row_and_its_file(fs_storage, django_capture_on_commit_callbacks):
    world = exports_world()
    export = run_export(world["owner"], "projects", fmt="xlsx")
    assert stored_files(fs_storage.location) == [export.file]
    with django_capture_on_commit_callbacks(execute=True):
        services.export_delete(export=export)
    assert not Export.objects.filter(pk=export.pk).exists() and stored_files(fs_storage.location) == []


# --- the sweeper --------------------------------------------------------------------------------------------


def test_the_sweeper_expires_files_after_their_ttl(fs_storage, django_capture_on_commit_callbacks):
    world = exports_world()
    export = run_export(world["owner"], "projects")
    assert export.expires_at - export.finished_at == timedelta(hours=24)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.exports_sweep(now=export.expires_at - timedelta(seconds=1))["expired"] == 0
    assert stored_files(fs_storage.location) == [export.file]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.exports_sweep(now=export.expires_at + timedelta(seconds=1))["expired"] == 1
    export.refresh_from_db()
    assert (export.status, export.file) == ("expired", "") and stored_files(fs_storage.location) == []


def test_the_sweeper_sends_lost_exports_again_and_gives_up_after_the_attempts(
    fs_storage, django_capture_on_commit_callbacks
):
    world = exports_world()
    old = timezone.now() - timedelta(hours=1)
    lost = Export.objects.create(
        created_by=world["owner"], report="projects", format="json", language="en", task_id="lost", heartbeat_at=old
    )
    dead = Export.objects.create(
        created_by=world["owner"],
        report="projects",
        format="json",
        language="en",
        task_id="dead",
        status="running",
        attempts=services.MAX_ATTEMPTS,
        heartbeat_at=old,
    )
    fresh = Export.objects.create(
        created_by=world["owner"],
        report="projects",
        format="json",
        language="en",
        task_id="fresh",
        heartbeat_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.exports_sweep() == {"expired": 0, "requeued": 1, "failed": 1}
    lost.refresh_from_db()
    dead.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == "succeeded" and lost.task_id != "lost" and lost.attempts == 1  # sent and run (eager)
    assert (dead.status, dead.error_code) == ("failed", "WORKER_LOST")
    assert fresh.status == "queued"


def test_the_sweeper_runs_on_celery_beat():
    from incubator.celery import app

    entry = app.conf.beat_schedule["analytics-exports-sweep"]
    assert entry["task"] == "analytics.exports_sweep" and entry["task"] in app.tasks


# --- reports over the charts' selectors ---------------------------------------------------------------------


def test_the_trends_report_is_the_trend_chart_as_rows(fs_storage):
    from analytics.selectors import figures

    world = exports_world()
    today = timezone.now().date()
    params = {
        "metric": ["jobs_created", "projects_created"],
        "from": (today - timedelta(days=2)).isoformat(),
        "to": (today + timedelta(days=1)).isoformat(),
        # The same zone as `today` and the expected figures below: the default (Asia/Shanghai) is a day ahead
        # of UTC from 16:00 to midnight UTC, when the rows fell on different days.
        "tz": "UTC",
    }
    export = run_export(world["owner"], "trends", params, fmt="json", language="en")
    assert export.status == "succeeded", export.error_message
    body = json.loads(stored_bytes(fs_storage, export))
    with translation.override("en"):
        expected = figures.trends(
            scope=reports.Scope(world["owner"]),
            metrics=params["metric"],
            interval="day",
            start=today - timedelta(days=2),
            end=today + timedelta(days=1),
            tz=figures.time_zone("UTC"),
        )
    assert body["columns"] == ["Period", "Training jobs created (count)", "Projects created (count)"]
    assert body["rows"] == [[x, *(s["data"][i] for s in expected["series"])] for i, x in enumerate(expected["x"])]
    assert len(body["rows"]) == 4 and body["rows"][2][0] == today.isoformat()


def test_the_leaderboard_report_ranks_the_model_versions(fs_storage):
    from aimodels.models import Model, ModelVersion

    world = exports_world()
    model = Model.objects.create(project=world["mine"], name="情感分类", task="classification")
    for number, accuracy in ((1, 0.7), (2, 0.9)):
        ModelVersion.objects.create(
            model=model,
            number=number,
            dataset_version=world["version"],
            algorithm="lr",
            artifact=f"a{number}",
            artifact_size=1,
            artifact_sha256="0" * 64,
            metrics={"accuracy": accuracy},
        )
    params = {"dataset": world["version"].dataset_id, "metric": "accuracy"}
    export = run_export(world["owner"], "leaderboard", params, fmt="json", language="en")
    body = json.loads(stored_bytes(fs_storage, export))
    assert [(row[0], row[1], row[2], row[7]) for row in body["rows"]] == [
        (1, "情感分类", 2, 0.9),
        (2, "情感分类", 1, 0.7),
    ]
    with pytest.raises(InvalidInput) as refused:
        services.export_create(
            user=world["owner"],
            report="leaderboard",
            format="csv",
            params={"dataset": world["secret"].datasets.get().id, "metric": "accuracy"},
        )
    assert refused.value.details["field"] == "params.dataset"
    with pytest.raises(InvalidInput) as refused:
        services.export_create(user=world["owner"], report="trends", format="csv", params={"metric": ["nope"]})
    assert refused.value.details["field"] == "params.metric.0" or refused.value.details["field"] == "params.metric"
