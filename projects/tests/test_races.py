"""Concurrent writes on PostgreSQL, each thread on its own connection: the row locks (select_for_update) and the
constraints the services rely on keep one winner and the counts right. SQLite serializes writers, so these only
mean something on PostgreSQL.

Where a lock is what decides, the service is slowed down right after it has read what it checks (a short sleep in
a wrapper), so without the lock every thread would read the same state: the test fails every time, not once in a
while, when the lock is gone."""

import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib import admin
from django.db import connection

from accounts.tests.factories import UserFactory
from incubator.errors import PermissionDenied
from incubator.events.models import Event
from projects import services
from projects.admin import MembershipAdmin, ProjectAdmin
from projects.errors import AlreadyMember, ApplicationAlreadyPending, ApplicationNotPending
from projects.models import Application, Membership, Project, PublicMembershipCount
from projects.tests.factories import make_project

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PAUSE = 0.2  # long enough for every thread to reach the same point when nothing serializes them


def race(actions: list[Callable[[], Any]]) -> list[Any]:
    """Run each action in its own thread, all released together; the results, or the exceptions raised."""
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = actions[index]()
        except Exception as exc:  # noqa: BLE001 - what each thread got is what the test inspects
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def slowed_after(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        time.sleep(PAUSE)
        return result

    return wrapper


def slowed_before(function: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        time.sleep(PAUSE)
        return function(*args, **kwargs)

    return wrapper


def kinds(results: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        name = type(result).__name__
        counts[name] = counts.get(name, 0) + 1
    return counts


def member_count(project: Project) -> int:
    return Project.objects.values_list("member_count", flat=True).get(pk=project.pk)


def test_twenty_approvals_of_one_application_make_one_member(monkeypatch):
    """The application row lock: the first approval decides it, the 19 others find it decided (409
    APPLICATION_NOT_PENDING), never a second membership attempt (ALREADY_MEMBER)."""
    owner, applicant = UserFactory(), UserFactory()
    project = make_project(owner)
    application = services.application_submit(project=project, applicant=applicant, message="")
    monkeypatch.setattr(services, "_application_locked", slowed_after(services._application_locked))
    results = race([lambda: services.application_approve(application=application, actor=owner)] * 20)
    assert kinds(results) == {"Application": 1, "ApplicationNotPending": 19}, results
    assert all(r.error_code == "APPLICATION_NOT_PENDING" for r in results if isinstance(r, ApplicationNotPending))
    assert Membership.objects.filter(project=project, user=applicant).count() == 1
    assert member_count(project) == 2 == Membership.objects.filter(project=project).count()
    assert Application.objects.get(pk=application.pk).status == "approved"
    assert Event.objects.filter(type="application.approved", topic__startswith="applications:").count() == 1
    assert Event.objects.filter(type="member.added").count() == 1


def test_an_approval_and_a_rejection_at_once_decide_once(monkeypatch):
    owner, applicant = UserFactory(), UserFactory()
    project = make_project(owner)
    application = services.application_submit(project=project, applicant=applicant, message="")
    monkeypatch.setattr(services, "_application_locked", slowed_after(services._application_locked))
    results = race(
        [
            lambda: services.application_approve(application=application, actor=owner),
            lambda: services.application_reject(application=application, actor=owner, reason="名额已满"),
        ]
    )
    assert kinds(results) == {"Application": 1, "ApplicationNotPending": 1}, results
    status = Application.objects.get(pk=application.pk).status
    is_member = Membership.objects.filter(project=project, user=applicant).exists()
    assert (status, is_member) in {("approved", True), ("rejected", False)}
    assert member_count(project) == (2 if is_member else 1)


def test_the_same_user_added_at_once_is_one_membership():
    """membership_unique decides: one add wins, the others are ALREADY_MEMBER and count nothing."""
    owner, newcomer = UserFactory(), UserFactory()
    project = make_project(owner)
    results = race([lambda: services.member_add(project=project, actor=owner, user_id=newcomer.id, role="member")] * 10)
    assert kinds(results) == {"Membership": 1, "AlreadyMember": 9}, results
    assert all(r.error_code == "ALREADY_MEMBER" for r in results if isinstance(r, AlreadyMember))
    assert Membership.objects.filter(project=project, user=newcomer).count() == 1
    assert member_count(project) == 2
    assert Event.objects.filter(type="member.added").count() == 1


def test_members_added_at_once_are_all_counted():
    """member_count moves by an UPDATE ... SET member_count = member_count + 1, never read-modify-write."""
    owner = UserFactory()
    project = make_project(owner)
    newcomers = [UserFactory() for _ in range(10)]
    actions = [
        (lambda user=user: services.member_add(project=project, actor=owner, user_id=user.id, role="member"))
        for user in newcomers
    ]
    results = race(actions)
    assert kinds(results) == {"Membership": 10}, results
    assert member_count(project) == 11 == Membership.objects.filter(project=project).count()


def test_ten_transfers_from_the_owner_at_once_make_one_owner(monkeypatch):
    """The project row lock and the re-check of the caller's role under it: only a transfer made while the
    caller is still the owner goes through; the nine others are refused (403), none fails half-way."""
    owner = UserFactory()
    project = make_project(owner)
    members = [UserFactory() for _ in range(10)]
    for user in members:
        services.member_add(project=project, actor=owner, user_id=user.id, role="member")
    monkeypatch.setattr(services, "access_require", slowed_after(services.access_require))
    actions = [
        (lambda user=user: services.ownership_transfer(project=project, actor=owner, user_id=user.id))
        for user in members
    ]
    results = race(actions)
    assert kinds(results) == {"Project": 1, "PermissionDenied": 9}, results
    assert all(r.error_code == "PERMISSION_DENIED" for r in results if isinstance(r, PermissionDenied))
    winner = next(r for r in results if isinstance(r, Project)).owner_id
    owners = list(Membership.objects.filter(project=project, role="owner").values_list("user_id", flat=True))
    assert owners == [winner] == [Project.objects.get(pk=project.pk).owner_id]
    assert Membership.objects.get(project=project, user=owner).role == "maintainer"
    assert Membership.objects.filter(project=project, role="member").count() == 9
    assert Event.objects.filter(type="project.ownership_transferred").count() == 1


def test_the_same_user_applying_at_once_leaves_one_pending():
    """application_one_pending (and the project row lock, which queues them) decide: one pending application,
    the others APPLICATION_ALREADY_PENDING."""
    owner, applicant = UserFactory(), UserFactory()
    project = make_project(owner)
    results = race([lambda: services.application_submit(project=project, applicant=applicant, message="")] * 10)
    assert kinds(results) == {"Application": 1, "ApplicationAlreadyPending": 9}, results
    assert all(
        r.error_code == "APPLICATION_ALREADY_PENDING" for r in results if isinstance(r, ApplicationAlreadyPending)
    )
    assert Application.objects.filter(project=project, applicant=applicant, status="pending").count() == 1


def test_an_application_and_an_invitation_at_once_leave_nothing_pending(monkeypatch):
    """application_submit locks the project row before it checks the membership, and member_add's count update
    waits for that lock: either the application sees the membership (409 ALREADY_MEMBER), or the invitation
    sees the application and settles it. Never a member with a pending application."""
    owner, user = UserFactory(), UserFactory()
    project = make_project(owner)
    # The application is written (Model.save, however the service builds it) a while after the checks.
    monkeypatch.setattr(Application, "save", slowed_before(Application.save))

    def invite() -> Any:
        time.sleep(PAUSE / 4)  # the application has checked the membership and is about to write
        return services.member_add(project=project, actor=owner, user_id=user.id, role="member")

    results = race([lambda: services.application_submit(project=project, applicant=user, message=""), invite])
    assert isinstance(results[1], Membership), results
    assert isinstance(results[0], Application | AlreadyMember), results
    assert not Application.objects.filter(project=project, applicant=user, status="pending").exists()
    assert member_count(project) == 2


def public_count(user: Any) -> int:
    return PublicMembershipCount.objects.filter(user=user).values_list("count", flat=True).first() or 0


def test_one_user_added_to_four_public_projects_at_once_is_counted_in_four(monkeypatch):
    # Every transaction reaches the recount at the same moment: without the lock on the user's count, each would
    # count its own new membership only.
    monkeypatch.setattr(services, "_public_counts_recount", slowed_before(services._public_counts_recount))
    user = UserFactory()
    projects = [make_project(visibility="public") for _ in range(4)]
    results = race(
        [lambda p=p: services.member_add(project=p, actor=p.owner, user_id=user.pk, role="member") for p in projects]
    )
    assert kinds(results) == {"Membership": 4}
    assert public_count(user) == 4


def test_members_added_while_the_project_turns_public_are_counted(monkeypatch):
    # The visibility change holds the project while it counts its members; an addition waits for it (its update of
    # the project's member count), so it is either counted by the change or counts the project as public itself.
    monkeypatch.setattr(services, "_public_counts_recount", slowed_before(services._public_counts_recount))
    project = make_project(visibility="private")
    users = [UserFactory() for _ in range(3)]
    results = race(
        [
            lambda: services.project_update(project=project, actor=project.owner, data={"visibility": "public"}),
            *[
                lambda u=u: services.member_add(project=project, actor=project.owner, user_id=u.pk, role="member")
                for u in users
            ],
        ]
    )
    assert kinds(results) == {"Project": 1, "Membership": 3}
    assert [public_count(user) for user in [project.owner, *users]] == [1, 1, 1, 1]


def _staff_request() -> Any:
    return SimpleNamespace(user=UserFactory(is_staff=True, is_superuser=True))


def _bulk_deletes_race(request, admin_class, model, *id_groups: list[int]) -> bool:
    """The admin's bulk delete of each group of rows, all at once; True when every one finished."""
    model_admin = admin_class(model, admin.site)

    def bulk(ids: list[int]) -> str:
        model_admin.delete_queryset(request, model.objects.filter(pk__in=ids).order_by("pk"))
        return "done"

    return race([lambda ids=ids: bulk(ids) for ids in id_groups]) == ["done"] * len(id_groups)


def test_two_admin_bulk_removals_sharing_users_do_not_deadlock(monkeypatch):
    # Four projects, two users, each bulk removal crossing them in the other order: recounting after each removal
    # locked user 1 then 2 in one transaction, 2 then 1 in the other (found by a review; deadlocked every time).
    request = _staff_request()
    u1, u2 = UserFactory(), UserFactory()
    p1, p2, p3, p4 = (make_project(visibility="public") for _ in range(4))
    add = services.member_add
    m11, m22 = (add(project=p, actor=request.user, user_id=u.pk, role="member") for p, u in ((p1, u1), (p2, u2)))
    m32, m41 = (add(project=p, actor=request.user, user_id=u.pk, role="member") for p, u in ((p3, u2), (p4, u1)))
    monkeypatch.setattr(services, "member_remove", slowed_after(services.member_remove))
    assert _bulk_deletes_race(request, MembershipAdmin, Membership, [m11.pk, m22.pk], [m32.pk, m41.pk])
    assert (public_count(u1), public_count(u2)) == (0, 0)


def test_two_admin_bulk_project_deletions_sharing_members_do_not_deadlock(monkeypatch):
    request = _staff_request()
    u1, u2 = UserFactory(), UserFactory()
    pa, pb, pc, pd = (make_project(visibility="public") for _ in range(4))
    for project, user in ((pa, u1), (pb, u2), (pc, u2), (pd, u1)):
        services.member_add(project=project, actor=request.user, user_id=user.pk, role="member")
    monkeypatch.setattr(services, "project_delete", slowed_after(services.project_delete))
    assert _bulk_deletes_race(request, ProjectAdmin, Project, [pa.pk, pb.pk], [pc.pk, pd.pk])
    assert (public_count(u1), public_count(u2)) == (0, 0)
