from typing import Any

from accounts.models import User
from accounts.tests.factories import UserFactory
from projects import services
from projects.models import Membership, Project


def make_project(owner: User | None = None, **data: Any) -> Project:
    """A project made the way the API makes it (services), so tags, owner membership and events exist."""
    owner = owner or UserFactory()
    data.setdefault("name", "测试项目")
    return services.project_create(owner=owner, data=data)


def add_member(project: Project, role: str = "member", user: User | None = None) -> User:
    user = user or UserFactory()
    Membership.objects.create(project=project, user=user, role=role)
    Project.objects.filter(pk=project.pk).update(member_count=project.memberships.count())
    services.public_memberships_recount(user_ids=[user.pk])
    return user
