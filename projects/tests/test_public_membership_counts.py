"""PublicMembershipCount: every service that changes who is in a public project counts the users it touches again,
so the stored counts always equal a count of the memberships themselves."""

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count

from accounts.tests.factories import UserFactory
from projects import services
from projects.models import Membership, PublicMembershipCount
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db


def counted() -> dict[int, int]:
    """Each user's public projects, counted from the memberships (users in none left out)."""
    rows = Membership.objects.filter(project__visibility="public").values("user_id").annotate(n=Count("pk"))
    return {row["user_id"]: row["n"] for row in rows}


def stored() -> dict[int, int]:
    return dict(PublicMembershipCount.objects.filter(count__gt=0).values_list("user_id", "count"))


def expect(counts: dict[Any, int]) -> None:
    """The stored counts are the counted ones, and those are `counts` (users by object)."""
    assert stored() == counted() == {user.pk: n for user, n in counts.items() if n}


def test_every_service_that_changes_a_public_membership_counts_its_users_again():
    alice, bob, carol, dave = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    open_project = make_project(alice, visibility="public")
    closed = make_project(bob, visibility="private")
    expect({alice: 1})

    services.member_add(project=open_project, actor=alice, user_id=carol.pk, role="member")
    services.member_add(project=closed, actor=bob, user_id=carol.pk, role="member")
    expect({alice: 1, carol: 1})

    application = services.application_submit(project=open_project, applicant=dave, message="")
    services.application_approve(application=application, actor=alice)
    expect({alice: 1, carol: 1, dave: 1})

    services.project_update(project=closed, actor=bob, data={"visibility": "public"})
    expect({alice: 1, bob: 1, carol: 2, dave: 1})

    services.member_remove(project=open_project, actor=alice, user_id=carol.pk)
    expect({alice: 1, bob: 1, carol: 1, dave: 1})

    services.project_update(project=closed, actor=bob, data={"visibility": "private"})
    expect({alice: 1, dave: 1})

    services.project_delete(project=open_project, actor=alice)
    expect({})


def test_a_count_changed_by_hand_is_right_again_after_the_users_next_change():
    owner, member = UserFactory(), UserFactory()
    project = make_project(owner, visibility="public")
    other = make_project(UserFactory(), visibility="public")
    services.member_add(project=project, actor=owner, user_id=member.pk, role="member")
    PublicMembershipCount.objects.filter(user=member).update(count=99)
    services.member_add(project=other, actor=other.owner, user_id=member.pk, role="member")
    assert stored()[member.pk] == 2


def test_a_deleted_user_takes_their_count_along():
    member = UserFactory()
    services.member_add(
        project=make_project(visibility="public"), actor=UserFactory(is_staff=True), user_id=member.pk, role="member"
    )
    member.delete()
    assert not PublicMembershipCount.objects.filter(user_id=member.pk).exists()


def test_the_recount_command_rebuilds_every_count_from_the_memberships():
    owner, member = UserFactory(), UserFactory()
    project = make_project(owner, visibility="public")
    make_project(member, visibility="private")
    Membership.objects.create(project=project, user=member)  # written without the services
    PublicMembershipCount.objects.filter(user=owner).update(count=7)
    PublicMembershipCount.objects.create(user=UserFactory(), count=5)  # in no public project at all
    out = io.StringIO()
    call_command("public_memberships_recount", stdout=out)
    assert out.getvalue() == "3 users counted again (their counts differed from their memberships)\n"
    expect({owner: 1, member: 1})


def test_a_batch_recounts_its_users_once_at_its_end_and_not_when_it_fails():
    owner, member = UserFactory(), UserFactory()
    first, second = make_project(owner, visibility="public"), make_project(owner, visibility="public")
    with transaction.atomic(), services.public_counts_batch():
        services.member_add(project=first, actor=owner, user_id=member.pk, role="member")
        with services.public_counts_batch():  # nested: the outer block recounts
            services.member_add(project=second, actor=owner, user_id=member.pk, role="member")
        assert member.pk not in stored()
    expect({owner: 2, member: 2})

    with pytest.raises(RuntimeError), transaction.atomic(), services.public_counts_batch():
        services.member_remove(project=first, actor=owner, user_id=member.pk)
        raise RuntimeError
    expect({owner: 2, member: 2})
