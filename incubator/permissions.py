"""The permission base every app uses: a caller's role in a project decides what they may do."""

from dataclasses import dataclass
from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission

# Roles that may change a project and its community; platform admins (staff) may do everything.
WRITER_ROLES = frozenset({"owner", "maintainer"})


@dataclass(frozen=True)
class ProjectAccess:
    """What one user may do in one project; built by projects.selectors.project_access."""

    role: str | None  # owner, maintainer, member, mentor, or None for a non-member
    is_admin: bool
    is_public: bool

    @property
    def can_read(self) -> bool:
        return self.is_public or self.is_admin or self.role is not None

    @property
    def can_write(self) -> bool:
        return self.is_admin or self.role in WRITER_ROLES

    @property
    def is_owner_or_admin(self) -> bool:
        return self.is_admin or self.role == "owner"

    def has_any(self, roles: frozenset[str] | set[str]) -> bool:
        return self.is_admin or self.role in roles


class ProjectRolePermission(BasePermission):
    """Reads need the project to be visible (the view answers 404 otherwise); writes need a role in
    `view.write_roles` (default owner or maintainer). The view supplies `project_access`."""

    def has_permission(self, request: Any, view: Any) -> bool:
        access: ProjectAccess = view.project_access
        if request.method in SAFE_METHODS:
            read_roles = getattr(view, "read_roles", None)
            return access.can_read if read_roles is None else access.has_any(read_roles)
        if not request.user or not request.user.is_authenticated:
            return False
        roles = getattr(view, "write_roles", WRITER_ROLES)
        return True if roles is None else access.has_any(roles)  # None: any logged-in user who can see it
