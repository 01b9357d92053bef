"""Every write on projects, members, applications and tags, against the database: the rows it leaves, its outbox
event, its errors (exact class and error_code, nothing half-written), the list totals it refreshes and the live
publish after commit."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import translation

from accounts.tests.factories import UserFactory
from incubator.errors import InvalidInput, NotFound, PermissionDenied
from incubator.events.models import Event
from incubator.events.topics import topic_group
from incubator.generations import generation_get
from projects import selectors, services
from projects.errors import (
    AlreadyMember,
    ApplicationAlreadyPending,
    ApplicationNotPending,
    NotAMember,
    OwnerImmutable,
    ProjectNotRecruiting,
)
from projects.models import Application, Membership, Project, ProjectTag, Tag
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


# --- helpers ------------------------------------------------------------------------------------------------


def total(user: Any, **filters: Any) -> int:
    """The list total as the list view reads it (cached under the list generation)."""
    return selectors.project_list_total(selectors.project_list(user=user, filters=filters), user=user, filters=filters)


def search(text: str) -> set[int]:
    return set(selectors.project_list(user=None, filters={"search": text}).values_list("id", flat=True))


def rows() -> dict[str, int]:
    """How many rows each table a service writes holds: equal before and after a refused write."""
    models = (Project, ProjectTag, Tag, Membership, Application, Event)
    return {model.__name__: model.objects.count() for model in models}


def the_event(type_: str) -> Event:
    """The one event of this type; for an application, the deciders' copy, after checking the applicant's."""
    events = list(Event.objects.filter(type=type_))
    if type_.startswith("application."):
        [copy] = [e for e in events if e.topic.startswith("user:")]
        events = [e for e in events if e is not copy]
        assert (
            events and copy.topic == f"user:{events[0].payload['applicant_id']}" and copy.payload == events[0].payload
        )
        assert events[0].topic == f"applications:{events[0].payload['project_id']}"
    assert len(events) == 1, [(e.type, e.topic) for e in Event.objects.all()]
    return events[0]


def roles(project: Project) -> dict[int, str]:
    return dict(Membership.objects.filter(project=project).values_list("user_id", "role"))


def member_count(project: Project) -> int:
    return Project.objects.values_list("member_count", flat=True).get(pk=project.pk)


def expect_error(error_class: type, error_code: str, call: Any, **kwargs: Any) -> Any:
    """Run `call(**kwargs)` and check it raises exactly `error_class` carrying `error_code`; nothing is written."""
    before = rows()
    with pytest.raises(error_class) as caught:
        call(**kwargs)
    assert type(caught.value) is error_class
    assert caught.value.error_code == error_code
    assert rows() == before
    return caught.value


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def project(owner):
    return make_project(owner, name="Vision lab", description="缺陷检测", tags=["机器学习", "CV"])


# --- tags_normalize -----------------------------------------------------------------------------------------


def test_tags_are_trimmed_collapsed_and_deduplicated_first_spelling_first():
    assert services.tags_normalize(["  机器  学习 ", "NLP", "nlp", "", "   ", "机器 学习", "Cv"]) == [
        "机器 学习",
        "NLP",
        "Cv",
    ]
    assert services.tags_normalize([]) == []


def test_tag_limits_are_inclusive():
    assert services.tags_normalize(["x" * 50]) == ["x" * 50]
    assert len(services.tags_normalize([f"t{i}" for i in range(20)])) == 20
    # Duplicates collapse before the count is checked.
    assert len(services.tags_normalize([f"t{i}" for i in range(20)] + ["T0", "t19"])) == 20


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param("机器学习", "tags", id="a-string"),
        (None, "tags"),
        (["ok", 1], "tags.1"),
        ([None], "tags.0"),
        (["ok", "x" * 51], "tags.1"),
        ([f"t{i}" for i in range(21)], "tags"),
    ],
)
def test_bad_tags_are_invalid_input_naming_the_field(raw, field):
    with pytest.raises(InvalidInput) as caught:
        services.tags_normalize(raw)
    assert caught.value.error_code == "INVALID_INPUT"
    assert caught.value.details["field"] == field


# --- project_create -----------------------------------------------------------------------------------------


def test_project_create_writes_the_project_its_tags_owner_membership_and_event(owner):
    Tag.objects.create(name="NLP")
    project = services.project_create(
        owner=owner,
        data={
            "name": "  Vision   Lab ",
            "description": "识别 工业零件",
            "video_url": "https://example.com/v.mp4",
            "status": "in_progress",
            "visibility": "private",
            "tags": ["nlp", " 计算机  视觉 ", "NLP"],
            "owner": 999,  # not a project field: ignored
        },
    )
    project.refresh_from_db()
    assert project.owner_id == owner.id and project.member_count == 1
    assert (project.status, project.visibility, project.video_url) == (
        "in_progress",
        "private",
        "https://example.com/v.mp4",
    )
    assert project.tags == ["NLP", "计算机 视觉"]  # the existing spelling is reused
    assert project.search_text == "vision lab nlp 计算机 视觉 识别 工业零件"
    assert set(ProjectTag.objects.filter(project=project).values_list("tag__name", flat=True)) == {"NLP", "计算机 视觉"}
    assert Tag.objects.count() == 2
    assert roles(project) == {owner.id: "owner"}
    event = the_event("project.created")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"project:{project.id}",
        "project",
        str(project.id),
        owner.id,
    )
    assert event.payload == {
        "id": project.id,
        "name": project.name,
        "status": "in_progress",
        "visibility": "private",
        "tags": ["NLP", "计算机 视觉"],
        "owner_id": owner.id,
        "member_count": 1,
    }


def test_project_create_defaults(owner):
    project = services.project_create(owner=owner, data={"name": "最小项目"})
    assert (project.status, project.visibility, project.tags, project.description) == ("recruiting", "public", [], "")
    assert project.search_text == "最小项目"


@pytest.mark.parametrize(
    "data",
    [
        {"name": "x" * 201},
        {"name": ""},
        {"name": "ok", "video_url": "javascript:alert(1)"},
        {"name": "ok", "status": "done"},
        {"name": "ok", "visibility": "secret"},
    ],
)
def test_project_create_validates_the_model_and_writes_nothing(owner, data):
    before = rows()
    with pytest.raises((InvalidInput, DjangoValidationError)):
        services.project_create(owner=owner, data={**data, "tags": ["新标签"]})
    assert rows() == before


@pytest.mark.parametrize(
    ("data", "field"), [({"name": "x" * 201}, "name"), ({"name": "ok", "video_url": "bad"}, "video_url")]
)
def test_project_create_invalid_data_is_invalid_input(owner, data, field):
    with pytest.raises(InvalidInput) as caught:
        services.project_create(owner=owner, data=data)
    assert caught.value.error_code == "INVALID_INPUT" and caught.value.details["field"] == field


def test_project_create_description_too_long_is_invalid_input(owner):
    expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.project_create,
        owner=owner,
        data={"name": "ok", "description": "长" * 20001},
    )


def test_project_create_bad_tags_write_nothing(owner):
    expect_error(InvalidInput, "INVALID_INPUT", services.project_create, owner=owner, data={"name": "x", "tags": [1]})


def test_project_create_refreshes_the_list_totals(owner):
    assert total(None) == 0 and total(owner, member="me") == 0
    make_project(owner)
    assert total(None) == 1 and total(owner, member="me") == 1


# --- project_update -----------------------------------------------------------------------------------------


def test_project_update_changes_fields_tags_and_search_text(project, owner):
    updated = services.project_update(
        project=project,
        actor=owner,
        data={"name": "Heron sonar", "status": "completed", "tags": ["genome", "cv"], "description": "缺陷检测"},
    )
    updated.refresh_from_db()
    assert (updated.name, updated.status, updated.tags) == ("Heron sonar", "completed", ["genome", "CV"])
    assert updated.search_text == "heron sonar genome cv 缺陷检测"
    assert set(ProjectTag.objects.filter(project=project).values_list("tag__name", flat=True)) == {"genome", "CV"}
    event = the_event("project.updated")
    assert (event.topic, event.subject_id, event.actor_id) == (f"project:{project.id}", str(project.id), owner.id)
    assert event.payload["changed"] == ["name", "status", "tags"]  # the description was the same
    assert event.payload["name"] == "Heron sonar" and event.payload["tags"] == ["genome", "CV"]
    assert event.payload["member_count"] == 1 and event.payload["owner_id"] == owner.id


def test_search_finds_a_project_by_its_new_name_and_tags_not_the_old_ones(owner):
    project = make_project(owner, name="Falcon radar", tags=["lidar"], description="")
    assert search("falcon") == {project.id} and search("lidar") == {project.id}
    services.project_update(project=project, actor=owner, data={"name": "Heron sonar"})
    assert search("heron") == {project.id} and search("falcon") == set()
    services.project_update(project=project, actor=owner, data={"tags": ["genome"]})
    assert search("genome") == {project.id} and search("lidar") == set()
    services.project_update(project=project, actor=owner, data={"description": "Quokka"})
    assert search("quokka") == {project.id}


def test_project_update_without_a_change_writes_nothing_and_keeps_the_totals(project, owner):
    token = generation_get(selectors.LIST_GENERATION)
    before = Project.objects.values().get(pk=project.pk)
    same = services.project_update(
        project=project, actor=owner, data={"name": "Vision lab", "tags": ["机器学习", "cv", "  CV "]}
    )
    assert same.pk == project.pk
    assert Project.objects.values().get(pk=project.pk) == before
    assert not Event.objects.filter(type="project.updated").exists()
    assert generation_get(selectors.LIST_GENERATION) == token


def test_project_update_reads_the_row_it_locks_not_the_callers_copy(project, owner):
    Project.objects.filter(pk=project.pk).update(description="changed elsewhere")
    services.project_update(project=project, actor=owner, data={"name": "新名字"})
    project.refresh_from_db()
    assert project.description == "changed elsewhere" and project.name == "新名字"


def test_project_update_refreshes_the_list_totals(project, owner):
    assert total(None) == 1 and total(None, status=["completed"]) == 0
    services.project_update(project=project, actor=owner, data={"status": "completed"})
    assert total(None, status=["completed"]) == 1
    services.project_update(project=project, actor=owner, data={"visibility": "private"})
    assert total(None) == 0 and total(owner) == 1
    assert total(None, tags=["genome"]) == 0
    services.project_update(project=project, actor=owner, data={"visibility": "public", "tags": ["genome"]})
    assert total(None, tags=["genome"]) == 1 and total(None, tags=["机器学习"]) == 0


@pytest.mark.parametrize(
    "data", [{"name": "新名字", "tags": ["新标签"], "video_url": "javascript:alert(1)"}, {"name": "y" * 201}]
)
def test_project_update_refused_leaves_the_project_as_it_was(project, owner, data):
    before, links = Project.objects.values().get(pk=project.pk), set(project.tag_links.values_list("tag_id", flat=True))
    counts = rows()
    with pytest.raises((InvalidInput, DjangoValidationError)):
        services.project_update(project=project, actor=owner, data=data)
    assert Project.objects.values().get(pk=project.pk) == before
    assert set(project.tag_links.values_list("tag_id", flat=True)) == links
    assert rows() == counts


def test_project_update_invalid_data_is_invalid_input(project, owner):
    expect_error(
        InvalidInput, "INVALID_INPUT", services.project_update, project=project, actor=owner, data={"name": ""}
    )


def test_project_update_bad_tags_are_invalid_input(project, owner):
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.project_update, project=project, actor=owner, data={"tags": "x"}
    )
    assert error.details["field"] == "tags"


# --- project_delete -----------------------------------------------------------------------------------------


def test_project_delete_removes_everything_under_it_and_records_the_event(project, owner):
    member = add_member(project, "maintainer")
    Application.objects.create(project=project, applicant=UserFactory())
    other = make_project(owner, tags=["机器学习"])
    services.project_delete(project=project, actor=member)
    assert list(Project.objects.values_list("id", flat=True)) == [other.id]
    assert not Membership.objects.filter(project_id=project.id).exists()
    assert not ProjectTag.objects.filter(project_id=project.id).exists()
    assert not Application.objects.exists()
    assert Tag.objects.filter(name="机器学习").exists()  # tags outlive their projects
    event = the_event("project.deleted")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"project:{project.id}",
        "project",
        str(project.id),
        member.id,
    )
    assert event.payload == {
        "id": project.id,
        "name": "Vision lab",
        "status": "recruiting",
        "visibility": "public",
        "tags": ["机器学习", "CV"],
        "owner_id": owner.id,
        "member_count": 2,
        "removed": [],
    }


def test_project_delete_refreshes_the_list_totals(project, owner):
    make_project(owner)
    assert total(None) == 2 and total(owner, member="me") == 2 and total(None, tags=["CV"]) == 1
    services.project_delete(project=project, actor=owner)
    assert total(None) == 1 and total(owner, member="me") == 1 and total(None, tags=["CV"]) == 0


def test_project_dependents_ignore_the_community(project):
    add_member(project)
    Application.objects.create(project=project, applicant=UserFactory())
    assert services.project_dependents(project=project) == []


@pytest.mark.parametrize("actor", ["owner", "admin"])
def test_project_with_work_goes_by_the_owners_or_an_admins_hand(project, owner, monkeypatch, actor):
    monkeypatch.setattr(services, "project_dependents", lambda project: ["datasets"])
    user = owner if actor == "owner" else UserFactory(is_staff=True)
    services.project_delete(project=project, actor=user)
    assert not Project.objects.exists()
    assert the_event("project.deleted").payload["removed"] == ["datasets"]


@pytest.mark.parametrize("role", ["maintainer", "member"])
def test_project_with_work_is_refused_to_others(project, monkeypatch, role):
    monkeypatch.setattr(services, "project_dependents", lambda project: ["datasets"])
    actor = add_member(project, role)
    expect_error(PermissionDenied, "PERMISSION_DENIED", services.project_delete, project=project, actor=actor)


def test_private_project_with_work_is_not_found_by_an_outsider(owner, monkeypatch):
    monkeypatch.setattr(services, "project_dependents", lambda project: ["datasets"])
    project = make_project(owner, visibility="private")
    expect_error(NotFound, "NOT_FOUND", services.project_delete, project=project, actor=UserFactory())


# --- member_add ---------------------------------------------------------------------------------------------


def test_member_add_creates_the_membership_counts_it_and_records_the_event(project, owner):
    newcomer = UserFactory()
    membership = services.member_add(project=project, actor=owner, user_id=newcomer.id, role="mentor")
    assert (membership.project_id, membership.user_id, membership.role) == (project.id, newcomer.id, "mentor")
    assert roles(project) == {owner.id: "owner", newcomer.id: "mentor"}
    assert member_count(project) == 2
    event = the_event("member.added")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"project:{project.id}",
        "membership",
        f"{project.id}:{newcomer.id}",
        owner.id,
    )
    assert event.payload == {"project_id": project.id, "user_id": newcomer.id, "role": "mentor"}


def test_member_add_refreshes_the_list_totals(owner):
    private = make_project(owner, visibility="private", tags=["机密"])
    newcomer = UserFactory()
    assert total(newcomer) == 0 and total(newcomer, member="me") == 0 and total(newcomer, tags=["机密"]) == 0
    services.member_add(project=private, actor=owner, user_id=newcomer.id, role="member")
    assert total(newcomer) == 1 and total(newcomer, member="me") == 1 and total(newcomer, tags=["机密"]) == 1


def test_an_invitation_settles_the_users_pending_application(project, owner):
    applicant, bystander = UserFactory(), UserFactory()
    elsewhere = make_project(UserFactory())
    mine = services.application_submit(project=project, applicant=applicant, message="")
    theirs = services.application_submit(project=project, applicant=bystander, message="")
    my_other = services.application_submit(project=elsewhere, applicant=applicant, message="")
    services.member_add(project=project, actor=owner, user_id=applicant.id, role="member")
    mine.refresh_from_db()
    assert mine.status == "approved" and mine.decided_by_id == owner.id and mine.decided_at is not None
    statuses = dict(Application.objects.values_list("id", "status"))
    assert statuses[theirs.id] == "pending" and statuses[my_other.id] == "pending"
    # The applicant can no longer apply, and has nothing pending here.
    assert not Application.objects.filter(project=project, applicant=applicant, status="pending").exists()


def test_an_invitation_leaves_decided_applications_alone(project, owner):
    applicant = UserFactory()
    rejected = services.application_submit(project=project, applicant=applicant, message="")
    services.application_reject(application=rejected, actor=owner, reason="不合适")
    services.member_add(project=project, actor=owner, user_id=applicant.id, role="member")
    rejected.refresh_from_db()
    assert rejected.status == "rejected" and rejected.decision_reason == "不合适"


@pytest.mark.parametrize(
    ("user", "role", "field"),
    [("missing", "member", "user_id"), ("inactive", "member", "user_id"), ("active", "owner", "role")],
)
def test_member_add_refuses_bad_input(project, owner, user, role, field):
    user_id = {"missing": 999999, "inactive": UserFactory(is_active=False).id, "active": UserFactory().id}[user]
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.member_add, project=project, actor=owner, user_id=user_id, role=role
    )
    assert error.details["field"] == field
    assert member_count(project) == 1


def test_member_add_of_a_member_is_already_member(project, owner):
    member = add_member(project, "member")
    expect_error(
        AlreadyMember,
        "ALREADY_MEMBER",
        services.member_add,
        project=project,
        actor=owner,
        user_id=member.id,
        role="mentor",
    )
    assert roles(project)[member.id] == "member" and member_count(project) == 2
    expect_error(
        AlreadyMember,
        "ALREADY_MEMBER",
        services.member_add,
        project=project,
        actor=owner,
        user_id=owner.id,
        role="member",
    )


def test_member_add_unknown_role_is_invalid_input(project, owner):
    expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.member_add,
        project=project,
        actor=owner,
        user_id=UserFactory().id,
        role="king",
    )


# --- member_update ------------------------------------------------------------------------------------------


def test_member_update_changes_the_role_and_records_the_previous_one(project, owner):
    member = add_member(project, "member")
    membership = services.member_update(project=project, actor=owner, user_id=member.id, role="maintainer")
    assert membership.role == "maintainer" and roles(project)[member.id] == "maintainer"
    event = the_event("member.updated")
    assert (event.topic, event.subject_id, event.actor_id) == (
        f"project:{project.id}",
        f"{project.id}:{member.id}",
        owner.id,
    )
    assert event.payload == {
        "project_id": project.id,
        "user_id": member.id,
        "role": "maintainer",
        "previous_role": "member",
    }


def test_member_update_to_the_same_role_records_nothing(project, owner):
    member = add_member(project, "mentor")
    assert services.member_update(project=project, actor=owner, user_id=member.id, role="mentor").role == "mentor"
    assert not Event.objects.filter(type="member.updated").exists()


def test_member_update_refusals(project, owner):
    member = add_member(project, "member")
    update = services.member_update
    expect_error(
        OwnerImmutable, "OWNER_IMMUTABLE", update, project=project, actor=owner, user_id=owner.id, role="member"
    )
    error = expect_error(
        InvalidInput, "INVALID_INPUT", update, project=project, actor=owner, user_id=member.id, role="owner"
    )
    assert error.details["field"] == "role"
    expect_error(NotFound, "NOT_FOUND", update, project=project, actor=owner, user_id=999999, role="member")
    # A member of another project is not found in this one.
    stranger = add_member(make_project(owner), "member")
    expect_error(NotFound, "NOT_FOUND", update, project=project, actor=owner, user_id=stranger.id, role="mentor")
    assert roles(project) == {owner.id: "owner", member.id: "member"}


def test_member_update_unknown_role_is_invalid_input(project, owner):
    member = add_member(project, "member")
    expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.member_update,
        project=project,
        actor=owner,
        user_id=member.id,
        role="king",
    )


# --- member_remove ------------------------------------------------------------------------------------------


def test_member_remove_deletes_uncounts_and_records_the_event(project, owner):
    member = add_member(project, "mentor")
    services.member_remove(project=project, actor=owner, user_id=member.id)
    assert roles(project) == {owner.id: "owner"} and member_count(project) == 1
    event = the_event("member.removed")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"project:{project.id}",
        "membership",
        f"{project.id}:{member.id}",
        owner.id,
    )
    assert event.payload == {"project_id": project.id, "user_id": member.id, "role": "mentor"}


def test_a_member_leaving_is_recorded_with_them_as_actor(project):
    member = add_member(project, "member")
    services.member_remove(project=project, actor=member, user_id=member.id)
    assert the_event("member.removed").actor_id == member.id


def test_member_remove_refreshes_the_list_totals(owner):
    private = make_project(owner, visibility="private")
    member = add_member(private, "member")
    assert total(member) == 1 and total(member, member="me") == 1
    services.member_remove(project=private, actor=owner, user_id=member.id)
    assert total(member) == 0 and total(member, member="me") == 0


def test_member_remove_refusals(project, owner):
    expect_error(
        OwnerImmutable, "OWNER_IMMUTABLE", services.member_remove, project=project, actor=owner, user_id=owner.id
    )
    expect_error(NotFound, "NOT_FOUND", services.member_remove, project=project, actor=owner, user_id=999999)
    assert roles(project) == {owner.id: "owner"} and member_count(project) == 1


# --- ownership_transfer -------------------------------------------------------------------------------------


def test_ownership_transfer_swaps_roles_and_owner(project, owner):
    successor = add_member(project, "mentor")
    result = services.ownership_transfer(project=project, actor=owner, user_id=successor.id)
    assert result.owner_id == successor.id
    assert Project.objects.get(pk=project.pk).owner_id == successor.id
    assert roles(project) == {owner.id: "maintainer", successor.id: "owner"}
    event = the_event("project.ownership_transferred")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"project:{project.id}",
        "project",
        str(project.id),
        owner.id,
    )
    assert event.payload == {"project_id": project.id, "previous_owner_id": owner.id, "owner_id": successor.id}


def test_an_admin_may_transfer_ownership(project, owner):
    successor = add_member(project, "member")
    admin = UserFactory(is_staff=True)
    services.ownership_transfer(project=project, actor=admin, user_id=successor.id)
    assert roles(project) == {owner.id: "maintainer", successor.id: "owner"}
    assert the_event("project.ownership_transferred").actor_id == admin.id


def test_ownership_transfer_refreshes_the_list_totals(project, owner):
    successor = add_member(project, "member")
    assert total(None, owner=owner.id) == 1 and total(None, owner=successor.id) == 0
    services.ownership_transfer(project=project, actor=owner, user_id=successor.id)
    assert total(None, owner=owner.id) == 0 and total(None, owner=successor.id) == 1


def test_transfer_to_the_owner_changes_nothing(project, owner):
    assert services.ownership_transfer(project=project, actor=owner, user_id=owner.id).owner_id == owner.id
    assert roles(project) == {owner.id: "owner"}
    assert not Event.objects.filter(type="project.ownership_transferred").exists()


def test_transfer_to_a_non_member_is_not_a_member(project, owner):
    outsider = UserFactory()
    expect_error(
        NotAMember, "NOT_A_MEMBER", services.ownership_transfer, project=project, actor=owner, user_id=outsider.id
    )
    assert roles(project) == {owner.id: "owner"}


@pytest.mark.parametrize("role", ["maintainer", "member", "mentor"])
def test_only_the_owner_may_transfer(project, owner, role):
    actor = add_member(project, role)
    expect_error(
        PermissionDenied,
        "PERMISSION_DENIED",
        services.ownership_transfer,
        project=project,
        actor=actor,
        user_id=actor.id,
    )
    assert Project.objects.get(pk=project.pk).owner_id == owner.id


def test_an_outsider_cannot_find_a_private_project_to_transfer(owner):
    private = make_project(owner, visibility="private")
    member = add_member(private, "member")
    expect_error(
        NotFound, "NOT_FOUND", services.ownership_transfer, project=private, actor=UserFactory(), user_id=member.id
    )


def test_a_former_owner_holding_an_old_copy_cannot_transfer_again(project, owner):
    """The caller's role is checked on the locked row, not on whatever the caller loaded before."""
    first, second = add_member(project, "member"), add_member(project, "member")
    stale = Project.objects.get(pk=project.pk)
    services.ownership_transfer(project=project, actor=owner, user_id=first.id)
    expect_error(
        PermissionDenied,
        "PERMISSION_DENIED",
        services.ownership_transfer,
        project=stale,
        actor=owner,
        user_id=second.id,
    )
    assert roles(project) == {owner.id: "maintainer", first.id: "owner", second.id: "member"}


# --- applications -------------------------------------------------------------------------------------------


def test_application_submit_is_pending_and_recorded(project):
    applicant = UserFactory()
    application = services.application_submit(project=project, applicant=applicant, message="我想加入")
    application.refresh_from_db()
    assert (application.status, application.message, application.decided_by, application.decided_at) == (
        "pending",
        "我想加入",
        None,
        None,
    )
    event = the_event("application.submitted")
    assert (event.topic, event.subject_type, event.subject_id, event.actor_id) == (
        f"applications:{project.id}",
        "application",
        str(application.id),
        applicant.id,
    )
    assert event.payload == {
        "id": application.id,
        "project_id": project.id,
        "applicant_id": applicant.id,
        "status": "pending",
        "reason": "",
    }


@pytest.mark.parametrize("status", ["in_progress", "completed"])
def test_application_to_a_project_not_recruiting(project, status):
    Project.objects.filter(pk=project.pk).update(status=status)
    expect_error(
        ProjectNotRecruiting,
        "PROJECT_NOT_RECRUITING",
        services.application_submit,
        project=project,
        applicant=UserFactory(),
        message="",
    )


def test_application_status_is_read_from_the_database_not_the_callers_copy(project):
    Project.objects.filter(pk=project.pk).update(status="completed")
    assert project.status == "recruiting"
    with pytest.raises(ProjectNotRecruiting):
        services.application_submit(project=project, applicant=UserFactory(), message="")


def test_members_cannot_apply(project, owner):
    member = add_member(project, "mentor")
    for user in (owner, member):
        expect_error(
            AlreadyMember, "ALREADY_MEMBER", services.application_submit, project=project, applicant=user, message=""
        )


def test_one_pending_application_then_a_new_one_after_a_decision(project, owner):
    applicant = UserFactory()
    first = services.application_submit(project=project, applicant=applicant, message="1")
    expect_error(
        ApplicationAlreadyPending,
        "APPLICATION_ALREADY_PENDING",
        services.application_submit,
        project=project,
        applicant=applicant,
        message="2",
    )
    services.application_withdraw(application=first, actor=applicant)
    second = services.application_submit(project=project, applicant=applicant, message="3")
    services.application_reject(application=second, actor=owner, reason="")
    assert services.application_submit(project=project, applicant=applicant, message="4").status == "pending"


def test_application_message_too_long_is_invalid_input(project):
    expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.application_submit,
        project=project,
        applicant=UserFactory(),
        message="长" * 2001,
    )


@pytest.fixture
def application(project):
    return services.application_submit(project=project, applicant=UserFactory(), message="请让我加入")


def test_application_approve_makes_a_member_and_records_both_events(project, owner, application):
    maintainer = add_member(project, "maintainer")
    approved = services.application_approve(application=application, actor=maintainer, role="mentor")
    approved.refresh_from_db()
    assert approved.status == "approved" and approved.decided_by_id == maintainer.id and approved.decided_at
    assert roles(project)[application.applicant_id] == "mentor"
    assert member_count(project) == 3
    event = the_event("application.approved")
    assert (event.topic, event.subject_id, event.actor_id) == (
        f"applications:{project.id}",
        str(application.id),
        maintainer.id,
    )
    assert event.payload == {
        "id": application.id,
        "project_id": project.id,
        "applicant_id": application.applicant_id,
        "status": "approved",
        "reason": "",
    }
    added = the_event("member.added")
    assert added.payload == {"project_id": project.id, "user_id": application.applicant_id, "role": "mentor"}
    assert added.actor_id == maintainer.id


def test_application_approve_makes_a_member_by_default(owner, application, project):
    services.application_approve(application=application, actor=owner)
    assert roles(project)[application.applicant_id] == "member"


def test_application_approve_refreshes_the_list_totals(owner, application):
    applicant = application.applicant
    assert total(applicant, member="me") == 0
    services.application_approve(application=application, actor=owner)
    assert total(applicant, member="me") == 1


def test_application_approve_to_a_private_project_shows_it_to_the_new_member(owner):
    private = make_project(owner, visibility="private")
    application = services.application_submit(project=private, applicant=UserFactory(), message="")
    assert total(application.applicant) == 0
    services.application_approve(application=application, actor=owner)
    assert total(application.applicant) == 1


def test_application_approve_as_owner_is_refused_and_leaves_it_pending(owner, application, project):
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.application_approve, application=application, actor=owner, role="owner"
    )
    assert error.details["field"] == "role"
    application.refresh_from_db()
    assert application.status == "pending" and member_count(project) == 1


def test_application_approve_of_an_existing_member_is_already_member(owner, application, project):
    add_member(project, "member", user=application.applicant)
    expect_error(AlreadyMember, "ALREADY_MEMBER", services.application_approve, application=application, actor=owner)
    application.refresh_from_db()
    assert application.status == "pending"


def test_application_reject_records_the_reason(owner, application):
    rejected = services.application_reject(application=application, actor=owner, reason="名额已满")
    rejected.refresh_from_db()
    assert (rejected.status, rejected.decision_reason, rejected.decided_by_id) == ("rejected", "名额已满", owner.id)
    assert rejected.decided_at is not None
    assert not Membership.objects.filter(user=application.applicant).exists()
    event = the_event("application.rejected")
    assert (
        event.actor_id == owner.id and event.payload["status"] == "rejected" and event.payload["reason"] == "名额已满"
    )
    assert event.subject_id == str(application.id) and event.topic == f"applications:{application.project_id}"


def test_application_reject_reason_too_long_is_invalid_input(owner, application):
    expect_error(
        InvalidInput,
        "INVALID_INPUT",
        services.application_reject,
        application=application,
        actor=owner,
        reason="长" * 2001,
    )


def test_application_withdraw(application):
    applicant = application.applicant
    withdrawn = services.application_withdraw(application=application, actor=applicant)
    withdrawn.refresh_from_db()
    assert withdrawn.status == "withdrawn" and withdrawn.decided_at is not None and withdrawn.decided_by is None
    event = the_event("application.withdrawn")
    assert event.actor_id == applicant.id and event.payload["status"] == "withdrawn"
    assert event.topic == f"applications:{application.project_id}" and event.subject_id == str(application.id)


@pytest.mark.parametrize("decision", ["approve", "reject", "withdraw"])
def test_a_decided_application_cannot_be_decided_again(owner, application, decision):
    services.application_reject(application=application, actor=owner, reason="")
    call = {
        "approve": lambda: services.application_approve(application=application, actor=owner),
        "reject": lambda: services.application_reject(application=application, actor=owner, reason="again"),
        "withdraw": lambda: services.application_withdraw(application=application, actor=application.applicant),
    }[decision]
    expect_error(ApplicationNotPending, "APPLICATION_NOT_PENDING", call)
    application.refresh_from_db()
    assert application.status == "rejected" and application.decision_reason == ""


def test_a_stale_pending_copy_is_checked_against_the_database(owner, application):
    stale = Application.objects.get(pk=application.pk)
    services.application_withdraw(application=application, actor=application.applicant)
    assert stale.status == "pending"
    expect_error(
        ApplicationNotPending, "APPLICATION_NOT_PENDING", services.application_approve, application=stale, actor=owner
    )
    assert not Membership.objects.filter(user=application.applicant).exists()


# --- tag_rename ---------------------------------------------------------------------------------------------


def test_tag_rename_respells_the_tag_on_every_project(owner):
    first = make_project(owner, name="甲", tags=["ml", "视觉"])
    second = make_project(owner, name="乙", tags=["视觉", "ML"])  # the existing spelling: "ml"
    untouched = make_project(owner, name="丙", tags=["nlp"])
    admin = UserFactory(is_staff=True)
    tag = Tag.objects.get(name="ml")
    renamed = services.tag_rename(tag=tag, actor=admin, name="  Machine   Learning ")
    assert renamed.name == "Machine Learning" and Tag.objects.get(pk=tag.pk).name == "Machine Learning"
    for project in (first, second, untouched):
        project.refresh_from_db()
    assert first.tags == ["Machine Learning", "视觉"] and second.tags == ["视觉", "Machine Learning"]
    assert first.search_text == "甲 machine learning 视觉" and untouched.tags == ["nlp"]
    events = Event.objects.filter(type="project.updated").order_by("subject_id")
    assert [e.subject_id for e in events] == sorted([str(first.id), str(second.id)])
    assert all(e.payload["changed"] == ["tags"] and e.actor_id == admin.id for e in events)
    assert search("machine learning") == {first.id, second.id}


def test_tag_rename_refreshes_the_list_totals(owner):
    make_project(owner, tags=["ml"])
    assert total(None, tags=["ml"]) == 1 and total(None, tags=["deep"]) == 0
    services.tag_rename(tag=Tag.objects.get(name="ml"), actor=owner, name="deep")
    assert total(None, tags=["ml"]) == 0 and total(None, tags=["deep"]) == 1


def test_tag_rename_may_change_only_the_case(owner):
    project = make_project(owner, tags=["ml"])
    renamed = services.tag_rename(tag=Tag.objects.get(name="ml"), actor=owner, name="ML")
    project.refresh_from_db()
    assert renamed.name == "ML" and project.tags == ["ML"]
    assert the_event("project.updated").payload["tags"] == ["ML"]


def test_tag_rename_to_its_own_name_changes_nothing(owner):
    make_project(owner, tags=["ml"])
    tag = Tag.objects.get(name="ml")
    assert services.tag_rename(tag=tag, actor=owner, name=" ml ").name == "ml"
    assert not Event.objects.filter(type="project.updated").exists()


def test_tag_rename_refusals(owner):
    make_project(owner, tags=["ml", "nlp"])
    tag = Tag.objects.get(name="ml")
    for name in ("NLP", "   ", "x" * 51):
        error = expect_error(InvalidInput, "INVALID_INPUT", services.tag_rename, tag=tag, actor=owner, name=name)
        assert error.details["field"].split(".")[0] in {"name", "tags"}
    gone = Tag.objects.create(name="gone")
    Tag.objects.filter(pk=gone.pk).delete()
    expect_error(NotFound, "NOT_FOUND", services.tag_rename, tag=gone, actor=owner, name="back")
    assert Tag.objects.get(pk=tag.pk).name == "ml"


# --- after commit: the second generation bump and the live publish ------------------------------------------


def _writes(owner: Any, project: Project) -> dict[str, Any]:
    member = add_member(project, "member")
    private = make_project(owner, visibility="private")
    application = services.application_submit(project=project, applicant=UserFactory(), message="")
    return {
        "project_create": lambda: services.project_create(owner=owner, data={"name": "新项目"}),
        "project_update": lambda: services.project_update(project=project, actor=owner, data={"visibility": "private"}),
        "project_delete": lambda: services.project_delete(project=project, actor=owner),
        "member_add": lambda: services.member_add(project=private, actor=owner, user_id=member.id, role="member"),
        "member_remove": lambda: services.member_remove(project=project, actor=owner, user_id=member.id),
        "ownership_transfer": lambda: services.ownership_transfer(project=project, actor=owner, user_id=member.id),
        "application_approve": lambda: services.application_approve(application=application, actor=owner),
    }


WRITES = [
    "project_create",
    "project_update",
    "project_delete",
    "member_add",
    "member_remove",
    "ownership_transfer",
    "application_approve",
]
# A list each write changes, seen by the member (`member`) or by nobody in particular (None).
CHANGED_LIST = {
    "project_create": (None, {}),
    "project_update": (None, {}),
    "project_delete": (None, {}),
    "member_add": ("member", {}),
    "member_remove": ("member", {"member": "me"}),
    "ownership_transfer": (None, {"owner": "member"}),
    "application_approve": ("applicant", {"member": "me"}),
}


class Counted:
    """What a reader that does not see the write yet counts: the rows as they were."""

    def __init__(self, rows: int) -> None:
        self.rows = rows

    def count(self) -> int:
        return self.rows


@pytest.mark.parametrize("write", WRITES)
def test_a_total_counted_from_the_old_rows_under_the_new_token_is_dropped_at_commit(
    owner, project, django_capture_on_commit_callbacks, write
):
    """generation_bump bumps at once and again after commit: a reader that counted the rows before the write
    committed, under the token the write set first, must not keep its total past the commit."""
    calls = _writes(owner, project)
    member = Membership.objects.get(project=project, role="member").user
    who, filters = CHANGED_LIST[write]
    user = {None: None, "member": member, "applicant": Application.objects.get().applicant}[who]
    filters = {key: member.id if value == "member" else value for key, value in filters.items()}
    old_total = total(user, **filters)
    old_token = generation_get(selectors.LIST_GENERATION)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            calls[write]()
            assert generation_get(selectors.LIST_GENERATION) != old_token  # the first bump, at once
            # A concurrent reader, not seeing the write yet, counts the old rows under the token the write has
            # just set, and keeps that total under the list's own key.
            selectors.project_list_total(Counted(old_total), user=user, filters=filters)
            assert total(user, **filters) == old_total
    assert callbacks  # the commit ran the callbacks
    assert total(user, **filters) == selectors.project_list(user=user, filters=filters).count() != old_total


@pytest.fixture
def channel_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    return get_channel_layer()


def _listen(layer: Any, *groups: str) -> str:
    async def run() -> str:
        name = await layer.new_channel()
        for group in groups:
            await layer.group_add(group, name)
        return name

    return async_to_sync(run)()


def _received(layer: Any, channel: str) -> list[dict[str, Any]]:
    """Every message waiting on the channel (a marker sent last tells where they end)."""

    async def run() -> list[dict[str, Any]]:
        await layer.send(channel, {"type": "test.end"})
        messages = []
        while (message := await asyncio.wait_for(layer.receive(channel), timeout=2))["type"] != "test.end":
            messages.append(message)
        return messages

    return async_to_sync(run)()


@pytest.mark.parametrize("write", WRITES)
def test_events_are_published_live_after_commit_not_before(
    owner, project, channel_layer, django_capture_on_commit_callbacks, write
):
    calls = _writes(owner, project)
    Event.objects.all().delete()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        calls[write]()
    events = list(Event.objects.all())
    assert events
    # Each event goes to its topic's group ("project:12" -> "topic.project.12"), never to a global one.
    channel = _listen(channel_layer, *{topic_group(event.topic) for event in events})
    everything = _listen(channel_layer, "events")
    assert _received(channel_layer, channel) == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert _received(channel_layer, everything) == []
    published = {message["id"]: message for message in _received(channel_layer, channel)}
    assert set(published) == {event.id for event in events}
    for event in events:
        message = published[event.id]
        assert message["type"] == "event.message" and message["event_type"] == event.type
        assert message["topic"] == event.topic and message["data"] == event.payload
        assert message["ts"].endswith("Z")


def test_a_rolled_back_write_publishes_nothing(owner, project, channel_layer, django_capture_on_commit_callbacks):
    channel = _listen(channel_layer, topic_group(f"project:{project.pk}"))
    newcomer = UserFactory()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            services.member_add(project=project, actor=owner, user_id=newcomer.id, role="member")
            raise RuntimeError("the caller's transaction fails after the service")
    assert callbacks == []
    assert _received(channel_layer, channel) == []
    assert (
        not Membership.objects.filter(user=newcomer).exists() and not Event.objects.filter(type="member.added").exists()
    )


# --- behaviours found by mutation testing (make mutation) ---------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda o, p: services.tags_normalize("x"), "Expected a list of strings."),
        (lambda o, p: services.tags_normalize(["ok", 1]), "Each tag must be a string."),
        (lambda o, p: services.tags_normalize(["x" * 51]), "A tag has at most 50 characters."),
        (lambda o, p: services.tags_normalize([f"t{i}" for i in range(21)]), "At most 20 tags."),
        (
            lambda o, p: services.member_add(project=p, actor=o, user_id=999999, role="member"),
            "No active user with this id.",
        ),
        (
            lambda o, p: services.member_add(project=p, actor=o, user_id=UserFactory().id, role="owner"),
            "Use the ownership transfer to make someone the owner.",
        ),
        (
            lambda o, p: services.member_update(project=p, actor=o, user_id=add_member(p).id, role="owner"),
            "Use the ownership transfer to make someone the owner.",
        ),
        (
            lambda o, p: services.application_approve(
                application=services.application_submit(project=p, applicant=UserFactory(), message=""),
                actor=o,
                role="owner",
            ),
            "Use the ownership transfer to make someone the owner.",
        ),
        (lambda o, p: services.tag_rename(tag=Tag.objects.get(name="CV"), actor=o, name="  "), "A tag needs a name."),
        (
            lambda o, p: services.tag_rename(tag=Tag.objects.get(name="CV"), actor=o, name="机器学习"),
            "A tag with this name already exists.",
        ),
    ],
    ids=[
        "not-a-list",
        "not-a-string",
        "tag-too-long",
        "too-many-tags",
        "no-user",
        "add-owner",
        "make-owner",
        "approve-as-owner",
        "blank-tag",
        "tag-taken",
    ],
)
def test_invalid_input_says_what_is_wrong(owner, project, call, message):
    with translation.override("en"), pytest.raises(InvalidInput) as caught:
        call(owner, project)
    assert caught.value.details["message"] == message
    with translation.override("zh-hans"), pytest.raises(InvalidInput) as caught:
        call(owner, project)
    assert caught.value.details["message"] != message  # translated


def test_updating_tags_keeps_the_links_that_stay(owner):
    """Tag ids and link ids are made to differ, so the links kept are found by tag, not by their own id."""
    make_project(owner, tags=["a", "b", "c"])
    project = make_project(owner, tags=["c", "d"])
    services.project_update(project=project, actor=owner, data={"tags": ["d", "e", "c"]})
    links = ProjectTag.objects.filter(project=project)
    assert sorted(links.values_list("tag__name", flat=True)) == ["c", "d", "e"]


def test_a_tag_created_concurrently_is_reused(owner, monkeypatch):
    """Another request creates the tag (another spelling) after this one looked it up: it is reused."""
    Tag.objects.create(name="ML")
    lookup, calls = Tag.objects.filter, []

    def looked_up_before_it_existed(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return lookup(*args, **kwargs).none() if len(calls) == 1 else lookup(*args, **kwargs)

    monkeypatch.setattr(Tag.objects, "filter", looked_up_before_it_existed)
    project = make_project(owner, tags=["ml"])
    assert calls and project.tags == ["ML"] and list(Tag.objects.values_list("name", flat=True)) == ["ML"]
    assert list(project.tag_links.values_list("tag__name", flat=True)) == ["ML"]


@pytest.mark.parametrize("write", ["member_add", "member_remove", "application_approve"])
def test_membership_changes_touch_the_projects_updated_at(project, owner, write):
    member = add_member(project, "member")
    application = services.application_submit(project=project, applicant=UserFactory(), message="")
    old = datetime(2020, 1, 1, tzinfo=UTC)
    Project.objects.filter(pk=project.pk).update(updated_at=old)
    {
        "member_add": lambda: services.member_add(
            project=project, actor=owner, user_id=UserFactory().id, role="member"
        ),
        "member_remove": lambda: services.member_remove(project=project, actor=owner, user_id=member.id),
        "application_approve": lambda: services.application_approve(application=application, actor=owner),
    }[write]()
    assert Project.objects.get(pk=project.pk).updated_at > old


def test_transfer_to_a_member_of_another_project_is_not_a_member(project, owner):
    elsewhere = make_project(UserFactory())
    stranger = add_member(elsewhere, "member")
    expect_error(
        NotAMember, "NOT_A_MEMBER", services.ownership_transfer, project=project, actor=owner, user_id=stranger.id
    )
    assert roles(elsewhere)[stranger.id] == "member"


def test_project_delete_asks_about_the_work_under_this_project(project, owner, monkeypatch):
    other = make_project(owner)
    monkeypatch.setattr(services, "project_dependents", lambda project: ["datasets"] if project.pk == other.pk else [])
    maintainer = add_member(project, "maintainer")
    services.project_delete(project=project, actor=maintainer)  # nothing under this one
    add_member(other, "maintainer", user=maintainer)
    expect_error(PermissionDenied, "PERMISSION_DENIED", services.project_delete, project=other, actor=maintainer)


def test_updates_and_renames_are_project_events(owner, project):
    services.project_update(project=project, actor=owner, data={"name": "新名字"})
    services.tag_rename(tag=Tag.objects.get(name="CV"), actor=owner, name="Vision")
    events = Event.objects.filter(type="project.updated")
    assert [(e.subject_type, e.subject_id) for e in events] == [("project", str(project.id))] * 2


def test_tag_rename_refuses_to_leave_an_invalid_project_and_names_the_field(owner, project):
    Project.objects.filter(pk=project.pk).update(video_url="javascript:alert(1)")  # written around the services
    error = expect_error(
        InvalidInput, "INVALID_INPUT", services.tag_rename, tag=Tag.objects.get(name="CV"), actor=owner, name="Vision"
    )
    assert error.details["field"] == "video_url"
