"""Uploads through the API: every format read back value by value, and every refusal (413, 415, 400) leaving
nothing behind, neither rows nor files; a problem deeper in the file than the request checks fails the
version after the fact, still without an orphan file."""

import asyncio
import hashlib
import io
import json
import zipfile
from datetime import date

import polars as pl
import pytest
from django.test import override_settings

from datasets.models import Dataset, DatasetVersion
from datasets.tests.factories import parquet_bytes, stored_files, upload, xlsx_bytes
from incubator.events.models import Event

pytestmark = pytest.mark.django_db


def create(client, project, content, file_name, name="上传测试"):
    return client.post(
        "/api/v1/datasets",
        {"project": project.id, "name": name, "file": upload(content, file_name)},
        format="multipart",
    )


def rows_of(client, dataset_id, number=1):
    response = client.get(f"/api/v1/datasets/{dataset_id}/versions/{number}/rows", {"page_size": 500})
    assert response.status_code == 200, response.content
    return response.json()["rows"]


def version_of(client, dataset_id, number=1):
    response = client.get(f"/api/v1/datasets/{dataset_id}/versions/{number}")
    assert response.status_code == 200, response.content
    return response.json()


# As Excel saves "CSV" for Chinese users: GB18030 (GBK) and CRLF line ends.
GBK_CSV = "城市,人口（万）,面积\r\n北京,2189,16410.5\r\n上海,2487,6340.5\r\n深圳,1766,\r\n".encode("gb18030")
XLSX = xlsx_bytes(
    [["姓名", "年龄", "入学日期"], ["张三", 20, date(2024, 9, 1)], ["李四", 22, date(2023, 9, 1)]],
    other_sheet=[["说明"], ["第二个工作表不读"]],
)
PARQUET = parquet_bytes(
    pl.DataFrame({"id": [1, 2, 3], "评分": [4.5, None, 3.0], "标签": ["好", "差", None], "ok": [True, False, True]})
)

FORMATS = [
    pytest.param(
        "utf8.csv",
        "名称,数量,价格\n苹果,3,1.5\n香蕉,,2.25\n".encode(),
        {"format": "csv", "encoding": "utf-8", "delimiter": ","},
        [("名称", "string", False), ("数量", "integer", True), ("价格", "float", False)],
        [{"名称": "苹果", "数量": 3, "价格": 1.5}, {"名称": "香蕉", "数量": None, "价格": 2.25}],
        id="csv-utf8",
    ),
    pytest.param(
        "bom.csv",
        "\ufeff名称,数量\n苹果,3\n香蕉,5\n".encode(),
        {"format": "csv", "encoding": "utf-8-sig", "delimiter": ","},
        [("名称", "string", False), ("数量", "integer", False)],
        [{"名称": "苹果", "数量": 3}, {"名称": "香蕉", "数量": 5}],
        id="csv-utf8-bom",
    ),
    pytest.param(
        "城市人口.csv",
        GBK_CSV,
        {"format": "csv", "encoding": "gb18030", "delimiter": ","},
        [("城市", "string", False), ("人口（万）", "integer", False), ("面积", "float", True)],
        [
            {"城市": "北京", "人口（万）": 2189, "面积": 16410.5},
            {"城市": "上海", "人口（万）": 2487, "面积": 6340.5},
            {"城市": "深圳", "人口（万）": 1766, "面积": None},
        ],
        id="csv-gb18030",
    ),
    pytest.param(
        "data.tsv",
        "词\t频次\t备注\n你好\t10\t问候, 常用\n再见\t7\t\n".encode(),
        {"format": "tsv", "encoding": "utf-8", "delimiter": "\t"},
        [("词", "string", False), ("频次", "integer", False), ("备注", "string", True)],
        [{"词": "你好", "频次": 10, "备注": "问候, 常用"}, {"词": "再见", "频次": 7, "备注": None}],
        id="tsv",
    ),
    pytest.param(
        "array.json",
        json.dumps([{"id": 1, "文本": "很好", "分数": 0.9}, {"id": 2, "文本": None, "分数": 0.1}]).encode(),
        {"format": "json", "encoding": "utf-8", "delimiter": ""},
        [("id", "integer", False), ("文本", "string", True), ("分数", "float", False)],
        [{"id": 1, "文本": "很好", "分数": 0.9}, {"id": 2, "文本": None, "分数": 0.1}],
        id="json",
    ),
    pytest.param(
        "lines.jsonl",
        '{"id": 1, "句子": "今天天气很好", "正面": true}\n{"id": 2, "句子": "太差了", "正面": false}\n'.encode(),
        {"format": "jsonl", "encoding": "utf-8", "delimiter": ""},
        [("id", "integer", False), ("句子", "string", False), ("正面", "boolean", False)],
        [{"id": 1, "句子": "今天天气很好", "正面": True}, {"id": 2, "句子": "太差了", "正面": False}],
        id="jsonl",
    ),
    pytest.param(
        "table.parquet",
        PARQUET,
        {"format": "parquet", "encoding": "", "delimiter": ""},
        [("id", "integer", False), ("评分", "float", True), ("标签", "string", True), ("ok", "boolean", False)],
        [
            {"id": 1, "评分": 4.5, "标签": "好", "ok": True},
            {"id": 2, "评分": None, "标签": "差", "ok": False},
            {"id": 3, "评分": 3.0, "标签": None, "ok": True},
        ],
        id="parquet",
    ),
    pytest.param(
        "学生名单.xlsx",
        XLSX,
        {"format": "xlsx", "encoding": "", "delimiter": ""},
        [("姓名", "string", False), ("年龄", "integer", False), ("入学日期", None, False)],
        [
            {"姓名": "张三", "年龄": 20, "入学日期": "2024-09-01"},
            {"姓名": "李四", "年龄": 22, "入学日期": "2023-09-01"},
        ],
        id="xlsx",
    ),
]


@pytest.mark.parametrize(("file_name", "content", "detected", "columns", "rows"), FORMATS)
def test_every_format_is_read_back_value_by_value(
    project, owner_client, run_tasks, file_name, content, detected, columns, rows
):
    with run_tasks():
        response = create(owner_client, project, content, file_name)
    assert response.status_code == 201, response.content
    assert response.json()["latest_version"]["status"] == "processing"
    dataset_id = response.json()["id"]

    version = version_of(owner_client, dataset_id)
    assert version["status"] == "ready", version["error"]
    assert {key: version[key] for key in detected} == detected
    assert version["file_name"] == file_name
    assert version["size"] == len(content)
    assert version["sha256"] == hashlib.sha256(content).hexdigest()
    assert version["row_count"] == len(rows)
    assert version["column_count"] == len(columns)
    got_columns = [(column["name"], column["type"], column["nullable"]) for column in version["columns"]]
    for (name, type_, nullable), got in zip(columns, got_columns, strict=True):
        assert got[0] == name
        if type_ is not None:
            assert got[1] == type_, got
        else:  # an Excel date cell: a date or a datetime at midnight, read back as that day
            assert got[1] in ("date", "datetime"), got
        assert got[2] == nullable, got

    got_rows = rows_of(owner_client, dataset_id)
    if detected["format"] == "xlsx":
        got_rows = [{**row, "入学日期": row["入学日期"][:10]} for row in got_rows]
    assert got_rows == rows
    # The original is kept byte for byte.
    stored = DatasetVersion.objects.get(dataset_id=dataset_id, number=1)
    download = owner_client.get(f"/api/v1/datasets/{dataset_id}/versions/1/download")
    assert b"".join(download.streaming_content) == content
    assert stored.parquet and stored.parquet_sha256


def test_a_new_version_of_another_format(project, owner_client, run_tasks):
    with run_tasks():
        dataset_id = create(owner_client, project, GBK_CSV, "城市.csv").json()["id"]
        response = owner_client.post(
            f"/api/v1/datasets/{dataset_id}/versions", {"file": upload(XLSX, "学生.xlsx")}, format="multipart"
        )
    assert response.status_code == 201
    assert (response.json()["number"], response.json()["format"]) == (2, "xlsx")
    assert [row["姓名"] for row in rows_of(owner_client, dataset_id, 2)] == ["张三", "李四"]
    assert [row["城市"] for row in rows_of(owner_client, dataset_id, 1)] == ["北京", "上海", "深圳"]
    listed = owner_client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert listed["version_count"] == 2 and listed["latest_version"]["format"] == "xlsx"


# --- refusals leave nothing behind ----------------------------------------------------------------------


def assert_nothing_left(fs_storage, *, datasets=0, versions=0):
    assert Dataset.objects.count() == datasets
    assert DatasetVersion.objects.count() == versions
    assert stored_files(fs_storage.location) == []


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.csv", "a,b\n1,2\n")
    return buffer.getvalue()


UNSUPPORTED = [
    pytest.param("报告.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", id="pdf"),
    pytest.param("图片.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(64), id="png"),
    pytest.param("数据.zip", _zip(), id="zip"),
    # A PDF named .csv is judged by its content, not its name.
    pytest.param("伪装.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)), id="pdf-named-csv"),
]


@pytest.mark.parametrize(("file_name", "content"), UNSUPPORTED)
def test_unsupported_formats_are_415_and_leave_nothing(
    project, owner_client, run_tasks, fs_storage, file_name, content
):
    with run_tasks():
        response = create(owner_client, project, content, file_name)
    assert response.status_code == 415, response.content
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    assert body["details"]["field"] == "file"
    assert_nothing_left(fs_storage)


def test_an_empty_file_is_refused_and_leaves_nothing(project, owner_client, run_tasks, fs_storage):
    # Empty is not a format: the field is invalid (400), as the serializer's allow_empty_file says.
    with run_tasks():
        response = create(owner_client, project, b"", "空.csv")
    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_INPUT"
    assert response.json()["details"]["field"] == "file"
    assert_nothing_left(fs_storage)


UNREADABLE = [
    pytest.param("ragged.csv", b"a,b\n1,2\n3,4,5\n6,7\n", {"row": 3, "column": 3}, id="ragged-csv"),
    pytest.param("ragged.tsv", "甲\t乙\n1\t2\n3\t4\t5\t6\n".encode(), {"row": 3, "column": 3}, id="ragged-tsv"),
    pytest.param("quote.csv", b'a,b\n1,2\n3,"open\n', {"row": 3}, id="unclosed-quote"),
    pytest.param("header.csv", "名称,名称\n1,2\n".encode(), {"row": 1, "column": 2}, id="duplicate-header"),
    pytest.param("broken.json", b'[{"a": 1}, {"a": 2}, {"a": ', {"row": 3}, id="broken-json"),
    pytest.param("broken.jsonl", b'{"a": 1}\n{"a": 2\n{"a": 3}\n', {"row": 2}, id="broken-jsonl"),
]


@pytest.mark.parametrize(("file_name", "content", "where"), UNREADABLE)
def test_unreadable_files_are_400_with_row_and_column_and_leave_nothing(
    project, owner_client, run_tasks, fs_storage, file_name, content, where
):
    with run_tasks():
        response = create(owner_client, project, content, file_name)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (400, "FILE_UNREADABLE")
    assert body["details"]["field"] == "file"
    assert {key: body["details"].get(key) for key in where} == where
    assert body["message"]
    assert_nothing_left(fs_storage)


def test_refusals_of_a_new_version_leave_the_dataset_as_it_was(project, owner_client, run_tasks, fs_storage):
    with run_tasks():
        dataset_id = create(owner_client, project, b"a,b\n1,2\n", "ok.csv").json()["id"]
    before = stored_files(fs_storage.location)
    assert len(before) == 3  # the original, its Parquet copy and the CSV export
    url = f"/api/v1/datasets/{dataset_id}/versions"
    with run_tasks():
        assert owner_client.post(url, {"file": upload(b"a,b\n1,2,3\n", "bad.csv")}).status_code == 400
        assert owner_client.post(url, {"file": upload(UNSUPPORTED[0].values[1], "x.pdf")}).status_code == 415
        with override_settings(API_MAX_UPLOAD_BYTES=100):
            assert owner_client.post(url, {"file": upload(b"a,b\n" + b"1,2\n" * 100, "big.csv")}).status_code == 413
    assert list(DatasetVersion.objects.values_list("number", flat=True)) == [1]
    assert Dataset.objects.get(pk=dataset_id).last_number == 1
    assert stored_files(fs_storage.location) == before
    # Numbers are not spent by refusals either.
    with run_tasks():
        assert owner_client.post(url, {"file": upload(b"a,b\n3,4\n", "ok.csv")}).json()["number"] == 2


# --- 413 ---------------------------------------------------------------------------------------------------


@override_settings(API_MAX_UPLOAD_BYTES=1024)
def test_over_the_upload_limit_is_413_before_the_body_is_read(project, owner_client, fs_storage, monkeypatch):
    from datasets import services

    def never(**kwargs):
        raise AssertionError("the file was read")

    monkeypatch.setattr(services, "file_receive", never)
    content = b"a,b\n" + b"1,2\n" * 1000
    response = create(owner_client, project, content, "big.csv")
    assert response.status_code == 413
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["limit_bytes"] == 1024
    assert body["details"]["received_bytes"] > 1024
    assert_nothing_left(fs_storage)
    # Just under the limit passes the middleware (and reaches the service).
    monkeypatch.undo()
    small = create(owner_client, project, b"a,b\n1,2\n", "small.csv")
    assert small.status_code == 201


@override_settings(API_MAX_UPLOAD_BYTES=1024)
def test_over_the_upload_limit_is_413_at_the_asgi_edge_without_reading(owner):
    """Under the ASGI server the edge answers first, from Content-Length, never calling receive()."""
    from incubator.edge import BufferedBody

    async def app(scope, receive, send):
        raise AssertionError("the application was called")

    async def receive():
        raise AssertionError("the body was read")

    sent = []

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/datasets",
        "query_string": b"",
        "headers": [(b"content-type", b"multipart/form-data; boundary=x"), (b"content-length", b"5000")],
    }
    asyncio.run(BufferedBody(app)(scope, receive, send))
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert (body["status_code"], body["error_code"]) == (413, "PAYLOAD_TOO_LARGE")


# --- a problem deeper in the file than the request reads ---------------------------------------------------


def deep_ragged_csv() -> bytes:
    """6,000 rows of about 250 bytes; line 5,000 (about 1.2 MB in, past the 1 MiB sample) has a third field."""
    lines = ["id,文本"] + [f"{number},{'样' * 80}" for number in range(1, 6000)]
    lines[4999] += ",多余"
    data = ("\n".join(lines) + "\n").encode()
    assert data.index("多余".encode()) > 1024 * 1024
    return data


def test_a_problem_past_the_sample_fails_the_version_and_leaves_no_parquet(
    project, owner_client, run_tasks, fs_storage
):
    content = deep_ragged_csv()
    with run_tasks():
        response = create(owner_client, project, content, "深处有错.csv")
    assert response.status_code == 201  # the request checks only the beginning
    dataset_id = response.json()["id"]

    version = version_of(owner_client, dataset_id)
    assert version["status"] == "failed"
    assert version["error"]["code"] == "FILE_UNREADABLE"
    assert "5000" in version["error"]["message"]
    assert version["error"]["details"]["row"] == 5000
    assert version["error"]["details"]["column"] == 3
    assert version["row_count"] is None and version["columns"] == []
    assert version["profile_status"] == "failed"  # nothing left to wait for

    stored = DatasetVersion.objects.get(dataset_id=dataset_id)
    assert stored.parquet == ""
    files = stored_files(fs_storage.location)
    assert files == [stored.original]  # the original stays with its failed version; no Parquet, no export
    assert not any(name.endswith(".parquet") for name in files)

    types = list(Event.objects.filter(topic=f"dataset:{dataset_id}").values_list("type", flat=True))
    assert types[0] == "dataset.created"
    assert "dataset.version.processing" in types and types[-1] == "dataset.version.failed"
    assert "dataset.version.ready" not in types
    failed = Event.objects.get(topic=f"dataset:{dataset_id}", type="dataset.version.failed")
    assert failed.payload["error"]["code"] == "FILE_UNREADABLE"

    # A failed version has no rows to show and is listed as failed.
    rows = owner_client.get(f"/api/v1/datasets/{dataset_id}/versions/1/rows")
    assert (rows.status_code, rows.json()["error_code"]) == (409, "VERSION_NOT_READY")
    listed = owner_client.get("/api/v1/datasets", {"status": "failed"}).json()
    assert [item["id"] for item in listed["datasets"]] == [dataset_id]


def test_a_failure_stored_by_the_worker_is_read_in_each_readers_language(project, owner_client, run_tasks):
    with run_tasks():
        response = owner_client.post(
            "/api/v1/datasets",
            {"project": project.id, "name": "英文上传", "file": upload(deep_ragged_csv(), "deep.csv")},
            format="multipart",
            HTTP_ACCEPT_LANGUAGE="en",  # the worker works in the uploader's language
        )
    url = f"/api/v1/datasets/{response.json()['id']}/versions/1"
    english = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").json()
    chinese = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english["error"]["message"] == "Line 5000 has 3 fields, but the header has 2."
    assert chinese["error"]["message"] == "第 5000 行有 3 个字段，而表头有 2 个。"
    assert english["error"]["details"] == chinese["error"]["details"] == {"row": 5000, "column": 3}
    stored = DatasetVersion.objects.get(dataset_id=response.json()["id"])
    assert stored.error_message == english["error"]["message"]  # what admin shows: the uploader's language
    assert stored.profile_status == "failed"
    assert stored.translations["profile_error"] == {
        "en": "The version failed, so it has no profile.",
        "zh-hans": "该版本处理失败，因此没有数据画像。",
    }


def test_invalid_text_past_the_sample_fails_the_version_with_its_line(project, owner_client, run_tasks, fs_storage):
    # UTF-8 for the first megabyte, then one line saved as GBK: found by the conversion, named by its line.
    lines = ["id,文本"] + [f"{number},{'样' * 80}" for number in range(1, 6000)]
    data = ("\n".join(lines) + "\n").encode().replace("5000,样".encode(), b"5000," + "样".encode("gbk"))
    with run_tasks():
        dataset_id = create(owner_client, project, data, "混合编码.csv").json()["id"]
    version = version_of(owner_client, dataset_id)
    assert version["status"] == "failed"
    assert version["error"]["code"] == "FILE_UNREADABLE"
    assert version["error"]["details"]["row"] == 5001  # the header is line 1
    assert not any(name.endswith(".parquet") for name in stored_files(fs_storage.location))


def test_the_file_name_keeps_only_its_last_part(project, owner_client):
    response = create(owner_client, project, b"a\n1\n", "../../秘密\x00/报 告.csv")
    assert response.status_code == 201
    version = version_of(owner_client, response.json()["id"])
    assert version["file_name"] == "报 告.csv"


def test_with_the_broker_down_the_upload_stands_and_its_conversion_is_sent_later(
    project, owner_client, run_tasks, fs_storage, monkeypatch, caplog
):
    """The version has committed when its conversion is sent: a broker that is down must not turn the upload into a
    500 (the client would retry a write that succeeded); the version waits, and requeue_stale sends it later."""
    from kombu.exceptions import OperationalError

    from datasets import services, tasks

    def unreachable(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.version_convert, "delay", unreachable)
    with run_tasks():
        response = create(owner_client, project, "名称,数量\n苹果,3\n".encode(), "水果.csv")
    assert response.status_code == 201, response.content
    version = DatasetVersion.objects.get(dataset_id=response.json()["id"])
    assert version.status == DatasetVersion.Status.PROCESSING
    assert "not sent (broker unreachable)" in caplog.text

    monkeypatch.undo()
    from datetime import timedelta

    assert services.dataset_versions_requeue_stale(older_than=timedelta(0)) >= 1
    version.refresh_from_db()
    assert version.status == DatasetVersion.Status.READY


def test_an_empty_metadata_form_field_is_metadata_not_sent(project, owner_client, run_tasks, fs_storage):
    """Swagger UI sends `metadata=` when the optional field is cleared ("Send empty value"): not a JSON error."""
    response = owner_client.post(
        "/api/v1/datasets",
        {"project": project.id, "name": "空元数据", "metadata": "", "file": upload(b"a,b\n1,2\n", "x.csv")},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    assert Dataset.objects.get(pk=response.json()["id"]).metadata == {}
