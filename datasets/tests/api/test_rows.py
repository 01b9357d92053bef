"""The preview: pages of a ready version's rows with page, page_size and columns, links to the next and previous
pages, and values made JSON-safe (NaN, infinities, dates, datetimes, decimals, bytes) all the way through HTTP."""

import base64
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
import pytest

from datasets import services
from datasets.models import DatasetVersion
from datasets.tests.factories import make_dataset, parquet_bytes, upload

pytestmark = pytest.mark.django_db

ROWS = 25


def numbered_csv(rows: int = ROWS) -> bytes:
    lines = ["序号,名字,分数"] + [f"{n},名字{n},{n * 1.5}" for n in range(1, rows + 1)]
    return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def dataset(project, owner):
    return make_dataset(project, owner, content=numbered_csv(), file_name="编号.csv", profile=False)


def rows_url(dataset, number=1):
    return f"/api/v1/datasets/{dataset.id}/versions/{number}/rows"


def test_pages_with_links(dataset, owner_client):
    first = owner_client.get(rows_url(dataset), {"page_size": 10})
    assert first.status_code == 200
    body = first.json()
    assert body["columns"] == ["序号", "名字", "分数"]
    assert [row["序号"] for row in body["rows"]] == list(range(1, 11))
    assert body["rows"][0] == {"序号": 1, "名字": "名字1", "分数": 1.5}
    page = body["pagination"]
    assert {key: page[key] for key in ("page", "page_size", "total", "total_pages")} == {
        "page": 1,
        "page_size": 10,
        "total": ROWS,
        "total_pages": 3,
    }
    assert page["previous"] is None
    assert page["next"].startswith("http://testserver/api/v1/")
    assert "page=2" in page["next"] and "page_size=10" in page["next"]

    second = owner_client.get(page["next"]).json()
    assert [row["序号"] for row in second["rows"]] == list(range(11, 21))
    assert "page=1" in second["pagination"]["previous"] and "page=3" in second["pagination"]["next"]

    last = owner_client.get(second["pagination"]["next"]).json()
    assert [row["序号"] for row in last["rows"]] == list(range(21, 26))
    assert last["pagination"]["next"] is None
    assert "page=2" in last["pagination"]["previous"]


def test_default_page_is_the_first_fifty(dataset, owner_client):
    body = owner_client.get(rows_url(dataset)).json()
    assert len(body["rows"]) == ROWS
    assert body["pagination"]["page_size"] == 50 and body["pagination"]["total_pages"] == 1


def test_a_page_past_the_end_is_404(dataset, owner_client):
    response = owner_client.get(rows_url(dataset), {"page": 4, "page_size": 10})
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    assert owner_client.get(rows_url(dataset), {"page": 3, "page_size": 10}).status_code == 200


def test_columns_are_picked(dataset, owner_client):
    body = owner_client.get(rows_url(dataset), {"columns": "分数,序号", "page_size": 2}).json()
    assert set(body["columns"]) == {"序号", "分数"}
    assert body["rows"] == [{"序号": 1, "分数": 1.5}, {"序号": 2, "分数": 3.0}]
    assert "columns=" in body["pagination"]["next"]


def test_bad_parameters_are_400_naming_the_field(dataset, owner_client):
    for params, field in [
        ({"columns": "序号,没有这一列"}, "columns"),
        ({"page": 0}, "page"),
        ({"page": "abc"}, "page"),
        ({"page_size": 501}, "page_size"),
        ({"page_size": 0}, "page_size"),
    ]:
        response = owner_client.get(rows_url(dataset), params)
        assert response.status_code == 400, params
        body = response.json()
        assert (body["status_code"], body["error_code"]) == (400, "INVALID_INPUT")
        assert body["details"]["field"] == field, params


def test_an_unknown_column_is_named_in_the_message(dataset, owner_client):
    body = owner_client.get(rows_url(dataset), {"columns": "没有这一列"}).json()
    assert "没有这一列" in body["details"]["message"]


def test_a_version_not_ready_is_409(project, owner, owner_client):
    dataset = services.dataset_create(
        project=project,
        actor=owner,
        data={"name": "处理中"},
        upload=upload(numbered_csv()),
    )
    response = owner_client.get(rows_url(dataset))
    assert response.status_code == 409
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (409, "VERSION_NOT_READY")
    assert body["details"]["status"] == "processing"
    assert owner_client.get(rows_url(dataset, 2)).status_code == 404  # no such version


def test_an_empty_version_has_one_empty_page(project, owner, owner_client):
    dataset = make_dataset(project, owner, content=b"a,b\n", file_name="空表.csv", profile=False)
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.status == "ready", version.error_message
    body = owner_client.get(rows_url(dataset)).json()
    assert body["rows"] == [] and body["pagination"]["total"] == 0 and body["pagination"]["next"] is None
    assert owner_client.get(rows_url(dataset), {"page": 2}).status_code == 404


def _refuse(constant):
    raise AssertionError(f"{constant} is not JSON")


def test_values_are_json_safe_through_http(project, owner, owner_client):
    frame = pl.DataFrame(
        {
            "浮点": [1.5, float("nan"), float("inf"), float("-inf"), None],
            "日期": [date(2024, 2, 29), date(1999, 12, 31), None, date(2000, 1, 1), date(2026, 1, 1)],
            # Naive on purpose: a wall-clock timestamp without a zone stays as written.
            "时间戳": [datetime(2024, 1, 2, 3, 4, 5, 678000), None, datetime(2024, 1, 1), None, None],  # noqa: DTZ001
            "带时区": [datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), None, None, None, None],
            "金额": pl.Series([Decimal("12.50"), Decimal("-0.01"), None, Decimal("1000000.00"), Decimal("0.00")]),
            "字节": [b"\x00\xffhi", b"", None, "中".encode(), b"x"],
            "大整数": [2**53 + 1, 1, None, -(2**60), 0],
        },
        schema_overrides={"金额": pl.Decimal(12, 2), "带时区": pl.Datetime("us", "UTC")},
    )
    dataset = make_dataset(project, owner, content=parquet_bytes(frame), file_name="类型.parquet", profile=False)
    version = DatasetVersion.objects.get(dataset=dataset)
    assert version.status == "ready", version.error_message

    response = owner_client.get(rows_url(dataset))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    # Standard JSON: a bare NaN or Infinity (which JSON.parse refuses) would fail here.
    rows = json.loads(response.content, parse_constant=_refuse)["rows"]
    assert [row["浮点"] for row in rows] == [1.5, None, "Infinity", "-Infinity", None]
    assert [row["日期"] for row in rows] == ["2024-02-29", "1999-12-31", None, "2000-01-01", "2026-01-01"]
    assert rows[0]["时间戳"] == "2024-01-02T03:04:05.678000"
    assert rows[2]["时间戳"] == "2024-01-01T00:00:00"
    assert rows[0]["带时区"] == "2024-01-02T03:04:05Z"
    assert [row["金额"] for row in rows] == ["12.50", "-0.01", None, "1000000.00", "0.00"]
    assert [row["字节"] for row in rows] == [
        base64.b64encode(b"\x00\xffhi").decode(),
        "",
        None,
        base64.b64encode("中".encode()).decode(),
        base64.b64encode(b"x").decode(),
    ]
    assert [row["大整数"] for row in rows] == [str(2**53 + 1), 1, None, str(-(2**60)), 0]
    types = {
        column["name"]: column["type"]
        for column in owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1").json()["columns"]
    }
    assert types == {
        "浮点": "float",
        "日期": "date",
        "时间戳": "datetime",
        "带时区": "datetime",
        "金额": "decimal",
        "字节": "binary",
        "大整数": "integer",
    }


def test_a_column_whose_name_has_a_comma_is_picked_in_double_quotes(project, owner, owner_client):
    content = '"收入, 2024",地区\n1,北京\n2,上海\n3,广州\n'.encode()
    dataset = make_dataset(project, owner, content=content, file_name="收入.csv", profile=False)
    body = owner_client.get(rows_url(dataset), {"columns": '"收入, 2024"', "page_size": 2}).json()
    assert body["columns"] == ["收入, 2024"]
    assert body["rows"] == [{"收入, 2024": 1}, {"收入, 2024": 2}]
    following = owner_client.get(body["pagination"]["next"]).json()
    assert following["rows"] == [{"收入, 2024": 3}]
    both = owner_client.get(rows_url(dataset), {"columns": '地区, "收入, 2024"'}).json()
    assert set(both["columns"]) == {"收入, 2024", "地区"} and len(both["rows"]) == 3
    # Unquoted, the comma separates names, as it always did.
    refused = owner_client.get(rows_url(dataset), {"columns": "收入, 2024"})
    assert refused.status_code == 400 and refused.json()["details"]["field"] == "columns"


@pytest.mark.parametrize("backend", ["fs_storage", "s3_storage"])
def test_a_version_whose_data_is_gone_from_the_storage_is_a_404_not_a_500(
    request, backend, project, owner, owner_client
):
    # A delete racing the page, or an object lost behind the service's back.
    from datasets import storage

    fixture = request.getfixturevalue(backend)
    version = make_dataset(project, owner, content=numbered_csv(30)).versions.get()
    if backend == "s3_storage":
        fixture.client.delete_object(
            Bucket=fixture.bucket, Key=storage._key(storage.datasets_storage(), version.parquet)
        )
        for cached in fixture.cache_dir.rglob("*"):
            if cached.is_file():
                cached.unlink()
    else:
        (fixture.location / version.parquet).unlink()
    response = owner_client.get(rows_url(version.dataset), HTTP_ACCEPT_LANGUAGE="en")
    body = response.json()
    assert (response.status_code, body["error_code"], body["details"]) == (404, "NOT_FOUND", {"file": "parquet"})
    assert body["message"] == "This version's data is no longer in the storage."
