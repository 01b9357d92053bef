"""Error codes of the projects app."""

from django.utils.translation import gettext_lazy as _

from incubator.errors import Conflict


class ProjectNotRecruiting(Conflict):
    error_code = "PROJECT_NOT_RECRUITING"
    default_detail = _("This project is not recruiting.")


class ApplicationAlreadyPending(Conflict):
    error_code = "APPLICATION_ALREADY_PENDING"
    default_detail = _("You already have a pending application to this project.")


class AlreadyMember(Conflict):
    error_code = "ALREADY_MEMBER"
    default_detail = _("This user is already a member of the project.")


class ApplicationNotPending(Conflict):
    error_code = "APPLICATION_NOT_PENDING"
    default_detail = _("This application has already been decided or withdrawn.")


class OwnerImmutable(Conflict):
    error_code = "OWNER_IMMUTABLE"
    default_detail = _("The owner cannot be removed or demoted; transfer ownership first.")


class NotAMember(Conflict):
    error_code = "NOT_A_MEMBER"
    default_detail = _("Ownership can only be transferred to a member of the project.")
