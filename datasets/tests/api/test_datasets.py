"""The dataset resource and its versions through the API: the list (filters, ordering, totals), changes,
metadata validated against the schema registry, deletes (files go after commit, numbers never come back), the
profile endpoint, and safe retries."""

import json
import uuid

import pytest

from datasets import services
from datasets.models import Dataset, DatasetVersion
from datasets.tests.factories import CSV, convert, make_dataset, parquet_bytes, stored_files, upload
from incubator.events.models import Event
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db


def listing(client, **params):
    response = client.get("/api/v1/datasets", params)
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"datasets", "pagination"}
    return body


def ids(body):
    return [item["id"] for item in body["datasets"]]


# --- the list --------------------------------------------------------------------------------------------


@pytest.fixture
def catalog(project, owner):
    """Four datasets in two projects, of three formats and two statuses."""
    import polars as pl

    other = make_project(owner, name="另一个项目")
    air = make_dataset(project, owner, name="空气质量", description="北京和上海的每日空气质量指数", profile=False)
    reviews = make_dataset(
        project,
        owner,
        name="Customer reviews",
        description="电商评论，带情感标签",
        content='[{"评论": "很好", "情感": 1}]'.encode(),
        file_name="reviews.json",
        profile=False,
    )
    sales = make_dataset(
        other,
        owner,
        name="销售记录",
        content=parquet_bytes(pl.DataFrame({"月份": [1, 2], "销售额": [10.5, 20.25]})),
        file_name="sales.parquet",
        profile=False,
    )
    broken = make_dataset(other, owner, name="坏文件", content=None)
    # Failed as a conversion fails it (test_uploads makes a real one; here only the status matters).
    services.dataset_version_add(dataset=broken, actor=owner, upload=upload())
    services._version_fail(broken.versions.get().id, code="FILE_UNREADABLE", message="Line 9 has 3 fields.")
    empty = make_dataset(project, owner, name="空的", content=None)
    return {
        "project": project,
        "other": other,
        "air": air,
        "reviews": reviews,
        "sales": sales,
        "broken": broken,
        "empty": empty,
    }


def test_list_shape(catalog, owner_client):
    body = listing(owner_client)
    assert body["pagination"]["total"] == 5
    item = next(item for item in body["datasets"] if item["id"] == catalog["air"].id)
    assert item == {
        "id": catalog["air"].id,
        "project": catalog["project"].id,
        "name": "空气质量",
        "description": "北京和上海的每日空气质量指数",
        "version_count": 1,
        "latest_version": {
            "number": 1,
            "status": "ready",
            "format": "csv",
            "size": len(CSV),
            "row_count": 3,
            "column_count": 4,
        },
        "metadata": {},
        "schema_version": 1,
        "created_by": catalog["air"].created_by_id,
        "created_at": item["created_at"],
        "updated_at": item["updated_at"],
    }
    assert item["created_at"].endswith("Z")
    empty = next(item for item in body["datasets"] if item["id"] == catalog["empty"].id)
    assert empty["latest_version"] is None and empty["version_count"] == 0


FILTERS = [
    ({"format": "csv"}, ["air", "broken"]),
    ({"format": "json,parquet"}, ["reviews", "sales"]),
    ({"status": "failed"}, ["broken"]),
    ({"status": "ready", "format": "csv"}, ["air"]),
    ({"search": "空气"}, ["air"]),
    ({"search": "情感标签"}, ["reviews"]),
    ({"search": "CUSTOMER"}, ["reviews"]),
    ({"search": "没有这个词"}, []),
]


def test_filters(catalog, owner_client):
    for params, expected in FILTERS:
        body = listing(owner_client, **params)
        assert sorted(ids(body)) == sorted(catalog[name].id for name in expected), params
        assert body["pagination"]["total"] == len(expected), params


def test_filter_by_project(catalog, owner_client):
    body = listing(owner_client, project=catalog["other"].id)
    assert sorted(ids(body)) == sorted([catalog["sales"].id, catalog["broken"].id])
    assert body["pagination"]["total"] == 2
    both = listing(owner_client, project=f"{catalog['other'].id},{catalog['project'].id}")
    assert both["pagination"]["total"] == 5


def test_unknown_filter_values_are_400(catalog, owner_client):
    for params, field in [
        ({"format": "pdf"}, "format"),
        ({"status": "done"}, "status"),
        ({"ordering": "size"}, "ordering"),
    ]:
        response = owner_client.get("/api/v1/datasets", params)
        assert response.status_code == 400, params
        assert response.json()["error_code"] == "INVALID_INPUT"
        assert response.json()["details"]["field"].split(".")[0] == field  # "format.0": the first value


def test_ordering(catalog, owner_client):
    newest_first = ids(listing(owner_client))
    created = [catalog[name].id for name in ("air", "reviews", "sales", "broken", "empty")]
    assert newest_first == created[::-1]
    assert ids(listing(owner_client, ordering="created_at")) == created
    by_name = [item["name"] for item in listing(owner_client, ordering="name")["datasets"]]
    assert by_name == sorted(by_name)
    assert [item["name"] for item in listing(owner_client, ordering="-name")["datasets"]] == by_name[::-1]


def test_pages(catalog, owner_client):
    first = listing(owner_client, page_size=2)
    assert len(first["datasets"]) == 2 and first["pagination"]["total_pages"] == 3
    last = listing(owner_client, page_size=2, page=3)
    assert len(last["datasets"]) == 1 and last["pagination"]["next"] is None


def test_totals_follow_creates_and_deletes(project, owner, owner_client):
    assert listing(owner_client)["pagination"]["total"] == 0
    first = owner_client.post("/api/v1/datasets", {"project": project.id, "name": "一"}, format="json")
    assert first.status_code == 201
    assert listing(owner_client)["pagination"]["total"] == 1
    assert listing(owner_client, search="一")["pagination"]["total"] == 1
    owner_client.post("/api/v1/datasets", {"project": project.id, "name": "二"}, format="json")
    assert listing(owner_client)["pagination"]["total"] == 2
    assert listing(owner_client, search="一")["pagination"]["total"] == 1
    assert owner_client.delete(f"/api/v1/datasets/{first.json()['id']}").status_code == 204
    assert listing(owner_client)["pagination"]["total"] == 1
    assert listing(owner_client, search="一")["pagination"]["total"] == 0
    # The status filter follows the latest version's status as it changes.
    dataset = Dataset.objects.get(name="二")
    services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    assert listing(owner_client, status="processing")["pagination"]["total"] == 1
    convert(dataset, profile=False)
    assert listing(owner_client, status="processing")["pagination"]["total"] == 0
    assert listing(owner_client, status="ready")["pagination"]["total"] == 1


def test_totals_follow_project_visibility(project, owner, auth_client, make_user):
    from projects import services as project_services

    make_dataset(project, owner, content=None)
    outsider = auth_client(make_user())
    assert listing(outsider)["pagination"]["total"] == 1
    project_services.project_update(project=project, actor=owner, data={"visibility": "private"})
    body = listing(outsider)
    assert (body["pagination"]["total"], body["datasets"]) == (0, [])


def test_totals_follow_membership(project, owner, auth_client, make_user):
    from projects import services as project_services

    private = make_project(owner, name="私有", visibility="private")
    make_dataset(project, owner, content=None, name="公开的")
    make_dataset(private, owner, content=None, name="私有的")
    newcomer = make_user()
    client = auth_client(newcomer)
    assert listing(client)["pagination"]["total"] == 1
    project_services.member_add(project=private, actor=owner, user_id=newcomer.id, role="member")
    body = listing(client)
    assert body["pagination"]["total"] == len(body["datasets"]) == 2
    project_services.member_remove(project=private, actor=owner, user_id=newcomer.id)
    body = listing(client)
    assert body["pagination"]["total"] == len(body["datasets"]) == 1


def test_both_spellings_of_the_list_path(project, owner_client):
    created = owner_client.post("/api/v1/datasets/", {"project": project.id, "name": "斜杠"}, format="json")
    assert created.status_code == 201
    assert owner_client.get("/api/v1/datasets/").json()["pagination"]["total"] == 1
    assert owner_client.get(f"/api/v1/datasets/{created.json()['id']}/versions/").json()["versions"] == []


# --- changes ------------------------------------------------------------------------------------------------


def test_patch_and_name_taken(project, owner, owner_client):
    air = make_dataset(project, owner, content=None, name="空气")
    make_dataset(project, owner, content=None, name="Weather")
    response = owner_client.patch(f"/api/v1/datasets/{air.id}", {"description": "每小时的数据"}, format="json")
    assert response.status_code == 200
    assert response.json()["description"] == "每小时的数据"
    assert Event.objects.filter(type="dataset.updated", subject_id=str(air.id)).count() == 1

    taken = owner_client.patch(f"/api/v1/datasets/{air.id}", {"name": "weather"}, format="json")
    assert taken.status_code == 409
    assert (taken.json()["error_code"], taken.json()["details"]["field"]) == ("DATASET_NAME_TAKEN", "name")
    air.refresh_from_db()
    assert air.name == "空气"
    # Another project may use the name.
    other = make_project(owner, name="别的项目")
    created = owner_client.post("/api/v1/datasets", {"project": other.id, "name": "Weather"}, format="json")
    assert created.status_code == 201


def test_a_name_taken_with_a_file_leaves_no_file(project, owner, owner_client, run_tasks, fs_storage):
    make_dataset(project, owner, content=None, name="空气")
    with run_tasks():
        response = owner_client.post("/api/v1/datasets", {"project": project.id, "name": "空气", "file": upload()})
    assert response.status_code == 409
    assert response.json()["error_code"] == "DATASET_NAME_TAKEN"
    assert stored_files(fs_storage.location) == []
    assert Dataset.objects.count() == 1 and not DatasetVersion.objects.exists()


# --- metadata -----------------------------------------------------------------------------------------------

STRICTER = {"type": "object", "properties": {"source": {"type": "string"}, "licence": {"type": "string"}}}


def register_stricter_metadata(actor):
    """Version 2 of `dataset.metadata`: `source` and `licence`, when given, are strings. Only the types of optional
    properties change, which BACKWARD compatibility refuses (a v1 document may hold a number there): NONE here."""
    from schema_registry.selectors import subject_get
    from schema_registry.services import schema_version_register, subject_update

    subject = subject_update(subject=subject_get(name="dataset.metadata"), actor=actor, data={"compatibility": "NONE"})
    version, created = schema_version_register(subject=subject, schema=STRICTER, actor=actor)
    assert (version.number, created) == (2, True)


@pytest.fixture
def platform_admin(make_user):
    return make_user(is_staff=True, is_superuser=True)


@pytest.fixture
def stricter_metadata(platform_admin):
    register_stricter_metadata(platform_admin)


def updated_events(dataset):
    return list(Event.objects.filter(type="dataset.updated", subject_id=str(dataset.id)).order_by("id"))


def test_metadata_is_stored_stamped_and_shown(project, owner_client):
    metadata = {"source": "中国环境监测总站", "licence": "CC-BY-4.0", "stations": [1, 2], "hourly": True}
    response = owner_client.post(
        "/api/v1/datasets", {"project": project.id, "name": "空气", "metadata": metadata}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["metadata"], body["schema_version"]) == (metadata, 1)
    dataset = Dataset.objects.get(pk=body["id"])
    assert (dataset.metadata, dataset.schema_version) == (metadata, 1)
    assert owner_client.get(f"/api/v1/datasets/{dataset.id}").json() == body
    assert next(item for item in listing(owner_client)["datasets"] if item["id"] == dataset.id) == body
    # Without metadata: an empty object, valid against version 1.
    empty = owner_client.post("/api/v1/datasets", {"project": project.id, "name": "空的"}, format="json").json()
    assert (empty["metadata"], empty["schema_version"]) == ({}, 1)


def test_metadata_against_a_stricter_schema(project, owner, owner_client, platform_admin):
    dataset = make_dataset(project, owner, content=None, name="空气")
    register_stricter_metadata(platform_admin)
    # A write that does not fit version 2 is refused, naming the JSON path, and changes nothing.
    bad = owner_client.patch(
        f"/api/v1/datasets/{dataset.id}",
        {"description": "新的", "metadata": {"source": 1, "licence": "CC0"}},
        format="json",
    )
    assert bad.status_code == 400, bad.content
    body = bad.json()
    assert (body["error_code"], body["details"]["field"]) == ("INVALID_INPUT", "metadata.source")
    assert list(body["details"]["errors"]) == ["metadata.source"]
    dataset.refresh_from_db()
    assert (dataset.metadata, dataset.schema_version, dataset.description) == ({}, 1, "")
    assert updated_events(dataset) == []
    refused = owner_client.post(
        "/api/v1/datasets", {"project": project.id, "name": "另一个", "metadata": {"licence": ["CC0"]}}, format="json"
    )
    assert (refused.status_code, refused.json()["details"]["field"]) == (400, "metadata.licence")
    assert not Dataset.objects.filter(name="另一个").exists()
    # A write that fits is stamped with version 2, and the event names what changed.
    good = owner_client.patch(f"/api/v1/datasets/{dataset.id}", {"metadata": {"source": "气象局"}}, format="json")
    assert good.status_code == 200, good.content
    assert (good.json()["metadata"], good.json()["schema_version"]) == ({"source": "气象局"}, 2)
    dataset.refresh_from_db()
    assert (dataset.metadata, dataset.schema_version) == ({"source": "气象局"}, 2)
    assert [event.payload["changed"] for event in updated_events(dataset)] == [["metadata"]]
    created = owner_client.post(
        "/api/v1/datasets", {"project": project.id, "name": "新的", "metadata": {"licence": "CC0"}}, format="json"
    )
    assert (created.status_code, created.json()["schema_version"]) == (201, 2)


def test_unchanged_metadata_changes_nothing(project, owner, owner_client, stricter_metadata):
    # Written under version 1 with what version 2 refuses: sent back unchanged, it is neither checked again nor
    # stamped with the new version, and emits nothing.
    Dataset.objects.filter(pk=make_dataset(project, owner, content=None, name="旧").pk).update(
        metadata={"source": 1}, schema_version=1
    )
    dataset = Dataset.objects.get(name="旧")
    same = owner_client.patch(f"/api/v1/datasets/{dataset.id}", {"metadata": {"source": 1}}, format="json")
    assert same.status_code == 200, same.content
    assert (same.json()["metadata"], same.json()["schema_version"]) == ({"source": 1}, 1)
    assert updated_events(dataset) == []
    # With another field changed, only that field is.
    renamed = owner_client.patch(
        f"/api/v1/datasets/{dataset.id}", {"name": "改名", "metadata": {"source": 1}}, format="json"
    )
    assert renamed.status_code == 200, renamed.content
    assert (renamed.json()["name"], renamed.json()["schema_version"]) == ("改名", 1)
    assert [event.payload["changed"] for event in updated_events(dataset)] == [["name"]]
    # Changed as JSON though equal in Python (1 == True): checked, refused by version 2, nothing written.
    other = owner_client.patch(f"/api/v1/datasets/{dataset.id}", {"metadata": {"source": True}}, format="json")
    assert (other.status_code, other.json()["details"]["field"]) == (400, "metadata.source")
    dataset.refresh_from_db()
    assert dataset.metadata == {"source": 1} and dataset.metadata["source"] is not True


@pytest.mark.parametrize("value", [[{"source": "x"}], "source", 3, True, None])
def test_metadata_that_is_not_an_object_is_400(project, owner, owner_client, value):
    dataset = make_dataset(project, owner, content=None, name="空气", metadata={"source": "x"})
    for response in (
        owner_client.post("/api/v1/datasets", {"project": project.id, "name": "新", "metadata": value}, format="json"),
        owner_client.patch(f"/api/v1/datasets/{dataset.id}", {"metadata": value}, format="json"),
    ):
        assert response.status_code == 400, (value, response.content)
        assert (response.json()["error_code"], response.json()["details"]["field"]) == ("INVALID_INPUT", "metadata")
    dataset.refresh_from_db()
    assert dataset.metadata == {"source": "x"} and Dataset.objects.count() == 1


def test_multipart_metadata_is_a_json_string(project, owner_client, run_tasks, fs_storage):
    metadata = {"source": "气象局", "years": [2025, 2026]}
    with run_tasks():
        response = owner_client.post(
            "/api/v1/datasets",
            {"project": project.id, "name": "带文件", "file": upload(), "metadata": json.dumps(metadata)},
        )
    assert response.status_code == 201, response.content
    assert (response.json()["metadata"], response.json()["schema_version"]) == (metadata, 1)
    dataset = Dataset.objects.get(name="带文件")
    assert dataset.metadata == metadata
    assert dataset.versions.get().status == "ready"  # the file went with it
    without = owner_client.post("/api/v1/datasets", {"project": project.id, "name": "无元数据"})
    assert (without.status_code, without.json()["metadata"]) == (201, {})


@pytest.mark.parametrize(
    "text", ["not json", "{'source': 1}", '["a"]', '"text"', "42", "null", '{"size": NaN}', "[" * 100_000]
)
def test_multipart_metadata_that_is_not_a_json_object_is_400(project, owner_client, run_tasks, fs_storage, text):
    with run_tasks():
        response = owner_client.post(
            "/api/v1/datasets", {"project": project.id, "name": "带文件", "file": upload(), "metadata": text}
        )
    assert response.status_code == 400, response.content[:300]
    assert (response.json()["error_code"], response.json()["details"]["field"]) == ("INVALID_INPUT", "metadata")
    assert not Dataset.objects.exists() and stored_files(fs_storage.location) == []


def test_multipart_metadata_against_a_stricter_schema(project, owner_client, fs_storage, stricter_metadata):
    response = owner_client.post(
        "/api/v1/datasets",
        {"project": project.id, "name": "带文件", "file": upload(), "metadata": '{"source": 1}'},
    )
    assert (response.status_code, response.json()["details"]["field"]) == (400, "metadata.source")
    assert not Dataset.objects.exists() and stored_files(fs_storage.location) == []


def test_dataset_bodies_are_the_documented_component(project, owner, owner_client):
    from incubator.tests.test_openapi import generated_schema, validate_against

    schema = generated_schema()
    dataset = make_dataset(project, owner, metadata={"source": "气象局", "tags": ["空气"], "nested": {"a": None}})
    body = owner_client.get(f"/api/v1/datasets/{dataset.id}").json()
    assert body["metadata"]["nested"] == {"a": None} and body["schema_version"] == 1
    validate_against(schema, {"$ref": "#/components/schemas/Dataset"}, body)
    for item in listing(owner_client)["datasets"]:
        validate_against(schema, {"$ref": "#/components/schemas/Dataset"}, item)


# --- deletes ------------------------------------------------------------------------------------------------


def version_files(version):
    return {name for name in (version.original, version.parquet, version.csv) if name}


def test_deleting_a_version_removes_its_files_and_keeps_the_other_numbers(
    project, owner, owner_client, run_tasks, fs_storage
):
    with run_tasks():
        dataset_id = owner_client.post(
            "/api/v1/datasets", {"project": project.id, "name": "三个版本", "file": upload()}
        ).json()["id"]
        for _ in range(2):
            owner_client.post(f"/api/v1/datasets/{dataset_id}/versions", {"file": upload()})
    versions = {v.number: v for v in DatasetVersion.objects.filter(dataset_id=dataset_id)}
    assert sorted(versions) == [1, 2, 3]
    assert all(v.csv for v in versions.values())  # original, Parquet and CSV for each
    before = set(stored_files(fs_storage.location))
    assert len(before) == 9

    with run_tasks():
        assert owner_client.delete(f"/api/v1/datasets/{dataset_id}/versions/2").status_code == 204
    assert set(stored_files(fs_storage.location)) == before - version_files(versions[2])
    listed = owner_client.get(f"/api/v1/datasets/{dataset_id}/versions").json()
    assert [v["number"] for v in listed["versions"]] == [1, 3]
    assert owner_client.get(f"/api/v1/datasets/{dataset_id}/versions/2").status_code == 404
    # Deleting the newest moves the latest version back; the next number is still never reused.
    with run_tasks():
        assert owner_client.delete(f"/api/v1/datasets/{dataset_id}/versions/3").status_code == 204
    detail = owner_client.get(f"/api/v1/datasets/{dataset_id}").json()
    assert (detail["version_count"], detail["latest_version"]["number"]) == (1, 1)
    with run_tasks():
        added = owner_client.post(f"/api/v1/datasets/{dataset_id}/versions", {"file": upload()})
    assert added.json()["number"] == 4
    assert owner_client.get(f"/api/v1/datasets/{dataset_id}").json()["version_count"] == 2
    types = list(Event.objects.filter(type="dataset.version.deleted").values_list("payload__number", flat=True))
    assert types == [2, 3]


def test_a_rolled_back_delete_keeps_the_files(project, owner, fs_storage, django_capture_on_commit_callbacks):
    dataset = make_dataset(project, owner)
    before = stored_files(fs_storage.location)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.dataset_version_delete(version=dataset.versions.get(), actor=owner)
    # The files are deleted only by the callbacks the commit would run.
    assert callbacks and stored_files(fs_storage.location) == before
    for callback in callbacks:
        callback()
    assert stored_files(fs_storage.location) == []


def test_deleting_a_dataset_removes_every_file(project, owner, owner_client, run_tasks, fs_storage):
    with run_tasks():
        dataset = make_dataset(project, owner)
        services.dataset_version_add(dataset=dataset, actor=owner, upload=upload(CSV, "二.csv"))
    keep = make_dataset(project, owner, name="留下")
    kept = version_files(keep.versions.get())
    assert len(stored_files(fs_storage.location)) > len(kept)
    with run_tasks():
        assert owner_client.delete(f"/api/v1/datasets/{dataset.id}").status_code == 204
    assert set(stored_files(fs_storage.location)) == kept
    assert not DatasetVersion.objects.filter(dataset_id=dataset.id).exists()
    assert Event.objects.filter(type="dataset.deleted", subject_id=str(dataset.id)).exists()


# --- the profile ----------------------------------------------------------------------------------------------


def test_profile_is_202_while_pending_then_200(project, owner, owner_client):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "画像"}, upload=upload())
    url = f"/api/v1/datasets/{dataset.id}/versions/1/profile"
    processing = owner_client.get(url)
    assert (processing.status_code, processing.json()["error_code"]) == (409, "VERSION_NOT_READY")

    version = DatasetVersion.objects.get(dataset=dataset)
    services.dataset_version_convert(version_id=version.id)  # the profile follows in the same task
    assert owner_client.get(url).status_code == 200
    # As when the profile is queued (a pipeline's version waits for its task, or a worker died mid-way):
    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="pending", profile_progress=0.0, profile=None)
    pending = owner_client.get(url)
    assert pending.status_code == 202
    assert pending.json() == {"status": "pending", "progress": 0.0, "profile": None, "error": None}
    assert int(pending["Retry-After"]) > 0

    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="running", profile_progress=0.4)
    running = owner_client.get(url)
    assert running.status_code == 202
    assert (running.json()["status"], running.json()["progress"]) == ("running", 0.4)

    DatasetVersion.objects.filter(pk=version.pk).update(profile_status="pending", profile_progress=0.0)
    services.dataset_version_profile(version_id=version.id)
    ready = owner_client.get(url)
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["progress"], body["error"]) == ("ready", 1.0, None)
    profile = body["profile"]
    assert (profile["rows"], profile["columns"], profile["duplicate_rows"]) == (3, 4, 0)
    assert profile["memory_bytes"] > 0
    columns = {column["name"]: column for column in profile["column_profiles"]}
    assert list(columns) == ["城市", "日期", "AQI", "等级"]
    aqi = columns["AQI"]
    assert (aqi["type"], aqi["null_count"], aqi["min"], aqi["max"], aqi["mean"]) == ("integer", 1, 38, 52, 45.0)
    assert aqi["null_ratio"] == pytest.approx(1 / 3)
    assert sum(aqi["histogram"]["counts"]) == 2
    assert len(aqi["histogram"]["bins"]) == len(aqi["histogram"]["counts"]) + 1
    assert set(aqi["quantiles"]) >= {"p25", "p50", "p75"}
    grade = columns["等级"]
    assert grade["distinct_count"] == 2
    assert grade["top_values"][0] == {"value": "优", "count": 2}
    assert owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1").json()["profile_status"] == "ready"


def test_a_failed_profile_is_200_with_its_error(project, owner, owner_client, monkeypatch):
    from datasets.engine import profile

    def broken(*args, **kwargs):
        raise MemoryError("too big")

    monkeypatch.setattr(profile, "profile", broken)
    dataset = make_dataset(project, owner)  # converted, then the profile fails
    response = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1/profile")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["profile"]) == ("failed", None)
    assert body["error"]
    assert "too big" not in body["error"]  # the cause is logged, not shown
    url = f"/api/v1/datasets/{dataset.id}/versions/1/profile"
    assert owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").json()["error"] == "The profile could not be computed."
    assert owner_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["error"] == "无法计算数据画像。"


def test_events_are_recorded_in_order(project, owner_client, run_tasks):
    with run_tasks():
        dataset_id = owner_client.post(
            "/api/v1/datasets", {"project": project.id, "name": "事件", "file": upload()}
        ).json()["id"]
    types = list(Event.objects.filter(topic=f"dataset:{dataset_id}").values_list("type", flat=True))
    milestones = [t for t in types if not t.endswith(".progress")]
    assert milestones == [
        "dataset.created",
        "dataset.version.processing",
        "dataset.version.ready",
        "dataset.profile.ready",
    ]
    ready = Event.objects.get(topic=f"dataset:{dataset_id}", type="dataset.version.ready")
    assert ready.payload["number"] == 1 and ready.payload["row_count"] == 3
    assert ready.payload["project_id"] == project.id


# --- safe retries --------------------------------------------------------------------------------------------


def test_a_replayed_create_returns_the_first_answer_and_creates_one_dataset(project, owner_client, run_tasks):
    key = str(uuid.uuid4())
    data = {"project": project.id, "name": "重试", "description": "网络不好"}
    with run_tasks():
        first = owner_client.post("/api/v1/datasets", data, format="json", HTTP_IDEMPOTENCY_KEY=key)
        second = owner_client.post("/api/v1/datasets", data, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert second["Idempotent-Replayed"] == "true"
    assert Dataset.objects.filter(name="重试").count() == 1
    assert Event.objects.filter(type="dataset.created").count() == 1
    # Another key creates (and here meets the name already taken).
    third = owner_client.post("/api/v1/datasets", data, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert third.status_code == 409


def test_a_replayed_upload_creates_one_version(project, owner_client, run_tasks, fs_storage):
    key = str(uuid.uuid4())
    with run_tasks():
        responses = [
            owner_client.post(
                "/api/v1/datasets",
                {"project": project.id, "name": "带文件", "file": upload()},
                HTTP_IDEMPOTENCY_KEY=key,
            )
            for _ in range(2)
        ]
    assert [r.status_code for r in responses] == [201, 201]
    assert responses[1].json() == responses[0].json()
    assert DatasetVersion.objects.count() == 1
    assert len(stored_files(fs_storage.location)) == 3  # one original, its Parquet copy and its CSV export


def test_the_same_key_with_another_body_is_refused(project, owner_client):
    key = str(uuid.uuid4())
    owner_client.post(
        "/api/v1/datasets", {"project": project.id, "name": "甲"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    other = owner_client.post(
        "/api/v1/datasets", {"project": project.id, "name": "乙"}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    assert (other.status_code, other.json()["error_code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
    assert not Dataset.objects.filter(name="乙").exists()


# --- messages follow Accept-Language ---------------------------------------------------------------------------


def test_error_messages_in_english_for_english_clients(project, owner, owner_client):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "语言"}, upload=upload())
    response = owner_client.get(f"/api/v1/datasets/{dataset.id}/versions/1/rows", HTTP_ACCEPT_LANGUAGE="en")
    assert response.json()["message"] == "This version is not ready: it is still processing or it failed."


def test_error_messages_in_chinese_for_chinese_clients(project, owner, owner_client):
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "语言"}, upload=upload())
    for url in (
        f"/api/v1/datasets/{dataset.id}/versions/1/rows",  # VERSION_NOT_READY
        f"/api/v1/datasets/{dataset.id}/versions/1/download?format=parquet",
    ):
        message = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["message"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in message), message
    bad = owner_client.post(
        f"/api/v1/datasets/{dataset.id}/versions",
        {"file": upload(b"a,b\n1,2,3\n", "x.csv")},
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert any("\u4e00" <= ch <= "\u9fff" for ch in bad.json()["message"]), bad.json()


def test_the_same_key_with_another_file_is_refused(project, owner_client):
    key = str(uuid.uuid4())
    first = {"project": project.id, "name": "文件", "file": upload(b"a\n1\n", "data.csv")}
    assert owner_client.post("/api/v1/datasets", first, HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    other = {"project": project.id, "name": "文件", "file": upload(b"a,b\n1,2\n", "data.csv")}
    response = owner_client.post("/api/v1/datasets", other, HTTP_IDEMPOTENCY_KEY=key)
    assert response.get("Idempotent-Replayed") != "true"
    assert (response.status_code, response.json()["error_code"]) == (409, "IDEMPOTENCY_KEY_REUSED")
