"""Preprocessing through the API: pipelines validated before anything runs (400 naming pipeline.<step>.<field>),
the output checked value by value, lineage, byte-identical reruns, and a version not ready refused."""

import hashlib

import pytest

from datasets.models import DatasetVersion
from datasets.tests.factories import make_dataset, stored_files, upload
from incubator.events.models import Event

pytestmark = pytest.mark.django_db

WEATHER = (
    "城市,温度,湿度,等级\n北京,10,30,良\n上海,20,,优\n广州,30,80,优\n深圳,,60,良\n北京,10,30,良\n成都,40,50,差\n"
).encode()

PIPELINE = [
    {"type": "deduplicate"},
    {"type": "drop_na", "columns": ["温度"]},
    {"type": "fill_na", "columns": ["湿度"], "strategy": "constant", "value": 0},
    {"type": "filter", "column": "温度", "op": "ge", "value": 20},
    {"type": "normalize", "columns": ["温度"]},
    {"type": "rename", "mapping": {"等级": "grade"}},
    {"type": "label_encode", "columns": ["grade"]},
    {"type": "select_columns", "columns": ["城市", "温度", "湿度", "grade"]},
]


@pytest.fixture
def dataset(project, owner):
    return make_dataset(project, owner, content=WEATHER, name="天气", file_name="天气.csv", profile=False)


def preprocess(client, dataset, pipeline, number=1):
    return client.post(
        f"/api/v1/datasets/{dataset.id}/versions/{number}/preprocess", {"pipeline": pipeline}, format="json"
    )


def rows(client, dataset, number):
    response = client.get(f"/api/v1/datasets/{dataset.id}/versions/{number}/rows")
    assert response.status_code == 200, response.content
    return response.json()["rows"]


def test_a_pipeline_output_value_by_value(dataset, owner_client, run_tasks):
    with run_tasks():
        response = preprocess(owner_client, dataset, PIPELINE)
    assert response.status_code == 201, response.content
    created = response.json()
    assert (created["number"], created["status"], created["source"]) == (2, "processing", "pipeline")

    version = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/2").json()
    assert version["status"] == "ready", version["error"]
    assert version["format"] == "parquet"
    assert version["row_count"] == 3
    assert [(c["name"], c["type"]) for c in version["columns"]] == [
        ("城市", "string"),
        ("温度", "float"),
        ("湿度", "integer"),
        ("grade", "integer"),
    ]
    assert rows(owner_client, dataset, 2) == [
        {"城市": "上海", "温度": 0.0, "湿度": 0, "grade": 0},
        {"城市": "广州", "温度": 0.5, "湿度": 80, "grade": 0},
        {"城市": "成都", "温度": 1.0, "湿度": 50, "grade": 1},
    ]
    # The parent is untouched.
    assert len(rows(owner_client, dataset, 1)) == 6


def test_lineage_records_the_parent_and_the_normalized_pipeline(dataset, owner_client, run_tasks):
    with run_tasks():
        preprocess(owner_client, dataset, PIPELINE)
    with run_tasks():  # version 2 must be built before it can be preprocessed
        third = preprocess(owner_client, dataset, [{"type": "sample", "n": 2, "seed": 3}], number=2)
    assert third.status_code == 201, third.content
    assert third.json()["number"] == 3
    v2 = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/2").json()
    v3 = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/3").json()
    assert v2["lineage"]["parent"] == 1 and v3["lineage"]["parent"] == 2
    steps = v2["lineage"]["pipeline"]
    assert [step["type"] for step in steps] == [step["type"] for step in PIPELINE]
    # Normalized: every default is written out, so the record alone reproduces the run.
    assert steps[0] == {"type": "deduplicate", "columns": None, "keep": "first"}
    assert steps[1]["how"] == "any"
    assert steps[4]["method"] == "min_max"
    assert v3["lineage"]["pipeline"][0]["fraction"] is None
    assert owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1").json()["lineage"] == {
        "parent": None,
        "pipeline": None,
    }
    stored = DatasetVersion.objects.get(dataset=dataset, number=3)
    assert stored.parent.number == 2


def test_the_same_pipeline_twice_gives_byte_identical_data(dataset, owner_client, run_tasks):
    pipeline = [*PIPELINE[:4], {"type": "train_test_split", "test_ratio": 0.5, "seed": 11}]
    with run_tasks():
        assert preprocess(owner_client, dataset, pipeline).json()["number"] == 2
        assert preprocess(owner_client, dataset, pipeline).json()["number"] == 3
    v2, v3 = (DatasetVersion.objects.get(dataset=dataset, number=n) for n in (2, 3))
    assert v2.status == v3.status == "ready"
    assert v2.parquet != v3.parquet  # two files...
    assert v2.parquet_sha256 == v3.parquet_sha256  # ...with the same bytes
    downloads = [
        owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/{n}/download?format=parquet") for n in (2, 3)
    ]
    assert downloads[0]["ETag"] == downloads[1]["ETag"] == f'"{v2.parquet_sha256}"'
    contents = [b"".join(response.streaming_content) for response in downloads]
    assert contents[0] == contents[1]
    assert hashlib.sha256(contents[0]).hexdigest() == v2.parquet_sha256
    split = rows(owner_client, dataset, 2)
    assert [row["split"] for row in split].count("test") == 2  # round-half-up(0.5 x 3)
    assert split == rows(owner_client, dataset, 3)


@pytest.mark.parametrize(
    ("pipeline", "field"),
    [
        ([{"type": "no_such_step"}], "pipeline.0.type"),
        ([{"type": "deduplicate"}, {"type": "filter", "column": "没有", "op": "eq", "value": 1}], "pipeline.1.column"),
        ([{"type": "filter", "column": "温度", "op": "between", "value": 1}], "pipeline.0.op"),
        ([{"type": "fill_na", "columns": ["温度"]}], "pipeline.0.strategy"),
        ([{"type": "normalize", "columns": ["城市"]}], "pipeline.0.columns"),
        (
            [{"type": "drop_columns", "columns": ["城市"]}, {"type": "select_columns", "columns": ["城市"]}],
            "pipeline.1.columns",
        ),
        ([{"type": "train_test_split", "test_ratio": 1.5}], "pipeline.0.test_ratio"),
        ("not a list", "pipeline"),
    ],
)
def test_invalid_pipelines_name_the_step_and_field(dataset, owner_client, run_tasks, fs_storage, pipeline, field):
    files = stored_files(fs_storage.location)
    with run_tasks():
        response = preprocess(owner_client, dataset, pipeline)
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (400, "INVALID_INPUT")
    assert body["details"]["field"] == field
    assert body["details"]["message"]
    assert field in body["details"]["errors"]
    # Nothing ran: no version, no number spent, no file.
    assert list(DatasetVersion.objects.filter(dataset=dataset).values_list("number", flat=True)) == [1]
    dataset.refresh_from_db()
    assert dataset.last_number == 1
    assert stored_files(fs_storage.location) == files


def test_a_version_not_ready_cannot_be_preprocessed(project, owner, owner_client, dataset):
    from datasets import services

    services.dataset_version_add(dataset=dataset, actor=owner, upload=upload(WEATHER, "v2.csv"))  # processing
    response = preprocess(owner_client, dataset, [{"type": "deduplicate"}], number=2)
    assert response.status_code == 409
    assert (response.json()["status_code"], response.json()["error_code"]) == (409, "VERSION_NOT_READY")
    DatasetVersion.objects.filter(dataset=dataset, number=2).update(status="failed", error_code="FILE_UNREADABLE")
    assert preprocess(owner_client, dataset, [{"type": "deduplicate"}], number=2).status_code == 409
    assert preprocess(owner_client, dataset, [{"type": "deduplicate"}], number=9).status_code == 404
    assert DatasetVersion.objects.filter(dataset=dataset).count() == 2


def test_a_pipeline_failing_at_run_time_fails_its_version_and_leaves_no_file(
    dataset, owner_client, run_tasks, fs_storage
):
    files = stored_files(fs_storage.location)
    with run_tasks():
        response = preprocess(owner_client, dataset, [{"type": "cast", "columns": ["城市"], "to": "integer"}])
    assert response.status_code == 201
    version = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/2").json()
    assert version["status"] == "failed"
    assert version["error"]["code"] == "PIPELINE_FAILED"
    assert version["error"]["details"]["step"] == 0
    assert stored_files(fs_storage.location) == files
    # Stored by the worker, read by each member in their own language (the pipeline's parts included).
    url = f"/api/v1/datasets/{dataset.id}/versions/2"
    english = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").json()["error"]["message"]
    chinese = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["error"]["message"]
    assert english.startswith("Step 1: value ") and "is not a valid integer" in english, english
    assert chinese.startswith("第 1 步") and "城市" in chinese and english != chinese, chinese
    assert Event.objects.filter(type="dataset.version.failed", topic=f"dataset:{dataset.id}").count() == 1
