"""Input and output shapes of the projects API."""

from typing import Any

from django.core.validators import URLValidator
from django.utils.translation import get_language
from drf_spectacular.utils import OpenApiExample, extend_schema_field, extend_schema_serializer
from rest_framework import serializers

from accounts.api.serializers import UserPublicSerializer
from incubator.serializers import IdField, QueryParamsSerializer, StrictCharField

from .. import services
from ..access import project_access
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
        "extra": row.extra,
        "schema_version": row.schema_version,
        # datetimes: the renderer writes them as ISO 8601 UTC with Z (incubator.renderers)
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


@extend_schema_serializer(description="The project's owner.")
class OwnerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    display_name = serializers.CharField()


# The one output contract of a project: ProjectSerializer documents exactly the keys project_representation
# writes (incubator/tests/test_openapi.py validates real list and detail bodies against the component).
@extend_schema_serializer(description="An AI project, as every list and detail endpoint shows it (one shape for both).")
class ProjectSerializer(serializers.Serializer):
    """Documents the shape project_representation produces."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(help_text="Free text, Markdown allowed; may be empty.")
    video_url = serializers.CharField(help_text="An http(s) address of a demo video, or an empty string.")
    status = serializers.ChoiceField(choices=Project.Status.choices)
    status_display = serializers.CharField(help_text="Localized: 招募中 / 进行中 / 已完成")
    tags = serializers.ListField(child=serializers.CharField(), help_text="Free strings, Chinese included.")
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices)
    owner = OwnerSerializer()
    member_count = serializers.IntegerField()
    extra = serializers.DictField(
        help_text="Free-form fields, valid against the current `project.extra` schema of GET /schema when written."
    )
    schema_version = serializers.IntegerField(
        help_text="The version of the `project.extra` schema the record was written under."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TagField(serializers.CharField):
    """A tag is a string: numbers or objects are refused, not coerced."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "type": "string",
        "format": "uri",
        "example": "https://videos.incubator.example/demo-2.mp4",
        "description": "An http(s) address of a demo video; an empty string removes it.",
    }
)
class VideoUrlField(serializers.CharField):
    """A CharField documented as a URI (its validators are the declaration's)."""


PROJECT_EXAMPLES = [
    OpenApiExample(
        "医学影像分割",
        summary="A Chinese project (recruiting, public)",
        value={
            "name": "医学影像分割",
            "description": (
                "基于 U-Net 的肺部 CT 影像分割，帮助医生快速定位病灶。\n\n"
                "## 目标\n- 开放的标注数据集\n- 可复现的训练流程"
            ),
            "video_url": "https://videos.incubator.example/demo-2.mp4",
            "status": "recruiting",
            "visibility": "public",
            "tags": ["计算机视觉", "深度学习"],
        },
        request_only=True,
    ),
    OpenApiExample(
        "Crop disease detection",
        summary="An English project, private for now, no video",
        value={
            "name": "Crop disease detection",
            "description": "Mobile computer vision that spots crop diseases from leaf photos in the field.",
            "video_url": "",
            "status": "in_progress",
            "visibility": "private",
            "tags": ["Computer Vision", "Edge AI"],
        },
        request_only=True,
    ),
]


@extend_schema_serializer(examples=PROJECT_EXAMPLES)
class ProjectInputSerializer(serializers.Serializer):
    name = StrictCharField(min_length=1, max_length=200)
    description = StrictCharField(max_length=20000, required=False, allow_blank=True, trim_whitespace=False)
    video_url = VideoUrlField(
        max_length=500, required=False, allow_blank=True, validators=[URLValidator(schemes=["http", "https"])]
    )
    status = serializers.ChoiceField(choices=Project.Status.choices, required=False)
    visibility = serializers.ChoiceField(choices=Project.Visibility.choices, required=False)
    tags = serializers.ListField(
        child=TagField(allow_blank=True, trim_whitespace=False, max_length=200),
        required=False,
        max_length=200,
        help_text="Free strings, Chinese included; trimmed, duplicates (case-insensitive) dropped.",
    )
    extra = serializers.JSONField(
        required=False,
        help_text=(
            "A JSON object validated against the current `project.extra` schema (GET /schema): a 400 names the "
            "JSON path of each error, e.g. `extra.budget`."
        ),
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


class TagListParamsSerializer(QueryParamsSerializer):
    search = serializers.CharField(required=False, max_length=50, help_text="Tag name prefix, e.g. 机器")


class ApplicationListParamsSerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(choices=Application.Status.choices, required=False)


@extend_schema_serializer(description="A tag with the number of projects the caller can see carrying it.")
class TagSerializer(serializers.Serializer):
    name = serializers.CharField()
    project_count = serializers.IntegerField()


@extend_schema_serializer(description="A member of a project with their role.")
class MemberSerializer(serializers.ModelSerializer):
    user = UserPublicSerializer(read_only=True)
    role_display = serializers.CharField(source="get_role_display", read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "role", "role_display", "joined_at"]
        read_only_fields = fields  # an output shape: every key is always present (required in the schema)


GRANTABLE_ROLES = [r for r in Membership.Role.choices if r[0] != "owner"]  # owner only by transfer


# Ids in the examples are those of a freshly seeded sandbox (manage.py seed_sandbox): user 6 is wangfang, who
# is not a member of demo's project 4; user 18 is a member of it. The example test sends them as the ids of
# its own users of the same standing.
@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Add as member",
            summary="Add a user as a member",
            description="In a fresh sandbox user 6 (wangfang) is not yet a member of demo's project 4.",
            value={"user_id": 6, "role": "member"},
            request_only=True,
        ),
        OpenApiExample(
            "Add as mentor",
            summary="Add a user as a mentor",
            value={"user_id": 6, "role": "mentor"},
            request_only=True,
        ),
    ]
)
class MemberAddInputSerializer(serializers.Serializer):
    user_id = IdField(help_text="The id of an active user who is not yet a member.")
    role = serializers.ChoiceField(choices=GRANTABLE_ROLES, default=Membership.Role.MEMBER)


@extend_schema_serializer(
    examples=[
        OpenApiExample("Make maintainer", value={"role": "maintainer"}, request_only=True),
        OpenApiExample("Make mentor", value={"role": "mentor"}, request_only=True),
    ]
)
class MemberUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=GRANTABLE_ROLES)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "Transfer to a member",
            description="In a fresh sandbox user 18 is a member of demo's project 4.",
            value={"user_id": 18},
            request_only=True,
        )
    ]
)
class OwnershipTransferInputSerializer(serializers.Serializer):
    user_id = IdField(help_text="The id of a current member, who becomes the owner.")


@extend_schema_serializer(description="The project an application is about.")
class ProjectBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ["id", "name", "status"]
        read_only_fields = fields  # an output shape: every key is always present


@extend_schema_serializer(description="An application to join a project, and its decision.")
class ApplicationProjectSerializer(serializers.Serializer):
    """The project of an application. To an applicant who can no longer see it (it went private), only its id:
    name and status are null and `visible` is false."""

    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=Project.Status.choices, allow_null=True)
    visible = serializers.BooleanField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        application = self.parent.instance_being_rendered  # type: ignore[union-attr]
        visible = getattr(application, "project_visible", None)
        if visible is None:
            viewer = self.context.get("viewer")
            visible = viewer is None or project_access(project=instance, user=viewer).can_read
        if not visible:
            return {"id": instance.id, "name": None, "status": None, "visible": False}
        return {"id": instance.id, "name": instance.name, "status": instance.status, "visible": True}


class ApplicationSerializer(serializers.ModelSerializer):
    project = ApplicationProjectSerializer(read_only=True)
    applicant = UserPublicSerializer(read_only=True)
    decided_by = UserPublicSerializer(read_only=True, allow_null=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        self.instance_being_rendered = instance
        return super().to_representation(instance)

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
        read_only_fields = fields  # an output shape: every key is always present


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "中文留言",
            summary="Apply with a message in Chinese",
            value={"message": "我有三年计算机视觉经验，熟悉 PyTorch，希望参与数据标注和模型训练。"},
            request_only=True,
        ),
        OpenApiExample(
            "English message",
            summary="Apply with a message in English",
            value={"message": "I have built NLP pipelines with PyTorch and would love to help with evaluation."},
            request_only=True,
        ),
    ]
)
class ApplicationInputSerializer(serializers.Serializer):
    message = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


@extend_schema_serializer(
    examples=[
        OpenApiExample("Approve as member", value={"role": "member"}, request_only=True),
        OpenApiExample("Approve as mentor", value={"role": "mentor"}, request_only=True),
    ]
)
class ApplicationApproveInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=GRANTABLE_ROLES, default=Membership.Role.MEMBER)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "名额已满",
            summary="Reject with a reason (shown to the applicant)",
            value={"reason": "名额已满，欢迎关注下一期招募。/ The team is full for now; watch for the next round."},
            request_only=True,
        ),
        OpenApiExample("No reason", summary="Reject without a reason", value={"reason": ""}, request_only=True),
    ]
)
class ApplicationRejectInputSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")
