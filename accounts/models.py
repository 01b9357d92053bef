"""Users of the incubator: members, mentors, and platform admins (staff)."""

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class UserManager(DjangoUserManager):
    def get_by_natural_key(self, username: str) -> "User":
        return self.get(**{f"{self.model.USERNAME_FIELD}__iexact": username})


class User(AbstractUser):
    class Role(models.TextChoices):
        MEMBER = "member", _("Member")
        MENTOR = "mentor", _("Mentor")

    class Locale(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    email = models.EmailField(_("email address"))
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    avatar_url = models.URLField(_("avatar URL"), max_length=500, blank=True)
    bio = models.TextField(_("bio"), max_length=2000, blank=True)
    locale = models.CharField(_("locale"), max_length=10, choices=Locale.choices, default=Locale.ZH_HANS)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER, db_index=True)
    # Every token carries the generation it was issued under; raising it (password change, an admin ending
    # every session) makes all earlier tokens invalid at once, access tokens included (accounts.tokens).
    token_generation = models.PositiveIntegerField(_("token generation"), default=0, editable=False)
    # The profile's free-form fields, validated against the schema registry's `user.profile`; schema_version is
    # the version of that subject it was written under.
    profile = models.JSONField(_("profile fields"), default=dict, blank=True)
    schema_version = models.PositiveSmallIntegerField(_("schema version"), default=1)

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
        ]

    @property
    def platform_role(self) -> str:
        """The role the API shows: platform admins are staff; everyone else is a member or a mentor."""
        return "admin" if self.is_staff else self.role

    def __str__(self) -> str:
        return self.display_name or self.username


class RevokedSession(models.Model):
    """A logged-out session, kept while its access tokens can live. Authentication reads the session's mark in
    Redis, in the request's one round trip; these rows are what puts the marks back when Redis lost its data
    (restarted without persistence, failed over, evicted keys), so no logged-out token works again."""

    session = models.CharField(_("session"), max_length=64, primary_key=True)
    expires_at = models.DateTimeField(_("expires at"), db_index=True)

    class Meta:
        verbose_name = _("revoked session")
        verbose_name_plural = _("revoked sessions")

    def __str__(self) -> str:
        return self.session
