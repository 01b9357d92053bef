"""Input and output shapes of the projects API."""

from typing import Any

from django.core.validators import URLValidator
from django.utils.translation import get_language
from rest_framework import serializers

from accounts.api.serializers import UserPublicSerializer
from incubator.serializers import IdField, QueryParamsSerializer

from .. import services
from ..models import Application, Membership, Project
from ..selectors import ProjectRow

_LABELS: dict[str | None, dict[str, str]] = {}


def status_labels() -> dict[str, str]:
    """Status labels in the request's language (招募中 / 进行中 / 已完成, or English), built once per language."""
    language = get_language()
    labels = _LABELS.get(language)
    if labels is None:
        labels = _LABELS[language] = {value: str(label) for value, label in Project.Status.choices}
    return labels


def project_representation(row: ProjectRow, labels: dict[str, str]) -> dict[str, Any]:
    """A project as the API shows it, from a row of PROJECT_ROW_FIELDS: the one code path of list and detail."""
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "video_url": row.video_url,
        "status": row.status,
        "status_display": labels[row.status],
        "tags": row.tags,
        "visibility": row.visibility,
        "owner": {"id": row.owner_id, "username": row.owner__username, "display_name": row.owner__display_name},
        "member_count": row.member_count,
        "schema_version": row.schema_version,
        # datetimes: the renderer writes them as ISO 8601 UTC with Z (incubator.renderers)
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()


class ProjectSerializer(serializers.Serializer):
    """Documents the shape project_representation produces."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    video_url = serializers.CharField()
    status = serializers.ChoiceField(choices=Project.Status.choices)
    status_display = serializers.CharField(help_text="Localized: 招募中 / 进行中 / 已完成")
    tags = serializers.ListField(child=serializers.CharField())
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices)
    owner = OwnerSerializer()
    member_count = serializers.IntegerField()
    schema_version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TagField(serializers.CharField):
    """A tag is a string: numbers or objects are refused, not coerced."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProjectInputSerializer(serializers.Serializer):
    name = serializers.CharField(min_length=1, max_length=200)
    description = serializers.CharField(max_length=20000, required=False, allow_blank=True, trim_whitespace=False)
    video_url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    status = serializers.ChoiceField(choices=Project.Status.choices, required=False)
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices, required=False)
    tags = serializers.ListField(
        child=TagField(allow_blank=True, trim_whitespace=False, max_length=200),
        required=False,
        max_length=200,
    )

    def validate_tags(self, value: list[str]) -> list[str]:
        return services.tags_normalize(value)


class ProjectListParamsSerializer(QueryParamsSerializer):
    status = serializers.ListField(
        child=serializers.ChoiceField(choices=Project.Status.choices),
        required=False,
        help_text="One or several, comma-separated or repeated",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        max_length=20,
        help_text="Any of these tags (comma-separated or repeated)",
    )
    tags_all = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, max_length=20, help_text="All of these tags"
    )
    owner = IdField(required=False, help_text="Owner's user id")
    member = serializers.ChoiceField(choices=[("me", "me")], required=False, help_text="me: projects I belong to")
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices, required=False)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    search = serializers.CharField(required=False, max_length=100, help_text="Name, description and tags")
    ordering = serializers.CharField(required=False, help_text="created_at, updated_at, name, member_count; -desc")


class TagSerializer(serializers.Serializer):
    name = serializers.CharField()
    project_count = serializers.IntegerField()


class MemberSerializer(serializers.ModelSerializer):
    user = UserPublicSerializer(read_only=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "role", "role_display", "joined_at"]


GRANTABLE_ROLES = [r for r in Membership.Role.choices if r[0] != "owner"]  # owner only by transfer


class MemberAddInputSerializer(serializers.Serializer):
    user_id = IdField()
    role = serializers.ChoiceField(choices=GRANTABLE_ROLES, default=Membership.Role.MEMBER)


class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=GRANTABLE_ROLES)


class OwnershipTransferInputSerializer(serializers.Serializer):
    user_id = IdField()


class ProjectBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "status"]


class ApplicationSerializer(serializers.ModelSerializer):
    project = ProjectBriefSerializer(read_only=True)
    applicant = UserPublicSerializer(read_only=True)
    decided_by = UserPublicSerializer(read_only=True, allow_null=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    class Meta:
        model = Application
        fields = [
            "id",
            "project",
            "applicant",
            "message",
            "status",
            "status_display",
            "decision_reason",
            "decided_by",
            "created_at",
            "decided_at",
        ]


class ApplicationInputSerializer(serializers.Serializer):
    message = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ApplicationApproveInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=GRANTABLE_ROLES, default=Membership.Role.MEMBER)


class ApplicationRejectInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
