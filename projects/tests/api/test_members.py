"""Members: add, change role, remove, the owner's invariants and ownership transfer."""

import pytest

from accounts.tests.factories import UserFactory
from incubator.events.models import Event
from projects.models import Membership, Project
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(auth_client):
    owner = UserFactory()
    project = make_project(owner)
    return owner, project, auth_client(owner)


def test_members_list_shape(setup, api_client):
    owner, project, _ = setup
    body = api_client.get(f"/api/v1/projects/{project.id}/members").json()
    assert set(body) == {"members", "pagination"}
    assert body["members"][0]["user"]["id"] == owner.id
    assert body["members"][0]["role"] == "owner" and body["members"][0]["role_display"] == "负责人"


def test_add_change_remove_member_updates_count_and_records_events(setup):
    owner, project, client = setup
    newcomer = UserFactory()
    added = client.post(
        f"/api/v1/projects/{project.id}/members", {"user_id": newcomer.id, "role": "mentor"}, format="json"
    )
    assert added.status_code == 201 and added.json()["role"] == "mentor"
    assert Project.objects.get(pk=project.pk).member_count == 2
    again = client.post(f"/api/v1/projects/{project.id}/members", {"user_id": newcomer.id}, format="json")
    assert again.status_code == 409 and again.json()["error_code"] == "ALREADY_MEMBER"
    changed = client.patch(
        f"/api/v1/projects/{project.id}/members/{newcomer.id}", {"role": "maintainer"}, format="json"
    )
    assert changed.json()["role"] == "maintainer"
    assert client.delete(f"/api/v1/projects/{project.id}/members/{newcomer.id}").status_code == 204
    assert Project.objects.get(pk=project.pk).member_count == 1
    types = list(
        Event.objects.filter(topic=f"project:{project.id}", subject_type="membership").values_list("type", flat=True)
    )
    assert types == ["member.added", "member.updated", "member.removed"]


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 999999},
        {"user_id": "abc"},
        {"role": "member"},
        {"user_id": 1, "role": "owner"},
        {"user_id": 1, "role": "king"},
    ],
)
def test_add_member_validation(setup, body):
    _, project, client = setup
    response = client.post(f"/api/v1/projects/{project.id}/members", body, format="json")
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_INPUT"
    assert response.json()["details"]["field"] in {"user_id", "role"}


def test_owner_cannot_be_removed_or_demoted(setup, auth_client):
    owner, project, client = setup
    maintainer = add_member(project, "maintainer")
    for actor in (client, auth_client(maintainer)):
        response = actor.delete(f"/api/v1/projects/{project.id}/members/{owner.id}")
        assert response.status_code == 409 and response.json()["error_code"] == "OWNER_IMMUTABLE"
        response = actor.patch(f"/api/v1/projects/{project.id}/members/{owner.id}", {"role": "member"}, format="json")
        assert response.status_code == 409 and response.json()["error_code"] == "OWNER_IMMUTABLE"
    response = client.patch(f"/api/v1/projects/{project.id}/members/{maintainer.id}", {"role": "owner"}, format="json")
    assert response.status_code == 400 and response.json()["error_code"] == "INVALID_INPUT"
    assert Membership.objects.filter(project=project, role="owner").count() == 1


def test_unknown_member_is_404(setup):
    _, project, client = setup
    response = client.delete(f"/api/v1/projects/{project.id}/members/999999")
    assert response.status_code == 404 and response.json()["error_code"] == "NOT_FOUND"


def test_transfer_ownership(setup, api_client):
    owner, project, client = setup
    successor = add_member(project, "member")
    outsider = UserFactory()
    refused = client.post(f"/api/v1/projects/{project.id}/transfer-ownership", {"user_id": outsider.id}, format="json")
    assert refused.status_code == 409 and refused.json()["error_code"] == "NOT_A_MEMBER"
    response = client.post(
        f"/api/v1/projects/{project.id}/transfer-ownership", {"user_id": successor.id}, format="json"
    )
    assert response.status_code == 200 and response.json()["owner"]["id"] == successor.id
    roles = dict(Membership.objects.filter(project=project).values_list("user_id", "role"))
    assert roles == {owner.id: "maintainer", successor.id: "owner"}
    assert Event.objects.filter(type="project.ownership_transferred").count() == 1
