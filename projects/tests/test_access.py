"""The one access policy: every POLICY action for every kind of caller on a public and a private project, as one
table written out by hand, so that changing any cell of POLICY (or of ProjectAccess.allows) fails here."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.tests.factories import UserFactory
from incubator.errors import NotFound, PermissionDenied
from projects.access import (
    MEMBERS,
    POLICY,
    ProjectAccess,
    ProjectRowLookup,
    access_require,
    project_access,
)
from projects.models import Project
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db

CALLERS = ["anonymous", "none", "mentor", "member", "maintainer", "owner", "admin"]

# Y: allowed. -: refused, the caller sees the project (403). 0: refused, and the project does not exist for the
# caller (404). SUBJECT actions are read twice: about the caller themselves (self) and about someone else
# (other); they are personal, so allowed even where the project is no longer visible (an applicant withdrawing
# from a project that went private). "none" is a logged-in non-member; "admin" is staff and not a member.
#
#                                 public                  private
#                                 an no me mb ma ow ad    an no me mb ma ow ad
EXPECTED = """
project.read                      Y  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
project.update                    -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
project.delete                    -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
project.delete_with_work          -  -  -  -  -  Y  Y     0  0  -  -  -  Y  Y
project.transfer_ownership        -  -  -  -  -  Y  Y     0  0  -  -  -  Y  Y
member.list                       Y  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
member.add                        -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
member.update                     -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
member.remove                     -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
member.leave/self                 -  Y  Y  Y  Y  Y  Y     0  Y  Y  Y  Y  Y  Y
member.leave/other                -  -  -  -  -  -  -     0  0  -  -  -  -  -
application.list                  -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
application.submit                -  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
application.decide                -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
application.withdraw/self         -  Y  Y  Y  Y  Y  Y     0  Y  Y  Y  Y  Y  Y
application.withdraw/other        -  -  -  -  -  -  -     0  0  -  -  -  -  -
dataset.read                      Y  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
dataset.create                    -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
dataset.update                    -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
dataset.delete                    -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
job.read                          Y  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
job.create                        -  -  -  Y  Y  Y  Y     0  0  -  Y  Y  Y  Y
job.cancel                        -  -  -  Y  Y  Y  Y     0  0  -  Y  Y  Y  Y
model.read                        Y  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
model.create                      -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
model.update                      -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
model.delete                      -  -  -  -  Y  Y  Y     0  0  -  -  Y  Y  Y
model.predict                     -  Y  Y  Y  Y  Y  Y     0  0  Y  Y  Y  Y  Y
"""


def _expected() -> dict[tuple[str, str, str], str]:
    table = {}
    for line in EXPECTED.strip().splitlines():
        action, *cells = line.split()
        assert len(cells) == 2 * len(CALLERS), line
        for index, cell in enumerate(cells):
            visibility = "public" if index < len(CALLERS) else "private"
            table[(action, visibility, CALLERS[index % len(CALLERS)])] = cell
    return table


@pytest.fixture
def callers():
    """A public and a private project with the same community, and a user of every kind."""
    owner = UserFactory()
    projects = {"public": make_project(owner), "private": make_project(owner, visibility="private")}
    users = {"anonymous": AnonymousUser(), "none": UserFactory(), "owner": owner, "admin": UserFactory(is_staff=True)}
    for role in ("mentor", "member", "maintainer"):
        users[role] = add_member(projects["public"], role)
        add_member(projects["private"], role, user=users[role])
    return projects, users


def _outcome(access: ProjectAccess, action: str, subject_id: int | None) -> str:
    """What ProjectActionPermission answers: allowed, else 404 to whoever cannot see the project, else 403."""
    if access.allows(action, subject_id=subject_id):
        return "Y"
    return "-" if access.can_read else "0"


def test_the_policy_matrix(callers):
    projects, users = callers
    other = UserFactory()
    actual = {}
    for visibility, project in projects.items():
        for caller, user in users.items():
            access = project_access(project=project, user=user)
            for action, rule in POLICY.items():
                if rule == "subject":
                    actual[(f"{action}/self", visibility, caller)] = _outcome(access, action, access.user_id)
                    actual[(f"{action}/other", visibility, caller)] = _outcome(access, action, other.id)
                else:
                    actual[(action, visibility, caller)] = _outcome(access, action, None)
    expected = _expected()
    assert set(actual) == set(expected)  # every action of POLICY is in the table, and nothing else
    wrong = {key: (actual[key], expected[key]) for key in expected if actual[key] != expected[key]}
    assert wrong == {}


def test_access_require_raises_what_the_matrix_says(callers):
    """Services re-check with access_require (a transfer, a delete with work under it): None when allowed,
    NotFound (404) to whoever cannot see the project, PermissionDenied (403) to the others."""
    projects, users = callers
    expected = _expected()
    for visibility, project in projects.items():
        for caller, user in users.items():
            access = project_access(project=project, user=user)
            for action, rule in POLICY.items():
                if rule == "subject":
                    continue
                cell = expected[(action, visibility, caller)]
                if cell == "Y":
                    assert access_require(access, action) is None
                    continue
                error_class, code = (NotFound, "NOT_FOUND") if cell == "0" else (PermissionDenied, "PERMISSION_DENIED")
                with pytest.raises(error_class) as caught:
                    access_require(access, action)
                assert type(caught.value) is error_class and caught.value.error_code == code, (action, caller)


def test_no_subject_is_no_one(callers):
    projects, users = callers
    for user in users.values():
        access = project_access(project=projects["public"], user=user)
        assert not access.allows("member.leave", subject_id=None)
        assert not access.allows("application.withdraw")


def test_the_members_rule(callers, monkeypatch):
    """MEMBERS (any role) is part of the policy language though no action uses it yet."""
    monkeypatch.setitem(POLICY, "test.members", MEMBERS)
    projects, users = callers
    allowed = {
        (visibility, caller)
        for visibility, project in projects.items()
        for caller, user in users.items()
        if project_access(project=project, user=user).allows("test.members")
    }
    expected_callers = {"mentor", "member", "maintainer", "owner", "admin"}
    assert allowed == {(visibility, caller) for visibility in projects for caller in expected_callers}


def test_project_access_reads_role_admin_and_visibility(callers, django_assert_num_queries):
    projects, users = callers
    with django_assert_num_queries(0):
        anonymous = project_access(project=projects["private"], user=users["anonymous"])
    assert anonymous == ProjectAccess(user_id=None, role=None, is_admin=False, is_public=False)
    with django_assert_num_queries(1):
        mentor = project_access(project=projects["public"], user=users["mentor"])
    assert mentor == ProjectAccess(user_id=users["mentor"].id, role="mentor", is_admin=False, is_public=True)
    admin = project_access(project=projects["private"], user=users["admin"])
    assert admin == ProjectAccess(user_id=users["admin"].id, role=None, is_admin=True, is_public=False)
    assert project_access(project=projects["public"], user=None).user_id is None
    assert project_access(project=projects["private"], user=users["owner"]).role == "owner"


PROJECTS = ProjectRowLookup(Project, lambda pk: Project.objects.filter(pk=pk), project="pk")


def test_a_project_loaded_with_the_callers_role_answers_without_a_query(callers, django_assert_num_queries):
    """ProjectRowLookup brings the role in the project's own query; project_access trusts it only for the user
    it was loaded for, so an object passed on to another caller's check cannot lend its role."""
    projects, users = callers
    for visibility, project in projects.items():
        for caller, user in users.items():
            expected = project_access(project=project, user=user)
            with django_assert_num_queries(1):
                loaded = PROJECTS.first(user, pk=project.pk)
                assert project_access(project=loaded, user=user) == expected, (visibility, caller)
            for other in ("none", "owner"):
                if other != caller:
                    with django_assert_num_queries(1):
                        role = project_access(project=loaded, user=users[other]).role
                    assert role == ("owner" if other == "owner" else None)


def test_a_row_under_a_project_carries_the_role_to_it(callers, django_assert_num_queries):
    from datasets.models import Dataset

    projects, users = callers
    dataset = Dataset.objects.create(project=projects["private"], name="数据", created_by=users["owner"])
    datasets = ProjectRowLookup(
        Dataset, lambda pk: Dataset.objects.select_related("project").filter(pk=pk), project="project"
    )
    for caller in ("mentor", "none", "admin", "anonymous"):
        with django_assert_num_queries(1):
            found = datasets.first(users[caller], pk=dataset.pk)
            access = project_access(project=found.project, user=users[caller])
        assert access == project_access(project=projects["private"], user=users[caller]), caller
    assert datasets.first(users["mentor"], pk=dataset.pk).project.caller_role == "mentor"
    assert datasets.first(users["mentor"], pk=dataset.pk + 1) is None


@pytest.mark.parametrize(
    ("access", "can_read", "owner_or_admin"),
    [
        (ProjectAccess(user_id=None, role=None, is_admin=False, is_public=True), True, False),
        (ProjectAccess(user_id=None, role=None, is_admin=False, is_public=False), False, False),
        (ProjectAccess(user_id=1, role="mentor", is_admin=False, is_public=False), True, False),
        (ProjectAccess(user_id=1, role="owner", is_admin=False, is_public=False), True, True),
        (ProjectAccess(user_id=1, role="maintainer", is_admin=False, is_public=True), True, False),
        (ProjectAccess(user_id=1, role=None, is_admin=True, is_public=False), True, True),
    ],
)
def test_access_properties(access, can_read, owner_or_admin):
    assert access.can_read is can_read and access.is_owner_or_admin is owner_or_admin


def test_a_staff_member_is_an_admin_whatever_their_role(callers):
    """A staff user who is also a member with a small role: the admin flag decides."""
    projects, users = callers
    add_member(projects["private"], "mentor", user=users["admin"])
    access = project_access(project=projects["private"], user=users["admin"])
    assert access.is_admin and access.role == "mentor"
    assert access.allows("project.delete_with_work") and access.allows("application.decide")
