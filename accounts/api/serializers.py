"""Input and output shapes of the accounts API."""

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from incubator.serializers import StrictCharField, StrictRegexField

from ..models import User
from ..selectors import password_problems

# Output serializers declare their fields: ModelSerializer rebuilds them from the model on every instance,
# a large share of a GET /users/me.


@extend_schema_serializer(description="A user as other users see them.")
class UserPublicSerializer(serializers.Serializer):
    """What other users may see of someone."""

    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    display_name = serializers.CharField(read_only=True)
    avatar_url = serializers.CharField(read_only=True)


@extend_schema_serializer(description="The logged-in user's own account.")
class UserSerializer(UserPublicSerializer):
    """The logged-in user's own view of themselves."""

    email = serializers.EmailField(read_only=True)
    bio = serializers.CharField(read_only=True)
    profile = serializers.DictField(
        read_only=True,
        help_text="Free-form profile fields, valid against the current `user.profile` schema of GET /schema when "
        "written.",
    )
    schema_version = serializers.IntegerField(
        read_only=True, help_text="The version of the `user.profile` schema the profile was written under."
    )
    locale = serializers.ChoiceField(choices=User.Locale.choices, read_only=True)
    role = serializers.CharField(source="platform_role", read_only=True, help_text="member, mentor or admin")
    date_joined = serializers.DateTimeField(read_only=True)


# The sandbox (manage.py seed_sandbox) has the users demo, mentor_zhang and admin, password Incubator-2026: the
# login example works there as it is, and the register examples use names the sandbox does not have.
@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "李明",
            summary="Register a Chinese-speaking user",
            value={
                "email": "li.ming@example.com",
                "username": "li_ming",
                "password": "Incubator-2026",
                "display_name": "李明",
            },
            request_only=True,
        ),
        OpenApiExample(
            "Emma Zhou",
            summary="Register an English-speaking user",
            value={
                "email": "emma.zhou@example.com",
                "username": "emma_zhou",
                "password": "Incubator-2026",
                "display_name": "Emma Zhou",
            },
            request_only=True,
        ),
    ]
)
class RegisterInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    # Text only: DRF's RegexField turned {"username": 0} into the user "0".
    username = StrictRegexField(
        r"^[\w.@+-]+\Z", max_length=150, error_messages={"invalid": _("Letters, digits and @/./+/-/_ only.")}
    )
    password = StrictCharField(write_only=True, max_length=128, style={"input_type": "password"})
    display_name = StrictCharField(max_length=100, required=False, allow_blank=True, default="")

    def to_internal_value(self, data: Any) -> Any:
        """A form shows every problem at once: when another field is wrong, the password rules are checked too
        (else user_register checks them, once the rest is right)."""
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = exc.detail
            password = data.get("password") if isinstance(data, Mapping) else None
            if isinstance(errors, dict) and "password" not in errors and isinstance(password, str) and password:
                problems = password_problems(password, email=data.get("email"), username=data.get("username"))
                if problems:
                    errors["password"] = [serializers.ErrorDetail(problem, code="invalid") for problem in problems]
            raise


@extend_schema_field({"type": "string", "format": "email"})
class LoginEmailField(serializers.CharField):
    """A CharField documented as an email (it also takes a username: the validation is the serializer's)."""


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "By username",
            summary="Log in as the sandbox user demo",
            value={"username": "demo", "password": "Incubator-2026"},
            request_only=True,
        ),
        OpenApiExample(
            "By email",
            summary="Log in with an email address",
            value={"email": "demo@incubator.example", "password": "Incubator-2026"},
            request_only=True,
        ),
    ]
)
class LoginInputSerializer(serializers.Serializer):
    email = LoginEmailField(
        max_length=254, required=False, allow_blank=True, help_text="Your email; send this or `username`."
    )
    username = StrictCharField(
        max_length=150, required=False, allow_blank=True, help_text="Your username; send this or `email`."
    )
    password = StrictCharField(max_length=128, style={"input_type": "password"})

    def validate(self, attrs: dict) -> dict:
        identifier = (attrs.get("email") or attrs.get("username") or "").strip()
        if not identifier:
            raise serializers.ValidationError({"email": [_("Give your email or username.")]})
        attrs["identifier"] = identifier
        return attrs


@extend_schema_serializer(
    description="A JWT pair and the user: send `Authorization: Bearer <access>`; keep `refresh` for a new pair."
)
class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    user = UserSerializer()


@extend_schema_serializer(description="A new JWT pair; the refresh token sent is spent.")
class TokenRefreshSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Refresh token",
            summary="The refresh token from POST /users/login (paste yours)",
            description="Replace the value with the `refresh` of your login (or of your last refresh).",
            value={
                "refresh": (
                    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ0b2tlbl90eXBlIjoicmVmcmVzaCJ9.paste-your-refresh-token"
                )
            },
            request_only=True,
        )
    ]
)
class RefreshInputSerializer(serializers.Serializer):
    refresh = StrictCharField(help_text="A refresh token from login or from the last refresh.")


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "中文资料",
            summary="Update the profile (Chinese)",
            value={
                "display_name": "演示用户",
                "avatar_url": "https://avatars.incubator.example/demo.png",
                "bio": "关注医学影像与联邦学习。",
                "locale": "zh-hans",
            },
            request_only=True,
        ),
        OpenApiExample(
            "English",
            summary="Switch to English and update the bio",
            value={"bio": "Into medical imaging and federated learning.", "locale": "en"},
            request_only=True,
        ),
    ]
)
class ProfileInputSerializer(serializers.Serializer):
    display_name = StrictCharField(max_length=100, required=False, allow_blank=True)
    avatar_url = serializers.URLField(max_length=500, required=False, allow_blank=True)
    bio = StrictCharField(max_length=2000, required=False, allow_blank=True)
    profile = serializers.JSONField(
        required=False,
        help_text=(
            "A JSON object replacing the profile's free-form fields, validated against the current `user.profile` "
            "schema (GET /schema): a 400 names the JSON path of each error, e.g. `profile.company`."
        ),
    )
    locale = serializers.ChoiceField(choices=User.Locale.choices, required=False)

    def validate_avatar_url(self, value: str) -> str:
        if value and not value.lower().startswith(("http://", "https://")):
            raise serializers.ValidationError(_("Only http and https addresses are allowed."))
        return value


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "New password",
            summary="Choose a new password",
            description=(
                "In the sandbox, run it as a user you registered (li_ming of the register example): the password of "
                "the shared users demo, mentor_zhang and admin is everyone's way in."
            ),
            value={"current_password": "Incubator-2026", "new_password": "Yixue-Yingxiang-2027"},
            request_only=True,
        ),
    ]
)
class PasswordChangeInputSerializer(serializers.Serializer):
    current_password = StrictCharField(max_length=128, style={"input_type": "password"})
    new_password = StrictCharField(max_length=128, style={"input_type": "password"})
