"""Who may do what in a project: the roles, the one policy table, and the project-scoped view base.

Every app whose resources live under a project (members, applications, datasets, training jobs) decides
access here and nowhere else: its views name an action per HTTP method, the permission class asks the
policy, and a service that must re-check under a row lock (ownership transfer, say) asks the same policy
with `access_require`. Another app imports this module (see the import-linter contracts in pyproject.toml).
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db.models import BigIntegerField, Model, OuterRef, QuerySet, Subquery, Value
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from incubator.errors import NotFound, PermissionDenied
from incubator.prepared import PreparedLookup

from .models import Membership, Project

OWNER = Membership.Role.OWNER.value
MAINTAINER = Membership.Role.MAINTAINER.value
MEMBER = Membership.Role.MEMBER.value
MENTOR = Membership.Role.MENTOR.value
ROLES = frozenset(Membership.Role.values)
# Roles that may change a project and its community; platform admins (staff) may do everything.
WRITER_ROLES = frozenset({OWNER, MAINTAINER})
# Roles that train models: the team (mentors advise and read).
TRAINER_ROLES = frozenset({OWNER, MAINTAINER, MEMBER})

# Who may do what. READ: whoever can see the project (public, a member, an admin). MEMBERS: any role.
# LOGGED_IN: any logged-in user who can see the project. SUBJECT: only the user the action is about (an
# applicant withdrawing, a member leaving), whatever their role. Admins may do everything but SUBJECT-only
# actions, which are personal.
READ = "read"
MEMBERS = "members"
LOGGED_IN = "logged_in"
SUBJECT = "subject"
POLICY: dict[str, str | frozenset[str]] = {
    "project.read": READ,
    "project.update": WRITER_ROLES,
    "project.delete": WRITER_ROLES,
    # A project with datasets or jobs under it goes only by its owner's (or an admin's) hand.
    "project.delete_with_work": frozenset({OWNER}),
    "project.transfer_ownership": frozenset({OWNER}),
    "member.list": READ,
    "member.add": WRITER_ROLES,
    "member.update": WRITER_ROLES,
    "member.remove": WRITER_ROLES,
    "member.leave": SUBJECT,
    "application.list": WRITER_ROLES,
    "application.submit": LOGGED_IN,
    "application.decide": WRITER_ROLES,
    "application.withdraw": SUBJECT,
    # Datasets follow the project's visibility; its writers bring, change and preprocess data.
    "dataset.read": READ,
    "dataset.create": WRITER_ROLES,
    "dataset.update": WRITER_ROLES,
    "dataset.delete": WRITER_ROLES,
    # Training: the team trains, cancels and retries; results are read like the project. Its writers curate
    # the model registry (names, stages); any logged-in user who can see a model may ask it for predictions.
    "job.read": READ,
    "job.create": TRAINER_ROLES,
    "job.cancel": TRAINER_ROLES,
    "model.read": READ,
    "model.create": WRITER_ROLES,
    "model.update": WRITER_ROLES,
    "model.delete": WRITER_ROLES,
    "model.predict": LOGGED_IN,
}


@dataclass(frozen=True)
class ProjectAccess:
    """What one user may do in one project."""

    user_id: int | None  # None: anonymous
    role: str | None  # owner, maintainer, member, mentor, or None for a non-member
    is_admin: bool
    is_public: bool

    @property
    def can_read(self) -> bool:
        return self.is_public or self.is_admin or self.role is not None

    @property
    def is_owner_or_admin(self) -> bool:
        return self.is_admin or self.role == OWNER

    def allows(self, action: str, *, subject_id: int | None = None) -> bool:
        """Whether the policy lets this user do `action`; `subject_id` is the user the action is about."""
        rule = POLICY[action]
        if rule == SUBJECT:
            # Personal, and possible even where the project is no longer visible to the user: an applicant
            # can still withdraw from a project that went private.
            return self.user_id is not None and subject_id == self.user_id
        if not self.can_read:
            return False
        if rule == READ:
            return True
        if self.user_id is None:
            return False
        if self.is_admin or rule == LOGGED_IN:
            return True
        if rule == MEMBERS:
            return self.role is not None
        return self.role in rule


def with_role_of(queryset: QuerySet, user_id: int, *, project: str = "pk") -> QuerySet:
    """The rows with the user's role in their project (the field path `project`; "pk" for projects) as
    `caller_role`, and whose role it is as `caller_role_of`: a subquery in the rows' own query, so that
    project_access() asks nothing more. A query of its own was a fifth of a prediction's time, most of it the
    ORM building SQL."""
    role = Membership.objects.filter(project=OuterRef(project), user_id=user_id).order_by("pk").values("role")[:1]
    # A user id's own width (BigAutoField): an IntegerField Value is psycopg's Int4, which the prepared lookup's
    # range check answers 'no row' for an id past 2**31.
    return queryset.annotate(caller_role=Subquery(role), caller_role_of=Value(user_id, output_field=BigIntegerField()))


class ProjectRowLookup:
    """A PreparedLookup (incubator.prepared) of a row under a project, at `project` from it ("pk" for a project):
    `first(viewer, **values)` brings the viewer's role with the row when the viewer is logged in (two plans,
    with and without the role), and carries it to the row's project (carry_caller_role). None when no row."""

    def __init__(self, model: type[Model], build: Callable[..., QuerySet], *, project: str) -> None:
        self.anonymous = PreparedLookup(model, build)
        names = self.anonymous.names

        def with_role(**values: Any) -> QuerySet:
            return with_role_of(build(**{name: values[name] for name in names}), values["viewer_id"], project=project)

        self.viewer = PreparedLookup(model, with_role, names=(*names, "viewer_id"))
        self.project = project

    def first(self, viewer: Any, **values: Any) -> Any:
        if viewer is None or not viewer.is_authenticated:
            return self.anonymous.first(**values)
        row = self.viewer.first(viewer_id=viewer.pk, **values)
        if row is not None and self.project != "pk":
            target: Any = row
            for name in self.project.split("__"):
                target = getattr(target, name)
            carry_caller_role(row, target)
        return row


def carry_caller_role(row: Model, project: Project) -> Project:
    """The project of a row loaded with_role_of(..., project="<path to it>"), holding the row's answer."""
    if hasattr(row, "caller_role_of"):
        project.caller_role, project.caller_role_of = row.caller_role, row.caller_role_of  # type: ignore[attr-defined]
    return project


def project_access(*, project: Project, user: Any) -> ProjectAccess:
    """The caller's access to the project: the role the project was loaded with (ProjectRowLookup) when it is
    this user's, else one query for it (none for anonymous callers)."""
    authenticated = user is not None and user.is_authenticated
    role = None
    if authenticated and getattr(project, "caller_role_of", None) == user.pk:
        role = project.caller_role  # type: ignore[attr-defined]
    elif authenticated:
        role = Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    return ProjectAccess(
        user_id=user.pk if authenticated else None,
        role=role,
        is_admin=bool(authenticated and user.is_staff),
        is_public=project.visibility == Project.Visibility.PUBLIC,
    )


def access_require(access: ProjectAccess, action: str, *, subject_id: int | None = None) -> None:
    """Raise unless the policy allows the action: 404 to whoever cannot see the project (its existence is
    not revealed), 403 to the others."""
    if not access.can_read:
        raise NotFound()
    if not access.allows(action, subject_id=subject_id):
        raise PermissionDenied()


class ProjectActionPermission(BasePermission):
    """Asks the policy for the action the view names for the request's method (`view.actions`)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        access: ProjectAccess = view.project_access
        action = view.action_for(request)
        if action is not None and access.allows(action, subject_id=view.action_subject_id()):
            return True
        if not access.can_read:
            raise NotFound()  # the project's existence is not revealed
        if action is None:
            return True  # a method the view does not serve: DRF answers 405
        if request.method not in SAFE_METHODS and access.user_id is None:
            return False  # DRF answers 401 to anonymous callers
        if POLICY[action] == READ:
            raise NotFound()
        return False


_PROJECT = ProjectRowLookup(
    Project, lambda project_id: Project.objects.filter(pk=project_id).select_related("owner"), project="pk"
)


class ProjectScopedView(GenericAPIView):
    """Base of every view under /projects/{project_id}/...: the project is loaded once, a caller who cannot
    see it gets 404 for every method, and `actions` maps each HTTP method to a POLICY action."""

    permission_classes = [ProjectActionPermission]
    actions: dict[str, str] = {}

    @cached_property
    def project(self) -> Project:
        project = _PROJECT.first(self.request.user, project_id=self.kwargs["project_id"])
        if project is None:
            raise NotFound()
        return project

    @cached_property
    def project_access(self) -> ProjectAccess:
        """The caller's access; ProjectActionPermission has answered 404 before a handler runs if the caller
        may neither see the project nor do the request's action in it."""
        return project_access(project=self.project, user=self.request.user)

    def action_for(self, request: Request) -> str | None:
        method = "GET" if request.method in ("HEAD", "OPTIONS") else request.method
        return self.actions.get(method or "")

    def action_subject_id(self) -> int | None:
        """The user the request is about, for SUBJECT actions (a view on one member or one application)."""
        return None

    def get_object(self) -> Project:
        # DRF's OPTIONS metadata and generic helpers ask for the object: it is the project.
        return self.project
