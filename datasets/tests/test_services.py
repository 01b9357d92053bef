"""datasets.services against the database and a real storage: files go with their rows however the rows go
(a project's cascade included), what another app protects cannot be deleted, and tasks delivered twice or
racing a delete leave neither a second file nor an orphan."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.db.models import CASCADE, PROTECT, SET_NULL

from datasets import services
from datasets.engine.errors import ParseFailure
from datasets.errors import VersionInUse
from datasets.models import Dataset, DatasetUpload, DatasetVersion
from datasets.tests.factories import make_dataset, stored_files, upload
from incubator.errors import ApiError
from incubator.events.models import Event
from projects import services as project_services

pytestmark = pytest.mark.django_db


# --- files follow their rows ----------------------------------------------------------------------------------


def test_deleting_the_project_deletes_the_dataset_files(project, owner, fs_storage, run_tasks):
    with run_tasks():
        make_dataset(project, owner, name="一")
        second = make_dataset(project, owner, name="二")
        services.dataset_version_preprocess(version=second.versions.get(), actor=owner, steps=[{"type": "deduplicate"}])
    assert len(stored_files(fs_storage.location)) == 8  # 2 x (original, Parquet, CSV) + the pipeline's 2
    with run_tasks():
        project_services.project_delete(project=project, actor=owner)
    assert not Dataset.objects.exists() and not DatasetVersion.objects.exists()
    assert stored_files(fs_storage.location) == []


def test_a_maintainer_cannot_delete_a_project_with_datasets(project, owner, fs_storage, run_tasks):
    from projects.tests.factories import add_member

    make_dataset(project, owner)
    maintainer = add_member(project, "maintainer")
    files = stored_files(fs_storage.location)
    with run_tasks(), pytest.raises(ApiError) as refused:
        project_services.project_delete(project=project, actor=maintainer)
    assert refused.value.status_code == 403
    assert Dataset.objects.count() == 1
    assert stored_files(fs_storage.location) == files


def test_deleting_a_dataset_aborts_its_pending_direct_uploads(s3_storage, project, owner, run_tasks):
    dataset = make_dataset(project, owner, content=None)
    services.dataset_upload_start(
        dataset=dataset, actor=owner, data={"file_name": "a.csv", "size": 10, "sha256": "a" * 64}
    )
    assert len(s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", [])) == 1
    with run_tasks():
        services.dataset_delete(dataset=dataset, actor=owner)
    assert s3_storage.client.list_multipart_uploads(Bucket=s3_storage.bucket).get("Uploads", []) == []
    assert not DatasetUpload.objects.exists()


def test_deleting_on_object_storage_removes_the_objects(s3_storage, project, owner, run_tasks):
    with run_tasks():
        dataset = make_dataset(project, owner)
    listed = s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket).get("Contents", [])
    assert len(listed) == 3
    with run_tasks():
        services.dataset_delete(dataset=dataset, actor=owner)
    assert s3_storage.client.list_objects_v2(Bucket=s3_storage.bucket).get("Contents", []) == []


# --- what other apps protect ------------------------------------------------------------------------------------


def test_nothing_outside_datasets_refers_to_a_version_yet(project, owner):
    version = make_dataset(project, owner, profile=False).versions.get()
    services.dataset_version_preprocess(version=version, actor=owner, steps=[{"type": "deduplicate"}])
    # Lineage (a derived version) and direct uploads are datasets' own relations: they hold nothing.
    assert services.version_users(version=version) == []


def _relation(model_name: str, on_delete):
    """A relation to DatasetVersion as a training job's `dataset_version = ForeignKey(..., on_delete=PROTECT)`
    would add it, reading its rows from a table that exists (DatasetUpload.version) so no model is needed."""
    return SimpleNamespace(
        related_model=SimpleNamespace(
            _meta=SimpleNamespace(
                app_label="training",
                model_name=model_name,
                verbose_name=f"{model_name} row",
                verbose_name_plural=f"{model_name} rows",
            ),
            _default_manager=DatasetUpload._default_manager,
        ),
        on_delete=on_delete,
        field=SimpleNamespace(name="version"),
    )


@pytest.fixture
def referenced(project, owner, monkeypatch):
    """Version 1 of a dataset with two rows of another app referring to it."""
    dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    for _ in range(2):
        DatasetUpload.objects.create(
            dataset=dataset,
            version=version,
            file_name="x.csv",
            format="csv",
            content_type="text/csv",
            size=1,
            sha256="0" * 64,
            object_name="versions/x/original.csv",
            upload_id="x",
            part_size=1,
            part_count=1,
            expires_at="2030-01-01T00:00:00Z",
        )
    real = DatasetVersion._meta.related_objects
    fakes = (*real, _relation("trainingjob", PROTECT), _relation("note", SET_NULL), _relation("log", CASCADE))
    version_users = services.version_users

    def with_other_apps(*, version):
        # The extra relations only while version_users looks: the ORM walks related_objects for its own queries.
        with monkeypatch.context() as patch:
            patch.setattr(DatasetVersion._meta, "related_objects", fakes)
            return version_users(version=version)

    monkeypatch.setattr(services, "version_users", with_other_apps)
    return dataset, version


def test_a_protecting_reference_is_named(referenced):
    _, version = referenced
    # Only the PROTECT relation counts: SET_NULL and CASCADE ones would not keep the version.
    assert services.version_users(version=version) == [{"kind": "trainingjob", "count": 2, "name": "trainingjob rows"}]


def test_a_protected_version_cannot_be_deleted(referenced, owner, owner_client, fs_storage, run_tasks):
    dataset, version = referenced
    files = stored_files(fs_storage.location)
    with run_tasks():
        response = owner_client.delete(f"/api/v1/datasets/{dataset.id}/versions/1")
    assert response.status_code == 409
    body = response.json()
    assert (body["status_code"], body["error_code"]) == (409, "VERSION_IN_USE")
    assert body["details"] == {"version": 1, "used_by": [{"kind": "trainingjob", "count": 2}]}
    assert body["message"] == "版本 1 正被 2 trainingjob rows 使用。"  # the model's verbose name, in the plural

    with run_tasks():
        whole = owner_client.delete(f"/api/v1/datasets/{dataset.id}")
    assert (whole.status_code, whole.json()["error_code"]) == (409, "VERSION_IN_USE")
    with pytest.raises(VersionInUse):
        services.dataset_version_delete(version=version, actor=owner)
    assert DatasetVersion.objects.filter(pk=version.pk).exists()
    assert stored_files(fs_storage.location) == files


def test_a_version_a_pipeline_builds_from_cannot_be_deleted_until_that_is_built(
    project, owner, owner_client, fs_storage, run_tasks
):
    with run_tasks():
        dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    # Its build task has not run (no run_tasks here): version 2 is processing and reads version 1's Parquet copy.
    child = services.dataset_version_preprocess(version=version, actor=owner, steps=[{"type": "deduplicate"}])
    files = stored_files(fs_storage.location)

    with run_tasks():
        response = owner_client.delete(f"/api/v1/datasets/{dataset.id}/versions/1")
    assert response.status_code == 409
    body = response.json()
    assert body["error_code"] == "VERSION_IN_USE"
    assert body["details"] == {"version": 1, "used_by": [{"kind": "dataset_version", "numbers": [2]}]}
    assert "生成版本 2" in body["message"]
    english = owner_client.delete(f"/api/v1/datasets/{dataset.id}/versions/1", HTTP_ACCEPT_LANGUAGE="en").json()
    assert "being used to build version 2" in english["message"]
    assert stored_files(fs_storage.location) == files

    with run_tasks():
        services.dataset_version_build(version_id=child.id)
    child.refresh_from_db()
    assert child.status == DatasetVersion.Status.READY
    with run_tasks():
        assert owner_client.delete(f"/api/v1/datasets/{dataset.id}/versions/1").status_code == 204
    child.refresh_from_db()
    assert (child.status, child.parent_id, child.parent_number) == (DatasetVersion.Status.READY, None, 1)


def test_preprocessing_a_version_deleted_meanwhile_is_a_404_and_makes_nothing(project, owner, run_tasks):
    with run_tasks():
        dataset = make_dataset(project, owner)
    stale = dataset.versions.get()
    with run_tasks():
        services.dataset_version_delete(version=DatasetVersion.objects.get(pk=stale.pk), actor=owner)
    with pytest.raises(ApiError) as missing:
        services.dataset_version_preprocess(version=stale, actor=owner, steps=[{"type": "deduplicate"}])
    assert missing.value.status_code == 404
    assert not DatasetVersion.objects.filter(dataset=dataset).exists()


def test_a_task_stores_its_messages_in_the_language_of_the_request_that_sent_it(project, owner, run_tasks, monkeypatch):
    from django.utils import translation

    from datasets import tasks

    with run_tasks():
        dataset = make_dataset(project, owner, content=b"v\n1.5\ninf\n", profile=False)
    version = dataset.versions.get()
    sent = []
    monkeypatch.setattr(tasks.version_build, "delay", lambda version_id, **kwargs: sent.append((version_id, kwargs)))
    steps = [{"type": "normalize", "columns": ["v"]}]
    children = []
    for language in ("en", "zh-hans", "en"):
        with run_tasks(), translation.override(language):
            children.append(services.dataset_version_preprocess(version=version, actor=owner, steps=steps))
    assert sent == [
        (child.id, {"language": language}) for child, language in zip(children, ("en", "zh-hans", "en"), strict=True)
    ]

    # Run under another language than the one sent, as a worker would; an unknown or missing one is the default.
    for child, language in zip(children, ("en", "zh-hans", "xx"), strict=True):
        with translation.override("zh-hans" if language == "en" else "en"):
            tasks.version_build(child.id, language=language)
    messages = [DatasetVersion.objects.get(pk=child.id).error_message for child in children]
    assert messages[0] == 'Step 1: column "v" has infinite values, which cannot be normalized.'
    assert messages[1] == messages[2] == '第 1 步：列 "v" 含有无穷大的值，无法标准化。'
    # Its event reaches each subscriber in their own language too (and a deleted version's event as well).
    from incubator.events.selectors import event_list, wire_localized

    services.dataset_version_delete(version=children[0], actor=owner)
    topic = f"dataset:{dataset.id}"
    for type_ in ("dataset.version.failed", "dataset.version.deleted"):
        [event] = [
            e
            for e in event_list(topics=[topic], after=0, limit=100)
            if e["type"] == type_ and e["data"]["number"] == children[0].number
        ]
        assert wire_localized(event, "zh-hans")["data"]["error"]["message"] == messages[1]
        assert wire_localized(event, "en")["data"]["error"]["message"] == messages[0]
    ready = [e for e in event_list(topics=[topic], after=0, limit=100) if e["type"] == "dataset.version.ready"]
    assert ready and all("_translations" not in e["data"] for e in ready)  # nothing to translate: one text for all


def test_a_csv_requested_by_a_download_is_made_in_the_requests_language(project, owner, run_tasks, monkeypatch):
    from django.utils import translation

    from datasets import tasks
    from datasets.errors import ExportPreparing

    dataset = make_dataset(project, owner, profile=False)
    version = dataset.versions.get()
    sent = []
    monkeypatch.setattr(tasks.version_export_csv, "delay", lambda version_id, **kw: sent.append((version_id, kw)))
    with run_tasks(), translation.override("en"), pytest.raises(ExportPreparing):
        services.dataset_version_csv_request(version=version)
    assert sent == [(version.id, {"language": "en"})]


@pytest.mark.parametrize(
    "sent, active", [("en", "en"), ("en-us", "en"), ("zh-hans", "zh-hans"), ("xx", "zh-hans"), (None, "zh-hans")]
)
def test_a_task_runs_in_the_supported_language_nearest_the_one_sent(sent, active):
    from django.utils import translation

    from datasets import tasks

    with translation.override("en" if active == "zh-hans" else "zh-hans"), tasks._in(sent):
        assert translation.get_language() == active


# --- tasks delivered twice, or racing a delete --------------------------------------------------------------------


def test_a_second_delivery_of_each_task_changes_nothing(project, owner, fs_storage, run_tasks):
    with run_tasks():
        dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    before = (stored_files(fs_storage.location), version.parquet_sha256, version.profiled_at, version.csv)
    for task in (
        services.dataset_version_convert,
        services.dataset_version_profile,
        services.dataset_version_export_csv,
        services.dataset_version_build,
    ):
        with run_tasks():
            task(version_id=version.id)
    version.refresh_from_db()
    assert (stored_files(fs_storage.location), version.parquet_sha256, version.profiled_at, version.csv) == before
    # A task for a version that is gone returns quietly.
    for task in (services.dataset_version_convert, services.dataset_version_profile, services.dataset_version_build):
        task(version_id=987654)


def test_a_version_deleted_while_it_converts_leaves_no_parquet(project, owner, fs_storage, run_tasks, monkeypatch):
    from datasets.engine import formats

    dataset = services.dataset_create(project=project, actor=owner, data={"name": "竞态"}, upload=upload())
    version = dataset.versions.get()
    convert = formats.convert

    def convert_while_deleted(*args, **kwargs):
        result = convert(*args, **kwargs)
        services.dataset_version_delete(version=version, actor=owner)
        return result

    monkeypatch.setattr(formats, "convert", convert_while_deleted)
    with run_tasks():
        services.dataset_version_convert(version_id=version.id)
    assert not DatasetVersion.objects.exists()
    assert stored_files(fs_storage.location) == []


def test_numbers_are_never_reused(project, owner):
    dataset = make_dataset(project, owner, profile=False)
    second = services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    services.dataset_version_delete(version=second, actor=owner)
    third = services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    assert third.number == 3
    dataset.refresh_from_db()
    assert (dataset.last_number, dataset.version_count, dataset.latest_version_id) == (3, 2, third.id)


def test_a_task_takes_an_argument_a_later_release_adds(project, owner, run_tasks):
    from datasets import tasks

    with run_tasks():
        dataset = make_dataset(project, owner, profile=False)
    version = dataset.versions.get()
    tasks.version_profile(version.id, language="en", priority="later")
    version.refresh_from_db()
    assert version.profile_status == DatasetVersion.ProfileStatus.READY


# --- a conversion and the profile that follows it in the same engine run ---------------------------------------


@pytest.fixture
def waiting(project, owner):
    """A version uploaded and not yet converted."""
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "转换"}, upload=upload())
    return dataset.versions.get()


@pytest.mark.parametrize("error", [ParseFailure("坏"), RuntimeError("disk full")], ids=["engine", "other"])
def test_a_profile_that_fails_after_the_conversion_fails_the_profile_only(
    waiting, fs_storage, run_tasks, monkeypatch, error
):
    from datasets.engine import profile

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(profile, "profile", broken)
    with run_tasks():
        services.dataset_version_convert(version_id=waiting.id)
    waiting.refresh_from_db()
    assert (waiting.status, waiting.profile_status) == ("ready", "failed")
    assert waiting.profile_error and not waiting.error_code
    assert waiting.parquet in stored_files(fs_storage.location)  # the ready version keeps its copy


def test_progress_after_the_conversion_is_the_profiles(waiting, run_tasks, monkeypatch):
    from datasets.engine import profile

    real = profile.profile

    def reporting(path, *, progress=None):
        progress(0.5)
        return real(path, progress=progress)

    monkeypatch.setattr(profile, "profile", reporting)
    with run_tasks():
        services.dataset_version_convert(version_id=waiting.id)
    waiting.refresh_from_db()
    assert (waiting.progress, waiting.profile_progress, waiting.profile_status) == (1.0, 1.0, "ready")
    events = list(
        Event.objects.filter(subject_id=waiting.id, type__endswith=".progress").values_list("type", "payload")
    )
    profiled = [payload["progress"] for kind, payload in events if kind == "dataset.profile.progress"]
    assert 0.5 in profiled and profiled[-1] == 1.0
    assert all(payload["stage"] == "profile" for kind, payload in events if kind == "dataset.profile.progress")
    assert all(payload["progress"] < 1.0 for kind, payload in events if kind == "dataset.version.progress")


def test_a_conversion_profiles_in_its_own_run_and_queues_no_second_profile(waiting, run_tasks, monkeypatch):
    queued = []
    enqueue = services._enqueue
    monkeypatch.setattr(services, "_enqueue", lambda name, version_id: queued.append(name) or enqueue(name, version_id))
    with run_tasks():
        services.dataset_version_convert(version_id=waiting.id)
    assert "version_profile" not in queued
    assert queued == ["version_export_csv"]


def test_a_version_deleted_at_its_conversions_step_is_not_profiled(waiting, owner, fs_storage, run_tasks, monkeypatch):
    from datasets.engine import profile

    profiled = []
    monkeypatch.setattr(profile, "profile", lambda *args, **kwargs: profiled.append(args))
    store = services._store_parquet

    def store_while_deleted(*args, **kwargs):
        services.dataset_version_delete(version=waiting, actor=owner)
        return store(*args, **kwargs)

    monkeypatch.setattr(services, "_store_parquet", store_while_deleted)
    with run_tasks():
        services.dataset_version_convert(version_id=waiting.id)
    assert profiled == []
    assert stored_files(fs_storage.location) == []


def test_deleting_a_version_stops_its_profile_at_the_next_progress(waiting, owner, fs_storage, run_tasks, monkeypatch):
    from datasets.engine import profile

    went_on = []

    def deleted_meanwhile(path, *, progress=None):
        services.dataset_version_delete(version=waiting, actor=owner)
        progress(0.5)
        went_on.append(path)
        return {}

    monkeypatch.setattr(profile, "profile", deleted_meanwhile)
    with run_tasks():
        services.dataset_version_convert(version_id=waiting.id)
    assert went_on == []
    assert not DatasetVersion.objects.exists()
    assert stored_files(fs_storage.location) == []


def test_a_profile_is_not_saved_on_a_version_no_longer_ready(project, owner, run_tasks, monkeypatch):
    dataset = make_dataset(project, owner, profile=False)
    version = dataset.versions.get()
    DatasetVersion.objects.filter(pk=version.pk).update(
        status=DatasetVersion.Status.FAILED, profile_status=DatasetVersion.ProfileStatus.RUNNING, profile=None
    )
    queued = []
    monkeypatch.setattr(services, "_enqueue", lambda name, version_id: queued.append(name))
    events = Event.objects.filter(subject_id=version.id, type="dataset.profile.ready")
    before = events.count()
    with run_tasks():
        services._profile_save(version.id, {"rows": 3})
    version.refresh_from_db()
    assert (version.profile, version.profile_status) == (None, "running")
    assert events.count() == before
    assert queued == []


def test_a_pipelines_version_is_its_own_original(project, owner, fs_storage, run_tasks):
    import hashlib

    with run_tasks():
        dataset = make_dataset(project, owner)
        child = services.dataset_version_preprocess(
            version=dataset.versions.get(), actor=owner, steps=[{"type": "drop_na"}]
        )
    child.refresh_from_db()
    assert child.status == "ready" and child.original == child.parquet
    data = (fs_storage.location / child.parquet).read_bytes()
    assert (child.size, child.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_an_export_that_loses_the_race_deletes_its_copy(project, owner, fs_storage, run_tasks, monkeypatch):
    from datasets import storage

    dataset = make_dataset(project, owner)
    version = dataset.versions.get()
    DatasetVersion.objects.filter(pk=version.pk).update(csv="")
    store = storage.store

    def store_after_another(local, name, **kwargs):
        store(local, name, **kwargs)
        DatasetVersion.objects.filter(pk=version.pk).update(csv="winner.csv")  # another delivery wrote first

    monkeypatch.setattr(storage, "store", store_after_another)
    before = stored_files(fs_storage.location)
    services.dataset_version_export_csv(version_id=version.id)
    assert stored_files(fs_storage.location) == before


def test_a_task_sent_again_after_a_crash_keeps_the_language_of_the_request_that_made_the_version(
    project, owner, run_tasks
):
    from django.utils import translation

    lines = ["城市,AQI"] + [f"北京,{i % 300}" for i in range(120_000)] + ["上海,38,多余"]  # past the upload's check
    bad = ("\n".join(lines) + "\n").encode()
    with translation.override("en"):
        dataset = services.dataset_create(project=project, actor=owner, data={"name": "重发"}, upload=upload(bad))
    version = dataset.versions.get()
    assert version.language == "en"
    # The task was lost with its worker (no run_tasks: never sent); a worker that starts sends it again.
    with translation.override("zh-hans"):
        assert services.dataset_versions_requeue_stale(older_than=timedelta(seconds=-1)) == 1
    version.refresh_from_db()
    assert version.status == "failed"
    assert version.error_message == f"Line {len(lines)} has 3 fields, but the header has 2."


def test_a_nul_in_the_data_is_profiled_and_stored_as_the_replacement_character(project, owner):
    """PostgreSQL stores no NUL in JSON: a profile whose top values held one failed to save, and the version's
    profile stayed `running` for ever. The data itself keeps the NUL (the Parquet copy is bytes)."""
    from incubator.validation import json_storable

    content = b'[{"a": "x\\u0000y", "n": 1}, {"a": "x\\u0000y", "n": 2}, {"a": "ok", "n": 3}]'
    dataset = make_dataset(project, owner, content=content, file_name="nul.json")
    version = dataset.versions.get()
    assert (version.status, version.profile_status) == ("ready", "ready")
    [column] = [c for c in version.profile["column_profiles"] if c["name"] == "a"]
    assert column["top_values"][0]["value"] == "x\ufffdy"
    assert json_storable({"k\x00": ["\x00", 1, None, {"v": "a\x00"}]}) == {
        "k\ufffd": ["\ufffd", 1, None, {"v": "a\ufffd"}]
    }


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["a", ""], "Column 2 has no name."),
        (["a", "  "], "Column 2 has no name."),
        (["a\x00b"], "The name of column 1 contains a NUL character."),
    ],
)
def test_a_parquet_file_whose_column_names_no_reader_can_use_is_refused(project, owner, tmp_path, names, message):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from django.utils import translation

    path = tmp_path / "names.parquet"
    pq.write_table(pa.table({name: [1, 2] for name in names}), path)
    with translation.override("en"):
        dataset = make_dataset(project, owner, content=path.read_bytes(), file_name="names.parquet")
    version = dataset.versions.get()
    assert (version.status, version.error_code, version.error_message) == ("failed", "FILE_UNREADABLE", message)
    assert not version.parquet
