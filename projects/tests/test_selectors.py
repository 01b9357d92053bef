"""Reads on projects, against the database: who sees what, every list filter, exact cached totals for every caller
and filter (before and after writes), search, tags, members and applications."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.tests.factories import UserFactory
from incubator.errors import NotFound
from projects import selectors, services
from projects.models import Application, Membership, Project
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


def ids(queryset: Any) -> set[int]:
    return set(queryset.values_list("id", flat=True))


def total(user: Any, **filters: Any) -> int:
    return selectors.project_list_total(selectors.project_list(user=user, filters=filters), user=user, filters=filters)


@pytest.fixture
def world():
    """Three public projects, four private ones: A belongs to two of them, B to one, nobody else to the last."""
    a, b, admin = UserFactory(), UserFactory(), UserFactory(is_staff=True)
    o1, o2 = UserFactory(), UserFactory()
    p = {
        "pub1": make_project(o1, name="Alpha vision", status="recruiting", tags=["ml", "cv"], description="看图"),
        "pub2": make_project(o2, name="Beta text", status="in_progress", tags=["nlp"], description="问答"),
        "pub3": make_project(a, name="Gamma", status="completed", tags=["ml"]),
        "privA1": make_project(o1, name="Delta", visibility="private", tags=["ml"]),
        "privA2": make_project(o2, name="Epsilon", visibility="private", status="completed", tags=["cv", "nlp"]),
        "privB": make_project(o1, name="Zeta", visibility="private", status="in_progress", tags=["ml", "nlp"]),
        "privX": make_project(o2, name="Eta alpha", visibility="private", tags=["ml"]),
    }
    add_member(p["privA1"], "member", user=a)
    add_member(p["privA2"], "mentor", user=a)
    add_member(p["privB"], "maintainer", user=b)
    return {"a": a, "b": b, "admin": admin, "o1": o1, "o2": o2, "p": p}


def named(world: dict, *names: str) -> set[int]:
    return {world["p"][name].id for name in names}


# --- visibility ---------------------------------------------------------------------------------------------


def test_who_sees_what(world):
    visible = lambda user: ids(selectors.project_list(user=user))  # noqa: E731
    public = named(world, "pub1", "pub2", "pub3")
    assert visible(None) == visible(AnonymousUser()) == public
    assert visible(world["a"]) == public | named(world, "privA1", "privA2")
    assert visible(world["b"]) == public | named(world, "privB")
    assert visible(UserFactory()) == public
    assert visible(world["admin"]) == set(Project.objects.values_list("id", flat=True))
    assert ids(Project.objects.filter(selectors.project_visible_q(user=world["b"]))) == visible(world["b"])


def test_visibility_scopes_name_who_sees_the_same_projects(world):
    scope = lambda user: selectors.project_visibility_scope(user=user)  # noqa: E731
    assert scope(None) == scope(AnonymousUser())
    assert scope(world["admin"]) == scope(UserFactory(is_staff=True))
    assert len({scope(None), scope(world["a"]), scope(world["b"]), scope(world["admin"])}) == 4
    assert scope(world["a"]) == scope(type(world["a"]).objects.get(pk=world["a"].pk))


# --- exact totals -------------------------------------------------------------------------------------------

FILTER_SETS: list[dict[str, Any]] = [
    {},
    {"member": "me"},
    {"tags": ["ml"]},
    {"tags": ["nlp"]},
    {"tags": ["ML", "nlp"]},
    {"tags_all": ["ml", "nlp"]},
    {"tags_all": ["ml", "cv"]},
    {"status": ["recruiting"]},
    {"status": ["completed"]},
    {"status": ["in_progress", "completed"]},
    {"search": "alpha"},
    {"search": "a"},
    {"visibility": "private"},
    {"member": "me", "tags": ["ml"]},
    {"member": "me", "status": ["completed"]},
    {"tags": ["nlp"], "status": ["in_progress"]},
]


def assert_totals_exact(world: dict) -> None:
    """Every caller's cached total, for every filter set, equals a fresh COUNT of the same list."""
    callers = {"anonymous": None, "a": world["a"], "b": world["b"], "admin": world["admin"]}
    wrong = []
    for name, user in callers.items():
        for filters in FILTER_SETS:
            cached, fresh = total(user, **filters), selectors.project_list(user=user, filters=filters).count()
            if cached != fresh:
                wrong.append((name, filters, cached, fresh))
    assert wrong == []


def test_totals_differ_for_callers_who_see_different_private_projects(world):
    a, b = world["a"], world["b"]
    assert (total(a), total(b), total(None), total(world["admin"])) == (5, 4, 3, 7)
    assert (total(a, visibility="private"), total(b, visibility="private")) == (2, 1)
    assert (total(a, status=["completed"]), total(b, status=["completed"])) == (2, 1)
    assert (total(a, tags=["nlp"]), total(b, tags=["nlp"])) == (2, 2)
    assert (total(a, tags=["cv"]), total(b, tags=["cv"])) == (2, 1)
    assert (total(b), total(a)) == (4, 5)  # in the other order too


def test_member_and_tag_filters_have_their_own_totals(world):
    a = world["a"]
    assert total(a) == 5
    assert total(a, member="me") == 3
    assert total(a, tags=["ml"]) == 3
    assert total(a, tags=["nlp"]) == 2
    assert total(a, tags_all=["ml", "cv"]) == 1
    assert total(a, tags_all=["cv", "nlp"]) == 1
    assert total(a, member="me", tags=["ml"]) == 2
    assert total(a, status=["recruiting"]) == 2
    assert total(a, search="alpha") == 1
    assert total(None, member="me") == 3  # "me" means nothing to an anonymous caller


def test_totals_are_exact_for_every_caller_and_filter(world):
    assert_totals_exact(world)


def test_totals_stay_exact_for_every_caller_after_writes(world):
    a, b, o1, o2, p = world["a"], world["b"], world["o1"], world["o2"], world["p"]
    assert_totals_exact(world)
    services.member_add(project=p["privA1"], actor=o1, user_id=b.id, role="member")
    assert_totals_exact(world)
    services.project_update(project=p["pub2"], actor=o2, data={"tags": ["ml"], "status": "completed"})
    assert_totals_exact(world)
    services.project_create(owner=b, data={"name": "Alpha two", "tags": ["nlp", "cv"], "visibility": "private"})
    assert_totals_exact(world)
    application = services.application_submit(project=p["pub1"], applicant=a, message="")
    services.application_approve(application=application, actor=o1)
    assert_totals_exact(world)
    services.member_remove(project=p["privA2"], actor=a, user_id=a.id)
    assert_totals_exact(world)
    services.ownership_transfer(project=p["privB"], actor=o1, user_id=b.id)
    services.project_update(project=p["privX"], actor=o2, data={"visibility": "public", "name": "Eta"})
    assert_totals_exact(world)
    services.project_delete(project=p["pub3"], actor=a)
    assert_totals_exact(world)
    assert (total(a), total(b), total(None)) == (4, 6, 3)


# --- filters ------------------------------------------------------------------------------------------------


def test_status_visibility_owner_and_member_filters(world):
    a, o1, p = world["a"], world["o1"], world["p"]
    listed = lambda **filters: ids(selectors.project_list(user=a, filters=filters))  # noqa: E731
    assert listed() == named(world, "pub1", "pub2", "pub3", "privA1", "privA2")
    assert listed(status=["completed"]) == named(world, "pub3", "privA2")
    assert listed(status=["recruiting", "in_progress"]) == named(world, "pub1", "pub2", "privA1")
    assert listed(visibility="private") == named(world, "privA1", "privA2")
    assert listed(visibility="public") == named(world, "pub1", "pub2", "pub3")
    assert listed(owner=o1.id) == named(world, "pub1", "privA1")
    assert listed(member="me") == named(world, "pub3", "privA1", "privA2")
    assert listed(member="someone") == listed()
    assert listed(status=[], tags=[], tags_all=[], search="") == listed()
    anonymous = ids(selectors.project_list(user=None, filters={"member": "me"}))
    assert anonymous == named(world, "pub1", "pub2", "pub3")
    assert p["privX"].id not in ids(selectors.project_list(user=a, filters={"owner": world["o2"].id}))


def test_tag_filters_any_and_all_case_insensitive(world):
    listed = lambda **filters: ids(selectors.project_list(user=world["admin"], filters=filters))  # noqa: E731
    assert listed(tags=["CV"]) == named(world, "pub1", "privA2")
    assert listed(tags=["cv", "NLP"]) == named(world, "pub1", "pub2", "privA2", "privB")
    assert listed(tags_all=["ML", "nlp"]) == named(world, "privB")
    assert listed(tags_all=["cv"], tags=["ml"]) == named(world, "pub1")
    assert listed(tags=["unknown"]) == set()
    assert listed(tags_all=["ml", "unknown"]) == set()


def test_chinese_tags_match_as_given(make_user):
    project = make_project(make_user(), tags=["机器学习"])
    assert ids(selectors.project_list(user=None, filters={"tags": ["机器学习"]})) == {project.id}
    assert ids(selectors.project_list(user=None, filters={"tags": ["机器"]})) == set()


def test_created_after_is_inclusive_and_created_before_exclusive(make_user):
    owner = make_user()
    base = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    projects = [make_project(owner, name=f"p{i}") for i in range(3)]
    for i, project in enumerate(projects):
        Project.objects.filter(pk=project.pk).update(created_at=base + timedelta(days=i))
    listed = lambda **filters: ids(selectors.project_list(user=None, filters=filters))  # noqa: E731
    first, second, third = (p.id for p in projects)
    assert listed(created_after=base + timedelta(days=1)) == {second, third}
    assert listed(created_before=base + timedelta(days=1)) == {first}
    assert listed(created_after=base, created_before=base + timedelta(days=2)) == {first, second}
    assert listed(created_after=base + timedelta(days=3)) == set()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("alpha", {"pub1"}),
        ("ALPHA   Vision", {"pub1"}),
        ("  vision ", {"pub1"}),
        pytest.param("看图", {"pub1"}, id="look-zh"),
        pytest.param("问答", {"pub2"}, id="qa-zh"),
        ("NLP", {"pub2"}),
        ("gamma", {"pub3"}),
        ("", {"pub1", "pub2", "pub3"}),
        pytest.param("   ", {"pub1", "pub2", "pub3"}, id="blank"),
        ("nothing-like-it", set()),
    ],
)
def test_search_matches_name_tags_and_description(world, query, expected):
    assert ids(selectors.project_list(user=None, filters={"search": query})) == named(world, *expected)


def test_search_only_finds_visible_projects(world):
    assert ids(selectors.project_list(user=None, filters={"search": "eta"})) == named(world, "pub2")
    assert named(world, "privX") <= ids(selectors.project_list(user=world["admin"], filters={"search": "eta alpha"}))


def test_normalize_search():
    assert selectors.normalize_search("  Deep \t LEARNING\n ") == "deep learning"
    assert selectors.normalize_search("x" * 150) == "x" * 100
    assert selectors.normalize_search("   ") == ""


def test_search_reads_at_most_100_characters(make_user):
    project = make_project(make_user(), name="y" * 100)
    assert ids(selectors.project_list(user=None, filters={"search": "y" * 100 + "zzz"})) == {project.id}


# --- one project --------------------------------------------------------------------------------------------


def test_project_find_loads_the_owner(world, django_assert_num_queries):
    project = world["p"]["pub1"]
    with django_assert_num_queries(1):
        found = selectors.project_find(project_id=project.id)
        assert found.owner.username == world["o1"].username


def test_project_find_unknown_is_not_found():
    with pytest.raises(NotFound) as caught:
        selectors.project_find(project_id=999999)
    assert caught.value.error_code == "NOT_FOUND"


def test_project_row_of_is_the_row_a_list_reads(world):
    project = selectors.project_find(project_id=world["p"]["privA2"].id)
    row = Project.objects.filter(pk=project.pk).values_list(*selectors.PROJECT_ROW_FIELDS, named=True).get()
    assert selectors.project_row_of(project) == tuple(row)
    assert selectors.project_row_of(project).owner__username == world["o2"].username


# --- tags ---------------------------------------------------------------------------------------------------


def test_tag_list_counts_visible_projects_most_popular_first(world):
    counts = lambda user, prefix="": [  # noqa: E731
        (t.name, t.project_count) for t in selectors.tag_list(user=user, prefix=prefix)
    ]
    assert counts(None) == [("ml", 2), ("cv", 1), ("nlp", 1)]
    assert counts(world["a"]) == [("ml", 3), ("cv", 2), ("nlp", 2)]
    assert counts(world["admin"]) == [("ml", 5), ("nlp", 3), ("cv", 2)]
    assert counts(world["a"], " N") == [("nlp", 2)]
    assert counts(None, "zz") == []


def test_tag_list_leaves_out_tags_of_invisible_projects(make_user):
    make_project(make_user(), tags=["秘密"], visibility="private")
    assert [t.name for t in selectors.tag_list(user=None)] == []


# --- members and applications -------------------------------------------------------------------------------


def test_member_list_is_the_projects_members(world):
    members = selectors.member_list(project=world["p"]["privA1"])
    assert {(m.user_id, m.role) for m in members} == {(world["o1"].id, "owner"), (world["a"].id, "member")}


def test_application_list_newest_first_then_by_id(world):
    p, a, b = world["p"], world["a"], world["b"]
    base = datetime(2026, 1, 1, tzinfo=UTC)
    older = Application.objects.create(project=p["pub2"], applicant=a)
    newest = Application.objects.create(project=p["pub1"], applicant=b)
    tie_low = Application.objects.create(project=p["pub1"], applicant=a, status="rejected")
    tie_high = Application.objects.create(project=p["pub2"], applicant=b)
    for application, days in ((older, 0), (newest, 3), (tie_low, 1), (tie_high, 1)):
        Application.objects.filter(pk=application.pk).update(created_at=base + timedelta(days=days))
    order = lambda **kw: [x.id for x in selectors.application_list(**kw)]  # noqa: E731
    assert order() == [newest.id, tie_high.id, tie_low.id, older.id]
    assert order(project=p["pub1"]) == [newest.id, tie_low.id]
    assert order(applicant=a) == [tie_low.id, older.id]
    assert order(status="pending") == [newest.id, tie_high.id, older.id]
    assert order(project=p["pub2"], applicant=b, status="pending") == [tie_high.id]
    assert order(status="") == order()


def test_application_get_only_within_its_project(world):
    p = world["p"]
    application = Application.objects.create(project=p["pub1"], applicant=world["a"])
    assert selectors.application_get(project=p["pub1"], application_id=application.id) == application
    for project, application_id in ((p["pub2"], application.id), (p["pub1"], 999999)):
        with pytest.raises(NotFound) as caught:
            selectors.application_get(project=project, application_id=application_id)
        assert caught.value.error_code == "NOT_FOUND"


def test_project_access_is_reexported(world):
    access = selectors.project_access(project=world["p"]["privA1"], user=world["a"])
    assert access.role == Membership.Role.MEMBER and access.can_read


def test_an_applicants_list_says_which_projects_they_still_see(world):
    a, p = world["a"], world["p"]
    public = Application.objects.create(project=p["pub1"], applicant=a)
    went_private = Application.objects.create(project=p["privX"], applicant=a, status="withdrawn")
    member_of = Application.objects.create(project=p["privA1"], applicant=a, status="approved")
    seen = {x.id: x.project_visible for x in selectors.application_list(applicant=a)}
    assert seen == {public.id: True, went_private.id: False, member_of.id: True}


# --- behaviours found by mutation testing (make mutation) ---------------------------------------------------


def test_tag_list_without_a_prefix_and_ties_by_name(make_user):
    owner = make_user()
    make_project(owner, tags=["zeta", "alpha"])  # zeta first: ties must come back by name, not by creation
    make_project(owner, tags=["mid", "zeta", "alpha"])
    assert [(t.name, t.project_count) for t in selectors.tag_list(user=None)] == [
        ("alpha", 2),
        ("zeta", 2),
        ("mid", 1),
    ]


def test_lists_of_members_and_applications_load_their_people_in_one_query(world, django_assert_num_queries):
    p = world["p"]
    for project in (p["pub1"], p["pub2"]):
        for _ in range(3):
            Application.objects.create(project=project, applicant=UserFactory(), decided_by=world["o1"])
        add_member(project, "member")
    with django_assert_num_queries(1):
        names = [(a.applicant.username, a.project.name, a.decided_by.username) for a in selectors.application_list()]
        assert len(names) == 6
    with django_assert_num_queries(1):
        assert len([m.user.username for m in selectors.member_list(project=p["pub1"])]) == 2
    application = Application.objects.filter(project=p["pub1"]).first()
    with django_assert_num_queries(1):
        found = selectors.application_get(project=p["pub1"], application_id=application.id)
        assert found.applicant.username
