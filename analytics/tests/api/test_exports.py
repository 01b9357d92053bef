"""/api/v1/analytics/exports end to end (tasks run eagerly once the request commits): each format downloaded
and read back, scoping, bad input leaving nothing behind, expiry, idempotent retries, and the documented
shapes."""

import csv
import io
import json
import uuid
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.test import TestCase
from django.utils import timezone, translation
from openpyxl import load_workbook

from accounts.tests.factories import UserFactory
from analytics import reports, services
from analytics.models import Export
from analytics.reports import REPORTS
from analytics.scope import Scope
from analytics.writers import column_name
from datasets.tests.factories import stored_files
from incubator.events.models import Event
from incubator.tests.test_openapi import generated_schema, response_schema, validate_against

from ..test_exports import INJECTED, exports_world

pytestmark = pytest.mark.django_db

URL = "/api/v1/analytics/exports"


@pytest.fixture
def world(auth_client):
    world = exports_world()
    world["client"] = auth_client(world["owner"])
    world["other_client"] = auth_client(world["other"])
    return world


def post(client, body, **headers):
    """A POST whose transaction commits (as in production), so its task runs (eagerly) after it."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(URL, body, format="json", **headers)


def created(client, report="jobs", fmt="csv", params=None, **headers):
    response = post(client, {"report": report, "params": params or {}, "format": fmt}, **headers)
    assert response.status_code == 202, response.json()
    return response.json()


def download(client, body):
    detail = client.get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "succeeded", detail
    response = client.get(detail["download_url"])
    assert response.status_code == 200
    return response, b"".join(response.streaming_content)


def test_csv_end_to_end_opens_in_excel_with_chinese_text(world):
    world["mine"].name = INJECTED
    world["mine"].save()
    body = created(world["client"], "jobs", "csv")
    assert body["status"] == "queued" and body["download_url"] is None
    response, data = download(world["client"], body)
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    with translation.override("zh-hans"):  # the default language: headers as its catalogue has them
        columns = reports.jobs_table(Scope(world["owner"]), {}).columns
        assert rows[0] == [column_name(column) for column in columns] and rows[0][2] == "项目"
    assert len(rows) == 2 and rows[1][0] == str(world["job"].id)
    assert rows[1][2] == "'" + INJECTED  # neutralized: Excel shows the text, never runs it
    assert rows[1][3] == "客户评论"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment;") and f"filename*=UTF-8''{quote('训练任务')}-" in disposition
    assert 'filename="jobs-' in disposition  # for a client without filename*, the report's key, not only a date
    assert disposition.endswith(".csv") and int(response["Content-Length"]) == len(data)


def test_english_headers_and_labels_follow_the_request_language(world):
    body = created(world["client"], "projects", "csv", HTTP_ACCEPT_LANGUAGE="en")
    response, data = download(world["client"], body)
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][:4] == ["ID", "Name", "Status", "Visibility"]
    assert rows[1][1:4] == ["城市交通流量预测", "Recruiting", "Public"] and rows[1][-1] == "机器学习, 计算机视觉"
    assert "filename*=UTF-8''Projects-" in response["Content-Disposition"]
    assert world["client"].get(f"{URL}/{body['id']}").json()["language"] == "en"


def test_xlsx_has_the_same_cells_as_json(world):
    world["mine"].name = INJECTED
    world["mine"].save()
    as_json = json.loads(download(world["client"], created(world["client"], "projects", "json"))[1])
    response, data = download(world["client"], created(world["client"], "projects", "xlsx"))
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(data)).active
    cells = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert sheet.title == "项目" and sheet["A1"].font.bold
    assert cells[0] == as_json["columns"]
    # Timestamps are text in JSON and dates in Excel; every other cell is the same value.
    created_at = 8
    for xlsx_row, json_row in zip(cells[1:], as_json["rows"], strict=True):
        assert [v for i, v in enumerate(xlsx_row) if i != created_at] == [
            v for i, v in enumerate(json_row) if i != created_at
        ]
        assert xlsx_row[created_at].isoformat(timespec="seconds") == json_row[created_at][:19]
    assert cells[1][1] == INJECTED and sheet["B2"].data_type == "s"  # text, not a formula


def test_json_parses_with_its_report_and_params(world):
    body = created(world["client"], "jobs", "json", params={"status": "succeeded", "project": world["mine"].id})
    response, data = download(world["client"], body)
    assert response["Content-Type"] == "application/json"
    document = json.loads(data)
    assert document["report"] == "jobs" and document["params"] == {"project": world["mine"].id, "status": "succeeded"}
    assert document["generated_at"].endswith("Z") and len(document["rows"]) == 1
    assert all(len(row) == len(document["columns"]) for row in document["rows"])


def test_another_team_s_private_project_never_appears(world):
    for fmt in ("csv", "json"):
        _, data = download(world["client"], created(world["client"], "jobs", fmt))
        assert "秘密项目".encode() not in data and "私有数据".encode() not in data
        _, data = download(world["client"], created(world["client"], "projects", fmt))
        assert "秘密项目".encode() not in data and "机密".encode() not in data
    _, data = download(world["other_client"], created(world["other_client"], "projects", "json"))
    assert "秘密项目".encode() in data  # the export itself works: it is the scope that leaves it out


def test_another_user_s_export_is_a_404_and_an_admin_sees_it(world, auth_client):
    body = created(world["client"], "projects", "csv")
    other = world["other_client"]
    for url in (f"{URL}/{body['id']}", f"{URL}/{body['id']}/download"):
        response = other.get(url)
        assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND"
    assert other.delete(f"{URL}/{body['id']}").status_code == 404
    assert other.get(URL).json()["exports"] == []
    assert Export.objects.count() == 1
    admin = auth_client(UserFactory(is_staff=True))
    assert admin.get(f"{URL}/{body['id']}").json()["id"] == body["id"]
    assert world["client"].get(f"{URL}/{uuid.uuid4()}").status_code == 404
    assert world["client"].get(f"{URL}/not-a-uuid").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"report": "secrets", "format": "csv"}, "report"),
        ({"report": "jobs", "format": "pdf"}, "format"),
        ({"report": "jobs", "format": "csv", "params": {"status": "nope"}}, "params.status"),
        ({"report": "jobs", "format": "csv", "params": {"created_from": "2026-02-30"}}, "params.created_from"),
        ({"report": "jobs", "format": "csv", "params": {"project": 2**70}}, "params.project"),
        (
            {"report": "jobs", "format": "csv", "params": {"created_from": "2026-03-02", "created_to": "2026-03-01"}},
            "params.created_to",
        ),
        ({"report": "jobs", "format": "csv", "params": []}, "params"),
        ({"report": "jobs", "format": "csv", "params": {"stauts": "failed"}}, "params.stauts"),  # never "all jobs"
        ({"report": "trends", "format": "csv", "params": {"metric": "jobs_created,nope"}}, "params.metric"),
        ({"report": "trends", "format": "csv", "params": {"metric": ""}}, "params.metric"),
        (
            {"report": "trends", "format": "csv", "params": {"metric": "jobs_created", "form": "2026-01-01"}},
            "params.form",
        ),
        ({"format": "csv"}, "report"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_leaves_nothing(world, fs_storage, body, field):
    response = post(world["client"], body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400, response.json()
    error = response.json()
    assert error["error_code"] == "INVALID_INPUT" and error["details"]["field"] == field, error
    assert not Export.objects.exists() and stored_files(fs_storage.location) == []
    assert not Event.objects.filter(type__startswith="export.").exists()


def test_unknown_parameters_are_named_beside_the_other_mistakes(world):
    body = {"report": "jobs", "format": "csv", "params": {"stauts": "failed", "created_from": "2026-02-30"}}
    response = post(world["client"], body, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    details = response.json()["details"]
    assert details["field"] == "params.stauts" and set(details["errors"]) == {"params.stauts", "params.created_from"}
    assert "created_to" in details["message"]  # what the report does take


def test_a_trend_export_takes_its_metrics_as_the_trends_endpoint_does(world):
    for metric in ("jobs_created,projects_created", ["jobs_created", "projects_created"]):
        response = post(world["client"], {"report": "trends", "format": "json", "params": {"metric": metric}})
        assert response.status_code == 202, response.json()
        assert response.json()["params"]["metric"] == ["jobs_created", "projects_created"]


def test_an_unknown_report_lists_the_known_ones(world):
    error = post(world["client"], {"report": "secrets", "format": "csv"}, HTTP_ACCEPT_LANGUAGE="en").json()
    assert "jobs" in error["details"]["message"] and "projects" in error["details"]["message"]


def test_a_project_the_caller_may_not_read_is_refused(world):
    response = post(world["client"], {"report": "jobs", "format": "csv", "params": {"project": world["secret"].id}})
    assert response.status_code == 400 and response.json()["details"]["field"] == "params.project"
    assert not Export.objects.exists()


def test_a_failing_report_gives_a_failed_export_no_file_and_no_download(world, fs_storage, monkeypatch):
    def broken(scope, params):
        raise RuntimeError("boom")

    monkeypatch.setitem(REPORTS, "jobs", reports.Report("jobs", "任务", reports.JobReportParams, broken))
    body = created(world["client"], "jobs", "xlsx")
    detail = world["client"].get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "failed" and detail["error"]["code"] == "INTERNAL_ERROR"
    assert detail["download_url"] is None and detail["size"] is None
    assert stored_files(fs_storage.location) == []
    response = world["client"].get(f"{URL}/{body['id']}/download")
    assert response.status_code == 409 and response.json()["error_code"] == "EXPORT_NOT_READY"


def test_download_before_success_is_409_and_after_expiry_410(world, fs_storage):
    queued = Export.objects.create(created_by=world["owner"], report="jobs", format="csv", language="zh-hans")
    response = world["client"].get(f"{URL}/{queued.public_id}/download")
    assert response.status_code == 409 and response.json()["details"] == {"status": "queued"}
    body = created(world["client"], "projects", "csv")
    export = Export.objects.get(public_id=body["id"])
    with TestCase.captureOnCommitCallbacks(execute=True):
        services.exports_sweep(now=export.expires_at + timedelta(minutes=1))
    assert stored_files(fs_storage.location) == []
    detail = world["client"].get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "expired" and detail["download_url"] is None
    response = world["client"].get(f"{URL}/{body['id']}/download")
    assert response.status_code == 410 and response.json()["error_code"] == "EXPORT_EXPIRED"


def test_a_file_past_its_expiry_is_gone_even_before_the_sweeper_runs(world):
    body = created(world["client"], "projects", "csv")
    Export.objects.filter(public_id=body["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert world["client"].get(f"{URL}/{body['id']}/download").status_code == 410
    assert world["client"].get(f"{URL}/{body['id']}").json()["status"] == "expired"


def test_a_retry_with_the_same_idempotency_key_returns_the_same_export(world):
    request = {"report": "projects", "params": {}, "format": "csv"}
    first = post(world["client"], request, HTTP_IDEMPOTENCY_KEY="export-1")
    again = post(world["client"], request, HTTP_IDEMPOTENCY_KEY="export-1")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"] and Export.objects.count() == 1
    other = post(world["client"], request, HTTP_IDEMPOTENCY_KEY="export-2")
    assert other.json()["id"] != first.json()["id"] and Export.objects.count() == 2


def test_create_answers_202_with_location_and_events_on_the_creator_s_topic(world):
    response = post(world["client"], {"report": "jobs", "format": "json"})
    body = response.json()
    assert response.status_code == 202 and response["Location"].endswith(f"{URL}/{body['id']}")
    export = Export.objects.get(public_id=body["id"])
    events = Event.objects.filter(topic=f"user:{world['owner'].id}", type="export.status").order_by("id")
    assert [event.payload["status"] for event in events] == ["queued", "running", "succeeded"]
    assert events.last().payload["row_count"] == export.row_count == 1


def test_list_is_the_caller_s_own_newest_first_and_paginated(world):
    ids = [created(world["client"], "projects", fmt)["id"] for fmt in ("csv", "xlsx", "json")]
    created(world["other_client"], "projects", "csv")
    listed = world["client"].get(URL, {"page_size": 2}).json()
    assert [item["id"] for item in listed["exports"]] == ids[::-1][:2]
    assert listed["pagination"]["total"] == 3 and listed["pagination"]["total_pages"] == 2
    assert [item["id"] for item in world["client"].get(URL, {"page": 2, "page_size": 2}).json()["exports"]] == ids[:1]


def test_delete_removes_the_export_and_its_file(world, fs_storage):
    body = created(world["client"], "projects", "csv")
    assert len(stored_files(fs_storage.location)) == 1
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = world["client"].delete(f"{URL}/{body['id']}")
    assert response.status_code == 204 and stored_files(fs_storage.location) == []
    assert world["client"].get(f"{URL}/{body['id']}").status_code == 404


def test_anonymous_callers_are_refused(api_client):
    assert api_client.get(URL).status_code == 401
    assert api_client.post(URL, {"report": "jobs", "format": "csv"}, format="json").status_code == 401


def test_the_answers_are_the_documented_shapes(world, monkeypatch):
    schema = generated_schema()
    body = created(world["client"], "jobs", "csv")
    validate_against(schema, response_schema(schema, "/api/v1/analytics/exports", "post", 202), body)
    detail = world["client"].get(f"{URL}/{body['id']}").json()
    validate_against(schema, response_schema(schema, "/api/v1/analytics/exports/{export_id}", "get", 200), detail)
    listed = world["client"].get(URL).json()
    validate_against(schema, response_schema(schema, "/api/v1/analytics/exports", "get", 200), listed)

    def broken(scope, params):
        raise RuntimeError("boom")

    monkeypatch.setitem(REPORTS, "jobs", reports.Report("jobs", "任务", reports.JobReportParams, broken))
    failed = world["client"].get(f"{URL}/{created(world['client'], 'jobs', 'json')['id']}").json()
    validate_against(schema, response_schema(schema, "/api/v1/analytics/exports/{export_id}", "get", 200), failed)
    download = schema["paths"]["/api/v1/analytics/exports/{export_id}/download"]["get"]["responses"]
    assert {"200", "302", "404", "409", "410"} <= set(download)
    assert set(download["200"]["content"]) == {
        "text/csv",
        "application/json",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    assert download["410"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    post_op = schema["paths"]["/api/v1/analytics/exports"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in post_op["parameters"]) and post_op["tags"] == ["analytics"]


def test_on_object_storage_the_download_is_a_redirect_naming_the_file(world, s3_storage):
    import httpx

    body = created(world["client"], "jobs", "csv")
    export = Export.objects.get(public_id=body["id"])
    assert export.status == Export.Status.SUCCEEDED and s3_storage.client.head_object(
        Bucket=s3_storage.bucket, Key=export.file
    )
    redirect = world["client"].get(f"{URL}/{body['id']}/download")
    assert redirect.status_code == 302, redirect.content
    assert redirect["Location"].startswith(s3_storage.endpoint) and redirect["Cache-Control"] == "private, no-store"
    with httpx.Client(trust_env=False, timeout=30) as http:
        fetched = http.get(redirect["Location"])
    assert fetched.status_code == 200 and fetched.content.startswith(b"\xef\xbb\xbf")
    assert fetched.headers["Content-Type"] == "text/csv; charset=utf-8"
    disposition = fetched.headers["Content-Disposition"]
    assert 'filename="jobs-' in disposition and f"filename*=UTF-8''{quote('训练任务')}-" in disposition
