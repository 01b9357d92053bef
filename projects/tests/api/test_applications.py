"""Join applications: submit, approve, reject, withdraw, my applications, and the races."""

import threading

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from incubator.events.models import Event
from projects import services
from projects.errors import ApplicationNotPending
from projects.models import Application, Membership, Project
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(auth_client):
    owner, applicant = UserFactory(), UserFactory()
    project = make_project(owner)
    return project, auth_client(owner), auth_client(applicant), applicant


def apply(client, project, message="我想加入这个项目"):
    return client.post(f"/api/v1/projects/{project.id}/applications", {"message": message}, format="json")


def test_lifecycle_apply_approve(setup):
    project, owner_client, applicant_client, applicant = setup
    created = apply(applicant_client, project)
    assert created.status_code == 201
    body = created.json()
    assert body["status"] == "pending" and body["status_display"] == "待处理"
    assert body["applicant"]["id"] == applicant.id and body["project"]["id"] == project.id

    listed = owner_client.get(f"/api/v1/projects/{project.id}/applications", {"status": "pending"}).json()
    assert [a["id"] for a in listed["applications"]] == [body["id"]]

    approved = owner_client.post(
        f"/api/v1/projects/{project.id}/applications/{body['id']}/approve", {"role": "mentor"}, format="json"
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert Membership.objects.get(project=project, user=applicant).role == "mentor"
    assert Project.objects.get(pk=project.pk).member_count == 2
    again = owner_client.post(f"/api/v1/projects/{project.id}/applications/{body['id']}/approve", {}, format="json")
    assert again.status_code == 409 and again.json()["error_code"] == "APPLICATION_NOT_PENDING"
    mine = applicant_client.get("/api/v1/users/me/applications").json()["applications"]
    assert [a["status"] for a in mine] == ["approved"]
    types = set(Event.objects.filter(subject_type="application").values_list("type", flat=True))
    assert types == {"application.submitted", "application.approved"}


def test_reject_with_reason_then_apply_again(setup):
    project, owner_client, applicant_client, applicant = setup
    app_id = apply(applicant_client, project).json()["id"]
    rejected = owner_client.post(
        f"/api/v1/projects/{project.id}/applications/{app_id}/reject", {"reason": "名额已满"}, format="json"
    )
    assert rejected.json()["status"] == "rejected" and rejected.json()["decision_reason"] == "名额已满"
    assert not Membership.objects.filter(project=project, user=applicant).exists()
    assert apply(applicant_client, project).status_code == 201


def test_withdraw(setup):
    project, _, applicant_client, _ = setup
    app_id = apply(applicant_client, project).json()["id"]
    url = f"/api/v1/projects/{project.id}/applications/{app_id}/withdraw"
    assert applicant_client.post(url, {}, format="json").json()["status"] == "withdrawn"
    again = applicant_client.post(url, {}, format="json")
    assert again.status_code == 409 and again.json()["error_code"] == "APPLICATION_NOT_PENDING"


def test_one_pending_application_per_user(setup):
    project, _, applicant_client, _ = setup
    assert apply(applicant_client, project).status_code == 201
    second = apply(applicant_client, project)
    assert second.status_code == 409 and second.json()["error_code"] == "APPLICATION_ALREADY_PENDING"


@pytest.mark.parametrize("project_status", ["in_progress", "completed"])
def test_not_recruiting_is_409(setup, project_status):
    project, _, applicant_client, _ = setup
    Project.objects.filter(pk=project.pk).update(status=project_status)
    response = apply(applicant_client, project)
    assert response.status_code == 409 and response.json()["error_code"] == "PROJECT_NOT_RECRUITING"
    assert response.json()["message"] == "该项目当前不在招募中。"


def test_members_cannot_apply(setup):
    project, owner_client, _, _ = setup
    assert apply(owner_client, project).json()["error_code"] == "ALREADY_MEMBER"


def test_message_too_long_is_400(setup):
    project, _, applicant_client, _ = setup
    response = apply(applicant_client, project, message="长" * 2001)
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_INPUT"
    assert response.json()["details"]["field"] == "message"


def test_unknown_application_is_404(setup):
    project, owner_client, _, _ = setup
    response = owner_client.post(f"/api/v1/projects/{project.id}/applications/999/approve", {}, format="json")
    assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND"


def _race(count, action):
    """Run `action(i)` in `count` threads released together; returns results or exceptions."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - the race's loser is what the test inspects
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_create_one_membership():
    owner, applicant = UserFactory(), UserFactory()
    project = make_project(owner)
    maintainer = UserFactory()
    services.member_add(project=project, actor=owner, user_id=maintainer.id, role="maintainer")
    application = services.application_submit(project=project, applicant=applicant, message="")
    actors = [owner, maintainer]
    results = _race(2, lambda i: services.application_approve(application=application, actor=actors[i]))
    wins = [r for r in results if isinstance(r, Application)]
    losses = [r for r in results if isinstance(r, ApplicationNotPending)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert Membership.objects.filter(project=project, user=applicant).count() == 1
    assert Project.objects.get(pk=project.pk).member_count == 3


@pytest.mark.django_db(transaction=True)
def test_two_applications_at_once_leave_one_pending():
    owner, applicant = UserFactory(), UserFactory()
    project = make_project(owner)
    results = _race(2, lambda i: services.application_submit(project=project, applicant=applicant, message=str(i)))
    assert sum(isinstance(r, Application) for r in results) == 1, results
    assert Application.objects.filter(project=project, applicant=applicant, status="pending").count() == 1


@pytest.mark.parametrize("path", ["/api/v1/projects/{id}/applications", "/api/v1/users/me/applications"])
def test_application_lists_validate_their_status_filter(setup, path):
    project, owner_client, applicant_client, _ = setup
    apply(applicant_client, project)
    client = owner_client if "{id}" in path else applicant_client
    url = path.format(id=project.id)
    for bad in ("bogus", "\x00"):
        response = client.get(url, {"status": bad})
        body = response.json()
        assert response.status_code == 400 and body["error_code"] == "INVALID_INPUT"
        assert body["details"]["field"] == "status"
    assert client.get(url, {"status": ""}).json()["pagination"]["total"] == 1  # an empty filter is no filter
    assert client.get(url, {"status": "rejected"}).json()["pagination"]["total"] == 0
    assert client.get(url, {"status": "pending"}).json()["pagination"]["total"] == 1


def test_tag_prefix_is_validated(setup, api_client):
    assert api_client.get("/api/v1/tags", {"search": "\x00"}).json()["error_code"] == "INVALID_INPUT"
    too_long = api_client.get("/api/v1/tags", {"search": "x" * 51})
    assert too_long.status_code == 400 and too_long.json()["error_code"] == "INVALID_INPUT"
    assert api_client.get("/api/v1/tags", {"search": "机器"}).status_code == 200


def test_an_applicant_can_withdraw_from_a_project_that_went_private_and_sees_only_its_id(setup):
    """The owner makes the project private and renames it while an application is pending: the applicant's
    list no longer describes it beyond its id, and the applicant can still withdraw (no pending forever)."""
    project, owner_client, applicant_client, _ = setup
    application = apply(applicant_client, project).json()
    owner_client.patch(f"/api/v1/projects/{project.id}", {"visibility": "private", "name": "秘密项目"}, format="json")
    mine = applicant_client.get("/api/v1/users/me/applications").json()["applications"]
    assert mine[0]["project"] == {"id": project.id, "name": None, "status": None, "visible": False}
    assert "秘密项目" not in str(mine)
    # The project itself stays a 404 to the applicant.
    hidden = applicant_client.get(f"/api/v1/projects/{project.id}")
    assert hidden.status_code == 404 and hidden.json()["error_code"] == "NOT_FOUND"
    withdrawn = applicant_client.post(f"/api/v1/projects/{project.id}/applications/{application['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["status"] == "withdrawn" and withdrawn.json()["project"]["name"] is None
    assert owner_client.get("/api/v1/users/me/applications").json()["pagination"]["total"] == 0


def test_withdraw_is_only_for_the_applicant(setup, auth_client):
    project, owner_client, applicant_client, _ = setup
    application = apply(applicant_client, project).json()
    url = f"/api/v1/projects/{project.id}/applications/{application['id']}/withdraw"
    outsider = auth_client(UserFactory())
    assert outsider.post(url).json()["error_code"] == "PERMISSION_DENIED"
    assert owner_client.post(url).json()["error_code"] == "PERMISSION_DENIED"
    owner_client.patch(f"/api/v1/projects/{project.id}", {"visibility": "private"}, format="json")
    response = outsider.post(url)
    assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND"
