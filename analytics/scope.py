"""Whose data a figure counts: every project for platform admins, what the caller may read for everyone else
(public projects and their own), optionally narrowed to one project.

Every analytics selector starts from a Scope and filters through it, so a member never counts another team's
private data; the cache keys name the scope too, since two callers who read different projects must never
share an answer.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from projects.models import Membership, Project
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

    def hidden(self) -> QuerySet:
        """The projects this caller may not read: the private ones they are not a member of."""
        private = Project.objects.filter(visibility=Project.Visibility.PRIVATE.value)
        if self.user is None or not self.user.is_authenticated:
            return private
        return private.exclude(Exists(Membership.objects.filter(project=OuterRef("pk"), user=self.user)))

    def q(self, path: str = "project") -> Q:
        """A filter for rows that hang on a project through `path` (`project`, `dataset__project`...)."""
        # "No hidden project of the caller is this row's" rather than "in the many visible ones": the same rows
        # (every row has a project), but PostgreSQL plans an anti-join against the few private projects instead
        # of probing a subquery per row (bench/analytics.py: a member's job counts 310 ms -> 70-90 ms with NOT IN
        # over 200,000 jobs, and about 40% less again with NOT EXISTS).
        return self._rows(path, lambda: Q(~Exists(self.hidden().filter(pk=OuterRef(path)))))

    def q_probe(self, path: str = "project") -> Q:
        """The rows of q(), for a statement that tests them one by one as it walks an index (a percentile's
        ORDER BY ... OFFSET, a first row per user): "not among the hidden projects" as NOT IN, which PostgreSQL
        answers from one hash of the hidden ids built once per statement (a "hashed SubPlan"). The NOT EXISTS of q()
        is planned there as an anti-join that drops the index walk for a sort of every row (bench/analytics.py:
        a member's p90 94 -> 50 ms). Safe as NOT IN: neither the ids nor a row's project can be NULL."""
        return self._rows(path, lambda: ~Q(**{f"{path}_id__in": self.hidden().values("pk")}))

    def _rows(self, path: str, not_hidden: Callable[[], Q]) -> Q:
        if self.is_whole_platform():
            return Q()
        narrowed = Q(**{f"{path}_id": self.project_id}) if self.project_id is not None else Q()
        if self.is_admin:
            return narrowed
        return narrowed & not_hidden()
