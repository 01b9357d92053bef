"""The training admin: every page renders for a superuser, and its actions (cancel, retry, stages, deletes) go
through aimodels.services, so a refusal is a message on the page and a success writes its events."""

import pytest
from django.contrib.messages import get_messages

from aimodels import services
from aimodels.models import Model, ModelVersion, TrainingJob
from incubator.events.models import Event

from .factories import run, spec, trained_houses

pytestmark = pytest.mark.django_db

JOBS = "/admin/aimodels/trainingjob/"
MODELS = "/admin/aimodels/model/"
VERSIONS = "/admin/aimodels/modelversion/"


@pytest.fixture
def admin_client(client, make_user):
    client.force_login(make_user(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def trained(project, owner):
    return trained_houses(project, owner)


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_every_page_renders(admin_client, trained):
    for url in (
        JOBS,
        f"{JOBS}{trained.job_id}/change/",
        MODELS,
        f"{MODELS}{trained.model_id}/change/",
        VERSIONS,
        f"{VERSIONS}{trained.id}/change/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_cancel_action_cancels_a_queued_job_and_refuses_a_finished_one(admin_client, project, owner, version, trained):
    queued = services.job_create(project=project, version=version, actor=owner, data=spec())
    response = admin_client.post(
        JOBS, {"action": "cancel_jobs", "_selected_action": [queued.id, trained.job_id]}, follow=True
    )
    assert response.status_code == 200
    queued.refresh_from_db()
    assert queued.status == TrainingJob.Status.CANCELLED
    assert TrainingJob.objects.get(pk=trained.job_id).status == TrainingJob.Status.SUCCEEDED
    shown = messages_of(response)
    # The refusal names the finished job; the success is counted.
    assert any(message.startswith(f"#{trained.job_id} ") for message in shown), shown
    assert len(shown) == 2, shown
    assert Event.objects.filter(type="job.status", payload__status="cancelled").count() == 1


def test_retry_action_makes_a_new_attempt(admin_client, trained):
    admin_client.post(JOBS, {"action": "retry_jobs", "_selected_action": [trained.job_id]}, follow=True)
    again = TrainingJob.objects.exclude(pk=trained.job_id).get()
    assert (again.attempt, again.retry_of_id) == (2, trained.job_id)


def test_stage_actions_promote_through_the_service(admin_client, project, owner, version, trained):
    second = run(services.job_create(project=project, version=version, actor=owner, data=spec(model_name="情感")))
    other = second.model_version
    admin_client.post(VERSIONS, {"action": "stage_production", "_selected_action": [trained.id]}, follow=True)
    trained.refresh_from_db()
    assert trained.stage == "production" and trained.stage_changed_at
    assert Event.objects.filter(type="model.version.stage", subject_id=str(trained.id)).exists()
    admin_client.post(VERSIONS, {"action": "stage_archived", "_selected_action": [trained.id, other.id]}, follow=True)
    trained.refresh_from_db()
    other.refresh_from_db()
    assert (trained.stage, other.stage) == ("archived", "archived")


def test_a_model_with_a_version_in_production_is_not_deleted(admin_client, trained):
    services.model_version_stage(version=trained, actor=trained.created_by, stage="production")
    response = admin_client.post(f"{MODELS}{trained.model_id}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert Model.objects.filter(pk=trained.model_id).exists()
    assert messages_of(response)


def test_renaming_a_model_goes_through_the_service(admin_client, trained):
    url = f"{MODELS}{trained.model_id}/change/"
    inline = {
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": str(trained.id),
        "versions-0-model": str(trained.model_id),
    }
    response = admin_client.post(url, {"name": "房价 v2", "description": "新的描述", **inline}, follow=True)
    assert response.status_code == 200
    model = Model.objects.get(pk=trained.model_id)
    assert (model.name, model.description) == ("房价 v2", "新的描述")
    assert Event.objects.filter(type="model.updated", subject_id=str(model.id)).exists()


def test_deleting_a_version_takes_its_artifact(admin_client, trained, fs_storage, django_capture_on_commit_callbacks):
    artifact = fs_storage.location / trained.artifact
    assert artifact.exists()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(f"{VERSIONS}{trained.id}/delete/", {"post": "yes"}, follow=True)
    assert not ModelVersion.objects.filter(pk=trained.id).exists()
    assert not artifact.exists()
    model = Model.objects.get(pk=trained.model_id)
    assert model.version_count == 0 and model.latest_version is None
