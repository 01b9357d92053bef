"""Who may do what, for anonymous, non-member, member, maintainer, owner and admin, on every endpoint."""

import pytest

from accounts.tests.factories import UserFactory
from projects.models import Application, Membership
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "outsider", "member", "mentor", "maintainer", "owner", "admin"]


@pytest.fixture
def world(api_client, auth_client):
    owner = UserFactory()
    project = make_project(owner, name="公开项目", tags=["深度学习"])
    private = make_project(owner, name="私有项目", visibility="private")
    users = {"owner": owner, "outsider": UserFactory(), "admin": UserFactory(is_staff=True)}
    for role in ("member", "mentor", "maintainer"):
        users[role] = add_member(project, role)
        add_member(private, role, user=users[role])
    clients = {name: auth_client(u) for name, u in users.items()}
    clients["anonymous"] = api_client
    return {"project": project, "private": private, "users": users, "clients": clients}


def expect(allowed_roles, role, anonymous_status=401, denied_status=403):
    if role in allowed_roles:
        return "ok"
    return anonymous_status if role == "anonymous" else denied_status


def check(response, expected):
    if expected == "ok":
        assert response.status_code < 300, response.content
    else:
        assert response.status_code == expected, response.content
        assert response.json()["status_code"] == expected
        error_codes = {401: "NOT_AUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}
        assert response.json()["error_code"] == error_codes[expected]


WRITERS = {"maintainer", "owner", "admin"}
MEMBERS = {"member", "mentor", "maintainer", "owner", "admin"}


@pytest.mark.parametrize("role", ROLES)
def test_read_public_project(world, role):
    check(world["clients"][role].get(f"/api/v1/projects/{world['project'].id}"), "ok")
    check(world["clients"][role].get(f"/api/v1/projects/{world['project'].id}/members"), "ok")


@pytest.mark.parametrize("role", ROLES)
def test_private_project_is_404_to_outsiders_for_every_method(world, role):
    client, pid = world["clients"][role], world["private"].id
    expected = "ok" if role in MEMBERS else 404
    check(client.get(f"/api/v1/projects/{pid}"), expected)
    check(client.get(f"/api/v1/projects/{pid}/members"), expected)
    if role in ("outsider", "anonymous"):
        # Writes too: a private project does not exist for them, so 404 rather than 401/403.
        for method in ("put", "patch", "delete"):
            check(getattr(client, method)(f"/api/v1/projects/{pid}", {"name": "x"}, format="json"), 404)
        check(client.post(f"/api/v1/projects/{pid}/applications", {}, format="json"), 404)
        listed = client.get("/api/v1/projects").json()["projects"]
        assert pid not in {p["id"] for p in listed}


@pytest.mark.parametrize("role", ROLES)
def test_update_project(world, role):
    pid = world["project"].id
    check(
        world["clients"][role].patch(f"/api/v1/projects/{pid}", {"status": "in_progress"}, format="json"),
        expect(WRITERS, role),
    )
    check(
        world["clients"][role].put(f"/api/v1/projects/{pid}", {"name": "新名字"}, format="json"), expect(WRITERS, role)
    )


@pytest.mark.parametrize("role", ROLES)
def test_delete_project_without_dependents(world, role):
    check(world["clients"][role].delete(f"/api/v1/projects/{world['project'].id}"), expect(WRITERS, role))


@pytest.mark.parametrize("role", ROLES)
def test_create_project_needs_login(world, role):
    check(
        world["clients"][role].post("/api/v1/projects", {"name": "新项目"}, format="json"),
        expect(set(ROLES) - {"anonymous"}, role),
    )


@pytest.mark.parametrize("role", ROLES)
def test_add_member(world, role):
    newcomer = UserFactory()
    check(
        world["clients"][role].post(
            f"/api/v1/projects/{world['project'].id}/members", {"user_id": newcomer.id, "role": "member"}, format="json"
        ),
        expect(WRITERS, role),
    )


@pytest.mark.parametrize("role", ROLES)
def test_change_member_role(world, role):
    target = world["users"]["member"]
    check(
        world["clients"][role].patch(
            f"/api/v1/projects/{world['project'].id}/members/{target.id}", {"role": "mentor"}, format="json"
        ),
        expect(WRITERS, role),
    )


@pytest.mark.parametrize("role", ROLES)
def test_remove_another_member(world, role):
    target = add_member(world["project"], "member")
    check(
        world["clients"][role].delete(f"/api/v1/projects/{world['project'].id}/members/{target.id}"),
        expect(WRITERS, role),
    )


@pytest.mark.parametrize("role", ["member", "mentor", "maintainer"])
def test_any_member_may_leave(world, role):
    user = world["users"][role]
    check(world["clients"][role].delete(f"/api/v1/projects/{world['project'].id}/members/{user.id}"), "ok")
    assert not Membership.objects.filter(project=world["project"], user=user).exists()


@pytest.mark.parametrize("role", ROLES)
def test_transfer_ownership(world, role):
    target = world["users"]["maintainer"]
    check(
        world["clients"][role].post(
            f"/api/v1/projects/{world['project'].id}/transfer-ownership", {"user_id": target.id}, format="json"
        ),
        expect({"owner", "admin"}, role),
    )


@pytest.mark.parametrize("role", ROLES)
def test_list_applications(world, role):
    check(world["clients"][role].get(f"/api/v1/projects/{world['project'].id}/applications"), expect(WRITERS, role))


@pytest.mark.parametrize("role", ROLES)
def test_decide_application(world, role):
    applicant = UserFactory()
    application = Application.objects.create(project=world["project"], applicant=applicant)
    base = f"/api/v1/projects/{world['project'].id}/applications/{application.id}"
    check(world["clients"][role].post(f"{base}/approve", {}, format="json"), expect(WRITERS, role))
    other = Application.objects.create(project=world["project"], applicant=UserFactory())
    base = f"/api/v1/projects/{world['project'].id}/applications/{other.id}"
    check(world["clients"][role].post(f"{base}/reject", {"reason": "不合适"}, format="json"), expect(WRITERS, role))


@pytest.mark.parametrize("role", ROLES)
def test_withdraw_only_own_application(world, role):
    application = Application.objects.create(project=world["project"], applicant=UserFactory())
    url = f"/api/v1/projects/{world['project'].id}/applications/{application.id}/withdraw"
    check(world["clients"][role].post(url, {}, format="json"), 401 if role == "anonymous" else 403)


def test_maintainer_cannot_delete_project_with_dependents_but_owner_can(world, monkeypatch):
    from projects import services

    monkeypatch.setattr(services, "project_dependents", lambda project: ["datasets"])
    pid = world["project"].id
    check(world["clients"]["maintainer"].delete(f"/api/v1/projects/{pid}"), 403)
    check(world["clients"]["owner"].delete(f"/api/v1/projects/{pid}"), "ok")
