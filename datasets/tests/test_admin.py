"""The datasets admin: every page renders for a superuser, edits go through datasets.services (their events
and list totals follow), and deletes take the files with them."""

from typing import Any

import pytest
from django.conf import settings
from django.contrib.messages import get_messages
from django.utils import translation

from datasets import services
from datasets.errors import DatasetNameTaken
from datasets.models import Dataset, DatasetUpload, DatasetVersion
from datasets.tests.factories import make_dataset, stored_files, upload
from incubator.events.models import Event

pytestmark = pytest.mark.django_db

DATASETS = "/admin/datasets/dataset/"
VERSIONS = "/admin/datasets/datasetversion/"
UPLOADS = "/admin/datasets/datasetupload/"


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def dataset(project, owner, run_tasks):
    with run_tasks():
        dataset = make_dataset(project, owner, description="原来的描述")
        services.dataset_version_preprocess(
            version=dataset.versions.get(), actor=owner, steps=[{"type": "drop_na", "columns": ["AQI"]}]
        )
    return dataset


def form_data(response: Any) -> dict[str, Any]:
    """What a browser posts back from an admin change form, untouched (the inline management form included)."""
    assert response.status_code == 200, response.content[:500]
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data: dict[str, Any] = {}
    for form in forms:
        for field in form:
            if field.field.disabled:
                continue
            value = field.value()
            if value is not None and value is not False:
                data[field.html_name] = "on" if value is True else str(value)
    return data


def test_every_page_renders(admin_client, dataset, owner):
    DatasetUpload.objects.create(
        dataset=dataset,
        created_by=owner,
        file_name="大文件.csv",
        format="csv",
        content_type="text/csv",
        size=10,
        sha256="0" * 64,
        object_name="versions/abc/original.csv",
        upload_id="id",
        part_size=8 * 1024 * 1024,
        part_count=1,
        expires_at="2030-01-01T00:00:00Z",
    )
    version = dataset.versions.get(number=2)
    pages = [
        DATASETS,
        f"{DATASETS}?q=空气",
        f"{DATASETS}?latest_version__status__exact=ready",
        f"{DATASETS}{dataset.pk}/change/",
        f"{DATASETS}add/",
        VERSIONS,
        f"{VERSIONS}?status__exact=ready&format__exact=parquet",
        f"{VERSIONS}{version.pk}/change/",
        f"{VERSIONS}{version.pk}/delete/",
        UPLOADS,
        f"{UPLOADS}{DatasetUpload.objects.get().pk}/change/",
        f"{DATASETS}{dataset.pk}/delete/",
    ]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, (page, response.status_code)
    changelist = admin_client.get(DATASETS).content.decode()
    assert "空气质量" in changelist
    change = admin_client.get(f"{VERSIONS}{version.pk}/change/").content.decode()
    assert "drop_na" in change  # the lineage's pipeline is shown


def test_editing_the_description_goes_through_the_service(admin_client, dataset, owner_client):
    assert owner_client.get("/api/v1/datasets", {"search": "新的描述"}).json()["pagination"]["total"] == 0
    url = f"{DATASETS}{dataset.pk}/change/"
    data = form_data(admin_client.get(url))
    assert "project" not in data  # a dataset stays in its project
    data["description"] = "新的描述\r\n第二行"
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content[:1000]
    dataset.refresh_from_db()
    assert dataset.description == "新的描述\n第二行"
    event = Event.objects.get(type="dataset.updated", subject_id=str(dataset.pk))
    assert event.payload["changed"] == ["description"]
    # The service kept search and the list's totals current.
    body = owner_client.get("/api/v1/datasets", {"search": "新的描述"}).json()
    assert [item["id"] for item in body["datasets"]] == [dataset.pk] and body["pagination"]["total"] == 1
    # The versions shown inline are not changed by saving the form.
    assert list(dataset.versions.values_list("number", flat=True)) == [1, 2]


def test_metadata_is_edited_through_the_service_and_checked_on_the_field(admin_client, dataset, make_user):
    from schema_registry.selectors import subject_get
    from schema_registry.services import schema_version_register, subject_update

    url = f"{DATASETS}{dataset.pk}/change/"
    data = form_data(admin_client.get(url))
    assert data["metadata"] == "{}"
    data["metadata"] = '{"source": "气象局", "stations": "三"}'
    assert admin_client.post(url, data).status_code == 302
    dataset.refresh_from_db()
    assert (dataset.metadata, dataset.schema_version) == ({"source": "气象局", "stations": "三"}, 1)
    assert Event.objects.get(type="dataset.updated", subject_id=str(dataset.pk)).payload["changed"] == ["metadata"]

    admin = make_user(is_staff=True, is_superuser=True)
    subject = subject_update(subject=subject_get(name="dataset.metadata"), actor=admin, data={"compatibility": "NONE"})
    schema = {"type": "object", "properties": {"source": {"type": "string"}, "stations": {"type": "integer"}}}
    schema_version_register(subject=subject, schema=schema, actor=admin)
    # What version 2 refuses is an error on the field, and the page again; nothing is written.
    for bad in ('{"source": 1, "stations": "三"}', '{"source": "气象局", "stations": "四"}', "[1, 2]"):
        data = form_data(admin_client.get(url))
        data["metadata"] = bad
        response = admin_client.post(url, data)
        assert response.status_code == 200, bad
        errors = response.context["adminform"].form.errors
        assert list(errors) == ["metadata"] and errors["metadata"], bad
    dataset.refresh_from_db()
    assert (dataset.metadata, dataset.schema_version) == ({"source": "气象局", "stations": "三"}, 1)
    # Saved unchanged (though version 2 would refuse it), it keeps its version and writes nothing; changed to
    # fit, it is stamped with version 2.
    assert admin_client.post(url, form_data(admin_client.get(url))).status_code == 302
    dataset.refresh_from_db()
    assert dataset.schema_version == 1
    assert Event.objects.filter(type="dataset.updated", subject_id=str(dataset.pk)).count() == 1
    data = form_data(admin_client.get(url))
    data["metadata"] = '{"source": "气象局", "stations": 1}'
    assert admin_client.post(url, data).status_code == 302
    dataset.refresh_from_db()
    assert (dataset.metadata, dataset.schema_version) == ({"source": "气象局", "stations": 1}, 2)
    # 1 == True in Python, but not in JSON: a change, checked on the field (true is no integer).
    data = form_data(admin_client.get(url))
    data["metadata"] = '{"source": "气象局", "stations": true}'
    response = admin_client.post(url, data)
    assert response.status_code == 200 and list(response.context["adminform"].form.errors) == ["metadata"]
    dataset.refresh_from_db()
    assert dataset.metadata["stations"] is not True
    # A dataset added in the admin is checked the same way.
    data = form_data(admin_client.get(f"{DATASETS}add/"))
    data.update({"project": str(dataset.project_id), "name": "后台创建", "metadata": '{"stations": "三"}'})
    response = admin_client.post(f"{DATASETS}add/", data)
    assert response.status_code == 200 and list(response.context["adminform"].form.errors) == ["metadata"]
    assert not Dataset.objects.filter(name="后台创建").exists()


def test_a_refused_edit_is_a_message_not_a_500(admin_client, dataset, project, owner):
    make_dataset(project, owner, content=None, name="别的名字")
    url = f"{DATASETS}{dataset.pk}/change/"
    data = form_data(admin_client.get(url))
    data["name"] = "别的名字"
    response = admin_client.post(url, data, follow=True)
    assert response.status_code == 200
    dataset.refresh_from_db()
    assert dataset.name == "空气质量"
    # The service's 409 comes back as an error message on the page it was sent from.
    assert response.redirect_chain == [(url, 302)]
    errors = [str(m) for m in get_messages(response.wsgi_request) if m.level_tag == "error"]
    with translation.override(settings.LANGUAGE_CODE):
        assert errors == [str(DatasetNameTaken.default_detail)]


def test_adding_a_dataset_in_the_admin_goes_through_the_service(admin_client, project):
    data = form_data(admin_client.get(f"{DATASETS}add/"))
    data.update({"project": str(project.pk), "name": "后台创建", "description": "管理员建的"})
    response = admin_client.post(f"{DATASETS}add/", data)
    assert response.status_code == 302, response.content[:1000]
    created = Dataset.objects.get(name="后台创建")
    assert created.search_text == "后台创建 管理员建的"
    assert Event.objects.filter(type="dataset.created", subject_id=str(created.pk)).exists()


def test_deleting_a_dataset_in_the_admin_deletes_its_files(admin_client, dataset, fs_storage, run_tasks):
    assert len(stored_files(fs_storage.location)) == 5  # v1: original, Parquet, CSV; v2: Parquet, CSV
    with run_tasks():
        response = admin_client.post(f"{DATASETS}{dataset.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Dataset.objects.filter(pk=dataset.pk).exists()
    assert stored_files(fs_storage.location) == []
    assert Event.objects.filter(type="dataset.deleted", subject_id=str(dataset.pk)).exists()


def test_bulk_delete_of_datasets_deletes_their_files(admin_client, dataset, project, owner, fs_storage, run_tasks):
    other = make_dataset(project, owner, name="第二个")
    with run_tasks():
        response = admin_client.post(
            DATASETS, {"action": "delete_selected", "_selected_action": [dataset.pk, other.pk], "post": "yes"}
        )
    assert response.status_code == 302
    assert not Dataset.objects.exists()
    assert stored_files(fs_storage.location) == []


def test_deleting_a_version_in_the_admin_deletes_its_files(admin_client, dataset, fs_storage, run_tasks):
    version = dataset.versions.get(number=1)
    kept = {dataset.versions.get(number=2).parquet, dataset.versions.get(number=2).csv}
    with run_tasks():
        response = admin_client.post(f"{VERSIONS}{version.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert list(DatasetVersion.objects.values_list("number", flat=True)) == [2]
    assert set(stored_files(fs_storage.location)) == kept
    dataset.refresh_from_db()
    assert (dataset.version_count, dataset.latest_version.number) == (1, 2)
    assert Event.objects.filter(type="dataset.version.deleted", subject_id=str(version.pk)).exists()


def test_versions_and_uploads_cannot_be_changed_in_the_admin(admin_client, dataset):
    version = dataset.versions.get(number=1)
    response = admin_client.post(f"{VERSIONS}{version.pk}/change/", {"status": "failed", "number": "9"})
    assert response.status_code == 403
    version.refresh_from_db()
    assert (version.status, version.number) == ("ready", 1)
    assert admin_client.get(f"{VERSIONS}add/").status_code == 403
    assert admin_client.get(f"{UPLOADS}add/").status_code == 403


def test_a_new_version_upload_then_admin_view(admin_client, dataset, owner):
    # A version still processing (no Parquet yet) renders too.
    services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    version = dataset.versions.get(number=3)
    assert admin_client.get(f"{VERSIONS}{version.pk}/change/").status_code == 200
    assert admin_client.get(f"{DATASETS}{dataset.pk}/change/").status_code == 200
