"""AI projects, their tags, members and join applications."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

CURRENT_SCHEMA_VERSION = 1


class Project(models.Model):
    class Status(models.TextChoices):
        RECRUITING = "recruiting", _("Recruiting")
        IN_PROGRESS = "in_progress", _("In progress")
        COMPLETED = "completed", _("Completed")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), max_length=20000, blank=True)
    video_url = models.URLField(_("video URL"), max_length=500, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECRUITING)
    visibility = models.CharField(_("visibility"), max_length=8, choices=Visibility.choices, default=Visibility.PUBLIC)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_projects", verbose_name=_("owner")
    )
    # Display copy of the tags in their given order, so a list page needs no join; ProjectTag is what filters.
    tags = models.JSONField(_("tags"), default=list, blank=True)
    member_count = models.PositiveIntegerField(_("member count"), default=1)
    # Lower-cased name, description and tags: what search matches (trigram-indexed on PostgreSQL).
    search_text = models.TextField(_("search text"), editable=False, default="")
    # Free-form fields the incubator's forms add, validated against the schema registry's `project.extra`;
    # schema_version is the version of that subject it was written under.
    extra = models.JSONField(_("extra"), default=dict, blank=True)
    schema_version = models.PositiveSmallIntegerField(_("schema version"), default=CURRENT_SCHEMA_VERSION)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        indexes = [
            models.Index(fields=["visibility", "-created_at", "-id"], name="project_visible_created"),
            models.Index(fields=["-created_at", "-id"], name="project_created"),
            models.Index(fields=["-updated_at", "-id"], name="project_updated"),
            models.Index(fields=["name", "id"], name="project_name"),
            models.Index(fields=["-member_count", "-id"], name="project_member_count"),
            models.Index(fields=["status", "-created_at"], name="project_status_created"),
            models.Index(fields=["owner", "-created_at"], name="project_owner_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["recruiting", "in_progress", "completed"]), name="project_status_valid"
            ),
            models.CheckConstraint(condition=Q(visibility__in=["public", "private"]), name="project_visibility_valid"),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=50)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        constraints = [models.UniqueConstraint(Lower("name"), name="tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class ProjectTag(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="tag_links", verbose_name=_("project"))
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="project_links", verbose_name=_("tag"))

    class Meta:
        verbose_name = _("project tag")
        verbose_name_plural = _("project tags")
        constraints = [models.UniqueConstraint(fields=["tag", "project"], name="project_tag_unique")]
        indexes = [models.Index(fields=["project"], name="project_tag_project")]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.tag_id}"


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", _("Owner")
        MAINTAINER = "maintainer", _("Maintainer")
        MEMBER = "member", _("Member")
        MENTOR = "mentor", _("Mentor")

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("project")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user")
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.MEMBER)
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="membership_unique"),
            models.UniqueConstraint(fields=["project"], condition=Q(role="owner"), name="membership_one_owner"),
        ]
        indexes = [models.Index(fields=["project", "role"], name="membership_project_role")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.project} ({self.role})"


class PublicMembershipCount(models.Model):
    """How many public projects a user is a member of, counted again by projects.services in every transaction
    that adds or removes a member, changes a project's visibility or deletes a project. What the analytics
    overview reads for the users a member may see (those in a public project, or in a project of theirs): one row
    a user instead of probing every user's memberships against the private projects (bench/analytics.py).
    `public_memberships_recount` counts them all again."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="public_membership_count",
        verbose_name=_("user"),
    )
    count = models.PositiveIntegerField(_("public projects"), default=0)

    class Meta:
        verbose_name = _("public memberships of a user")
        verbose_name_plural = _("public memberships of users")

    def __str__(self) -> str:
        return f"{self.user_id}: {self.count}"


class Application(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="applications", verbose_name=_("project")
    )
    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="applications", verbose_name=_("applicant")
    )
    message = models.TextField(_("message"), max_length=2000, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decision_reason = models.TextField(_("decision reason"), max_length=2000, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("join application")
        verbose_name_plural = _("join applications")
        constraints = [
            models.UniqueConstraint(
                fields=["project", "applicant"], condition=Q(status="pending"), name="application_one_pending"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status", "-created_at"], name="application_project_status"),
            models.Index(fields=["applicant", "-created_at"], name="application_applicant"),
        ]

    def __str__(self) -> str:
        return f"{self.applicant} → {self.project} ({self.status})"
