"""Django admin writes go through projects.services: after each kind of admin write, the public list's totals
match its rows, search finds what was written, and the outbox has the event.

Every test warms the list totals first (they are kept until a service says the projects changed), then
writes through the admin the way a browser does (the change form as rendered, inline management form
included), then reads through the API."""

from typing import Any

import pytest
from django.contrib.messages import get_messages

from accounts.tests.factories import UserFactory
from incubator.events.models import Event
from projects import services
from projects.models import Application, Membership, Project, ProjectTag, Tag
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db

PROJECTS = "/admin/projects/project/"


@pytest.fixture
def admin_user(make_user):
    return make_user(is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def listing(client: Any, **params: Any) -> set[int]:
    """The ids on the first page of /api/v1/projects; the total must be the number of rows (tests stay
    under one page)."""
    response = client.get("/api/v1/projects", params)
    assert response.status_code == 200, response.content
    body = response.json()
    ids = [project["id"] for project in body["projects"]]
    assert body["pagination"]["total"] == len(ids), (params, body["pagination"], ids)
    return set(ids)


def form_data(response: Any) -> dict[str, Any]:
    """What a browser posts back from an admin form page, untouched: every enabled field of the form and of
    its inline formsets, with their management forms."""
    assert response.status_code == 200, response.content[:500]
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        forms += [inline.formset.management_form, *inline.formset.forms]
    data: dict[str, Any] = {}
    for form in forms:
        for field in form:
            if field.field.disabled:
                continue  # browsers do not send disabled inputs
            value = field.value()
            if isinstance(value, bool) or field.widget_type == "checkbox":
                if value:
                    data[field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[field.html_name] = [str(v) for v in value]
            elif value is not None:
                data[field.html_name] = str(value)
    return data


def post_change(client: Any, project: Project, **changes: Any) -> Any:
    url = f"{PROJECTS}{project.pk}/change/"
    data = form_data(client.get(url))
    data.update({key: str(value) for key, value in changes.items()})
    return client.post(url, data)


def add_inline_member(data: dict[str, Any], project_id: int | str, user: Any, role: str) -> None:
    index = int(data["memberships-TOTAL_FORMS"])
    data["memberships-TOTAL_FORMS"] = str(index + 1)
    data.update(
        {
            f"memberships-{index}-id": "",
            f"memberships-{index}-project": str(project_id),
            f"memberships-{index}-user": str(user.pk),
            f"memberships-{index}-role": role,
        }
    )


def inline_index(data: dict[str, Any], membership: Membership) -> int:
    return next(int(k.split("-")[1]) for k, v in data.items() if k.endswith("-id") and v == str(membership.pk))


def message_texts(response: Any) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def events(type_: str, project: Project | int) -> list[Event]:
    project_id = project if isinstance(project, int) else project.pk
    kind = "applications" if type_.startswith("application.") else "project"
    return list(Event.objects.filter(type=type_, topic=f"{kind}:{project_id}"))


# --- add and change -----------------------------------------------------------------------------------------


def test_add_creates_through_the_service(admin_client, admin_user, api_client):
    owner = UserFactory()
    old = make_project(name="旧项目")
    assert listing(api_client) == {old.id}
    assert listing(api_client, search="视觉") == set()
    newcomer = UserFactory()

    data = form_data(admin_client.get(f"{PROJECTS}add/"))
    data.update(
        {
            "name": "视觉识别平台",
            "description": "图像分类",
            "status": "recruiting",
            "visibility": "public",
            "owner": str(owner.pk),
            "tags": "计算机视觉, 机器学习，计算机视觉 ,  深度 学习",
        }
    )
    add_inline_member(data, "", newcomer, "mentor")
    response = admin_client.post(f"{PROJECTS}add/", data)
    assert response.status_code == 302, response.content[:2000]

    project = Project.objects.get(name="视觉识别平台")
    assert project.tags == ["计算机视觉", "机器学习", "深度 学习"]
    assert set(ProjectTag.objects.filter(project=project).values_list("tag__name", flat=True)) == set(project.tags)
    roles = dict(Membership.objects.filter(project=project).values_list("user_id", "role"))
    assert roles == {owner.id: "owner", newcomer.id: "mentor"} and project.member_count == 2
    assert listing(api_client) == {old.id, project.id}
    assert listing(api_client, search="视觉") == {project.id}
    assert listing(api_client, search="深度 学习") == {project.id}
    assert listing(api_client, tags="机器学习") == {project.id}
    assert [e.payload["name"] for e in events("project.created", project)] == ["视觉识别平台"]
    assert [e.actor_id for e in events("member.added", project)] == [admin_user.id]


def test_making_a_project_private_fixes_the_anonymous_total(admin_client, admin_user, api_client, auth_client):
    # The issue: after an admin made a public project private, the anonymous list said total 2 with 1 row.
    first = make_project(name="公开一")
    second = make_project(name="公开二")
    member = add_member(second)
    assert listing(api_client) == {first.id, second.id}
    assert listing(auth_client(member)) == {first.id, second.id}

    assert post_change(admin_client, second, visibility="private").status_code == 302

    assert listing(api_client) == {first.id}
    assert listing(api_client, visibility="public") == {first.id}
    assert listing(auth_client(member)) == {first.id, second.id}
    (event,) = events("project.updated", second)
    assert event.payload["changed"] == ["visibility"] and event.actor_id == admin_user.id


def test_status_change(admin_client, api_client):
    project = make_project(name="招募项目")
    assert listing(api_client, status="recruiting") == {project.id}
    assert listing(api_client, status="completed") == set()

    assert post_change(admin_client, project, status="completed").status_code == 302

    assert listing(api_client, status="recruiting") == set()
    assert listing(api_client, status="completed") == {project.id}
    assert [e.payload["changed"] for e in events("project.updated", project)] == [["status"]]


def test_name_and_tags_change_reach_search(admin_client, api_client):
    project = make_project(name="旧的名字", tags=["机器学习"])
    other = make_project(name="别的项目", tags=["机器学习"])
    assert listing(api_client, search="旧的名字") == {project.id}
    assert listing(api_client, search="全新名字") == set()
    assert listing(api_client, search="强化学习") == set()
    assert listing(api_client, tags="强化学习") == set()
    assert listing(api_client, tags="机器学习") == {project.id, other.id}

    response = post_change(admin_client, project, name="全新名字", tags="强化学习、机器学习")
    assert response.status_code == 302

    project.refresh_from_db()
    assert project.tags == ["强化学习", "机器学习"]
    assert listing(api_client, search="全新名字") == {project.id}
    assert listing(api_client, search="旧的名字") == set()
    assert listing(api_client, search="强化") == {project.id}
    assert listing(api_client, tags="强化学习") == {project.id}
    assert listing(api_client, tags="机器学习") == {project.id, other.id}
    assert [e.payload["changed"] for e in events("project.updated", project)] == [["name", "tags"]]

    post_change(admin_client, project, tags="")
    assert listing(api_client, tags="机器学习") == {other.id}
    assert not ProjectTag.objects.filter(project=project).exists()


def test_tags_are_edited_as_text_and_listed_readably(admin_client):
    project = make_project(tags=["a", "b", "c", "d"])
    page = admin_client.get(f"{PROJECTS}{project.pk}/change/").content.decode()
    assert 'value="a, b, c, d"' in page
    assert "a, b, c +1" in admin_client.get(PROJECTS).content.decode()

    response = post_change(admin_client, project, tags="x" * 51)
    assert response.status_code == 200 and response.context["adminform"].form.errors["tags"]
    assert Project.objects.get(pk=project.pk).tags == ["a", "b", "c", "d"]


def test_owner_change_transfers_ownership(admin_client, admin_user, api_client):
    owner = UserFactory()
    project = make_project(owner)
    heir = add_member(project)
    assert listing(api_client, owner=heir.id) == set()

    assert post_change(admin_client, project, owner=heir.pk).status_code == 302

    roles = dict(Membership.objects.filter(project=project).values_list("user_id", "role"))
    assert roles == {owner.id: "maintainer", heir.id: "owner"}
    assert Project.objects.get(pk=project.pk).owner_id == heir.id
    assert listing(api_client, owner=heir.id) == {project.id}
    assert listing(api_client, owner=owner.id) == set()
    (event,) = events("project.ownership_transferred", project)
    assert event.payload["owner_id"] == heir.id and event.actor_id == admin_user.id


def test_owner_change_to_a_member_added_in_the_same_submit(admin_client, api_client):
    project = make_project()
    heir = UserFactory()
    url = f"{PROJECTS}{project.pk}/change/"
    data = form_data(admin_client.get(url))
    data["owner"] = str(heir.pk)
    add_inline_member(data, project.pk, heir, "member")

    assert admin_client.post(url, data).status_code == 302

    assert Membership.objects.get(project=project, user=heir).role == "owner"
    assert Project.objects.get(pk=project.pk).member_count == 2
    assert len(events("member.added", project)) == 1
    assert len(events("project.ownership_transferred", project)) == 1
    assert listing(api_client, owner=heir.id) == {project.id}


def test_a_refused_write_is_an_error_message_and_writes_nothing(admin_client, api_client):
    project = make_project(name="原名")
    stranger = UserFactory()
    assert listing(api_client, search="新名") == set()

    response = post_change(admin_client, project, name="新名", owner=stranger.pk)

    assert response.status_code == 302 and response.url == f"{PROJECTS}{project.pk}/change/"
    assert message_texts(response) == ["所有权只能转让给项目成员。"]
    assert Project.objects.get(pk=project.pk).name == "原名"  # the name was saved, then rolled back with the rest
    assert events("project.updated", project) == []
    assert listing(api_client, search="新名") == set()


# --- delete -------------------------------------------------------------------------------------------------


def test_delete(admin_client, admin_user, api_client):
    kept = make_project(name="留下")
    gone = make_project(name="删除")
    add_member(gone)
    assert listing(api_client) == {kept.id, gone.id}

    confirmation = admin_client.get(f"{PROJECTS}{gone.pk}/delete/")
    assert confirmation.status_code == 200 and not confirmation.context["perms_lacking"]
    assert admin_client.post(f"{PROJECTS}{gone.pk}/delete/", {"post": "yes"}).status_code == 302

    assert not Project.objects.filter(pk=gone.pk).exists()
    assert listing(api_client) == {kept.id}
    assert listing(api_client, search="删除") == set()
    (event,) = events("project.deleted", gone.id)
    assert event.actor_id == admin_user.id


def test_bulk_delete_action(admin_client, api_client):
    kept, *gone = (make_project(name=f"项目{i}") for i in range(3))
    assert listing(api_client) == {kept.id, *(p.id for p in gone)}
    selected = {"action": "delete_selected", "_selected_action": [str(p.pk) for p in gone]}
    assert admin_client.post(PROJECTS, selected).status_code == 200  # the confirmation page

    response = admin_client.post(PROJECTS, {**selected, "post": "yes"})

    assert response.status_code == 302
    assert listing(api_client) == {kept.id}
    assert all(len(events("project.deleted", p.id)) == 1 for p in gone)


@pytest.mark.parametrize(
    ("action", "field", "value", "anonymous_sees"),
    [("make_private", "visibility", "private", False), ("mark_completed", "status", "completed", True)],
)
def test_bulk_change_actions(admin_client, api_client, action, field, value, anonymous_sees):
    projects = [make_project(name=f"项目{i}") for i in range(2)]
    assert listing(api_client) == {p.id for p in projects}
    assert listing(api_client, **{field: value}) == set()

    response = admin_client.post(PROJECTS, {"action": action, "_selected_action": [str(p.pk) for p in projects]})

    assert response.status_code == 302
    assert {getattr(p, field) for p in Project.objects.all()} == {value}
    assert listing(api_client) == ({p.id for p in projects} if anonymous_sees else set())
    assert all(events("project.updated", p)[0].payload["changed"] == [field] for p in projects)


# --- members and applications -------------------------------------------------------------------------------


def test_inline_member_add_and_remove(admin_client, admin_user, api_client, auth_client):
    project = make_project(name="私有项目", visibility="private")
    leaving = add_member(project)
    joining = UserFactory()
    assert listing(auth_client(leaving)) == {project.id}
    assert listing(auth_client(joining)) == set()
    assert listing(auth_client(joining), member="me") == set()

    url = f"{PROJECTS}{project.pk}/change/"
    data = form_data(admin_client.get(url))
    data[f"memberships-{inline_index(data, Membership.objects.get(user=leaving))}-DELETE"] = "on"
    add_inline_member(data, project.pk, joining, "mentor")
    assert admin_client.post(url, data).status_code == 302

    roles = dict(Membership.objects.filter(project=project).values_list("user_id", "role"))
    assert roles == {project.owner_id: "owner", joining.id: "mentor"}
    assert Project.objects.get(pk=project.pk).member_count == 2
    assert listing(auth_client(leaving)) == set()
    assert listing(auth_client(joining)) == {project.id}
    assert listing(auth_client(joining), member="me") == {project.id}
    assert [e.payload["user_id"] for e in events("member.added", project)] == [joining.id]
    assert [e.payload["user_id"] for e in events("member.removed", project)] == [leaving.id]
    assert {e.actor_id for e in events("member.added", project) + events("member.removed", project)} == {admin_user.id}


def test_inline_role_change_and_the_owner_row_is_fixed(admin_client):
    project = make_project()
    member = add_member(project)
    url = f"{PROJECTS}{project.pk}/change/"
    data = form_data(admin_client.get(url))
    owner_row = inline_index(data, Membership.objects.get(project=project, role="owner"))
    member_row = inline_index(data, Membership.objects.get(user=member))
    data[f"memberships-{owner_row}-DELETE"] = "on"  # a tampered post: the checkbox is disabled
    data[f"memberships-{owner_row}-role"] = "member"
    data[f"memberships-{member_row}-role"] = "maintainer"

    assert admin_client.post(url, data).status_code == 302

    roles = dict(Membership.objects.filter(project=project).values_list("user_id", "role"))
    assert roles == {project.owner_id: "owner", member.id: "maintainer"}
    assert [e.payload["role"] for e in events("member.updated", project)] == ["maintainer"]

    data = form_data(admin_client.get(url))
    add_inline_member(data, project.pk, UserFactory(), "owner")
    refused = admin_client.post(url, data)
    assert refused.status_code == 200 and refused.context["inline_admin_formsets"][0].formset.errors[-1]["role"]
    assert Membership.objects.filter(project=project).count() == 2


def _pending(project: Project) -> Application:
    return services.application_submit(project=project, applicant=UserFactory(), message="想加入")


def test_application_approve_action(admin_client, admin_user, api_client, auth_client):
    project = make_project(visibility="private")
    application = _pending(project)
    applicant = auth_client(application.applicant)
    assert listing(applicant) == set()

    response = admin_client.post(
        "/admin/projects/application/", {"action": "approve", "_selected_action": [str(application.pk)]}
    )

    assert response.status_code == 302
    application.refresh_from_db()
    assert application.status == "approved" and application.decided_by_id == admin_user.id
    assert Membership.objects.get(project=project, user=application.applicant).role == "member"
    assert Project.objects.get(pk=project.pk).member_count == 2
    assert listing(applicant) == {project.id}
    assert len(events("application.approved", project)) == 1 and len(events("member.added", project)) == 1


def test_application_reject_action_and_a_refused_row(admin_client, admin_user, auth_client):
    project = make_project(visibility="private")
    application = _pending(project)
    decided = _pending(project)
    services.application_reject(application=decided, actor=admin_user, reason="")
    url = "/admin/projects/application/"

    response = admin_client.post(url, {"action": "reject", "_selected_action": [str(application.pk), str(decided.pk)]})

    assert response.status_code == 302
    assert Application.objects.get(pk=application.pk).status == "rejected"
    texts = message_texts(response)
    assert any("该申请已被处理或已撤回" in text for text in texts) and "已完成：所选 2 项中的 1 项。" in texts
    assert len(events("application.rejected", project)) == 2
    assert not Membership.objects.filter(project=project, user=application.applicant).exists()
    assert listing(auth_client(application.applicant)) == set()
    assert admin_client.get(f"{url}{application.pk}/change/").status_code == 200  # view only
    assert admin_client.post(f"{url}{application.pk}/change/", {}).status_code == 403


def test_membership_admin_add_change_remove(admin_client, api_client, auth_client):
    project = make_project(visibility="private")
    user = UserFactory()
    url = "/admin/projects/membership/"
    assert listing(auth_client(user)) == set()

    data = form_data(admin_client.get(f"{url}add/"))
    data.update({"project": str(project.pk), "user": str(user.pk), "role": "member"})
    assert admin_client.post(f"{url}add/", data).status_code == 302
    membership = Membership.objects.get(project=project, user=user)
    assert Project.objects.get(pk=project.pk).member_count == 2
    assert listing(auth_client(user)) == {project.id}

    data = form_data(admin_client.get(f"{url}{membership.pk}/change/"))
    assert admin_client.post(f"{url}{membership.pk}/change/", {**data, "role": "mentor"}).status_code == 302
    assert Membership.objects.get(pk=membership.pk).role == "mentor"

    assert admin_client.post(f"{url}{membership.pk}/delete/", {"post": "yes"}).status_code == 302
    assert Project.objects.get(pk=project.pk).member_count == 1
    assert listing(auth_client(user)) == set()
    assert [len(events(t, project)) for t in ("member.added", "member.updated", "member.removed")] == [1, 1, 1]

    owner_row = Membership.objects.get(project=project, role="owner")
    assert admin_client.post(f"{url}{owner_row.pk}/delete/", {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [str(owner_row.pk)]}
    assert admin_client.post(url, bulk).context["perms_lacking"]  # the confirmation page refuses
    assert admin_client.post(url, {**bulk, "post": "yes"}).status_code == 403
    assert Membership.objects.filter(pk=owner_row.pk).exists()


# --- tags and read-only models ------------------------------------------------------------------------------


def test_tag_rename_rewrites_every_project(admin_client, api_client):
    first = make_project(name="一", tags=["ML", "视觉"])
    second = make_project(name="二", tags=["ml"])
    untouched = make_project(name="三", tags=["视觉"])
    tag = Tag.objects.get(name="ML")
    assert listing(api_client, tags="机器学习") == set()
    assert listing(api_client, search="机器学习") == set()

    url = f"/admin/projects/tag/{tag.pk}/change/"
    assert admin_client.post(url, {**form_data(admin_client.get(url)), "name": " 机器学习 "}).status_code == 302

    assert Tag.objects.get(pk=tag.pk).name == "机器学习"
    assert Project.objects.get(pk=first.pk).tags == ["机器学习", "视觉"]
    assert Project.objects.get(pk=second.pk).tags == ["机器学习"]
    assert listing(api_client, tags="机器学习") == {first.id, second.id}
    assert listing(api_client, tags="ML") == set()
    assert listing(api_client, search="机器学习") == {first.id, second.id}
    assert [len(events("project.updated", p)) for p in (first, second, untouched)] == [1, 1, 0]

    taken = admin_client.post(url, {"name": "视觉"})
    assert taken.status_code == 200 and taken.context["adminform"].form.errors


@pytest.mark.parametrize("model", ["projecttag", "application"])
def test_side_effect_rows_cannot_be_written(admin_client, model):
    project = make_project(tags=["a"])
    _pending(project)
    row = (ProjectTag if model == "projecttag" else Application).objects.get()
    url = f"/admin/projects/{model}/"
    assert admin_client.get(f"{url}add/").status_code == 403
    assert admin_client.post(f"{url}{row.pk}/change/", {}).status_code == 403
    assert admin_client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert 'value="delete_selected"' not in admin_client.get(url).content.decode()
    assert admin_client.get("/admin/projects/tag/add/").status_code == 403


def test_a_browser_sends_crlf_and_the_description_is_not_rewritten(admin_client):
    """Browsers post a textarea's line breaks as CRLF: saving another field must not change the description
    (it did, so every admin save recorded a description change)."""
    project = make_project(name="换行", description="第一行\n第二行")
    url = f"{PROJECTS}{project.pk}/change/"
    data = form_data(admin_client.get(url))
    data["description"] = data["description"].replace("\n", "\r\n")
    data["visibility"] = "private"
    assert admin_client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert project.description == "第一行\n第二行" and project.visibility == "private"
    assert [e.payload["changed"] for e in events("project.updated", project)] == [["visibility"]]
