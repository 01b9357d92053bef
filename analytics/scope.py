"""Whose data a figure counts: every project for platform admins, what the caller may read for everyone else
(public projects and their own), optionally narrowed to one project.

Every analytics selector starts from a Scope and filters through it, so a member never counts another team's
private data; the cache keys name the scope too, since two callers who read different projects must never
share an answer.
"""

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from projects.models import Project
from projects.selectors import project_visibility_scope, project_visible_q


@dataclass(frozen=True)
class Scope:
    user: Any
    project_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return bool(self.user is not None and self.user.is_authenticated and self.user.is_staff)

    @property
    def key(self) -> str:
        """Names the set of projects this scope counts (part of every cache key)."""
        base = project_visibility_scope(user=self.user)
        return f"{base}|p{self.project_id}" if self.project_id is not None else base

    def projects(self) -> QuerySet:
        """The projects counted, as a queryset (use `.values("pk")` in a subquery)."""
        qs = Project.objects.filter(project_visible_q(user=self.user))
        if self.project_id is not None:
            qs = qs.filter(pk=self.project_id)
        return qs

    def is_whole_platform(self) -> bool:
        """True when nothing is filtered out: an admin without a project narrows nothing."""
        return self.is_admin and self.project_id is None

    def q(self, path: str = "project") -> Q:
        """A filter for rows that hang on a project through `path` (`project`, `dataset__project`...)."""
        if self.is_whole_platform():
            return Q()
        if self.project_id is not None and self.is_admin:
            return Q(**{f"{path}_id": self.project_id})
        return Q(**{f"{path}__in": self.projects().values("pk")})
