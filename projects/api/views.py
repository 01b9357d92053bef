"""HTTP endpoints of projects: the project resource, tags, members, join applications, my views."""

from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import status
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response

from incubator.filters import StrictOrderingFilter
from incubator.idempotency.services import idempotent

from .. import selectors, services
from ..access import ProjectScopedView
from ..models import Project
from .serializers import (
    ApplicationApproveInputSerializer,
    ApplicationInputSerializer,
    ApplicationListParamsSerializer,
    ApplicationRejectInputSerializer,
    ApplicationSerializer,
    MemberAddInputSerializer,
    MemberSerializer,
    MemberUpdateInputSerializer,
    OwnershipTransferInputSerializer,
    ProjectInputSerializer,
    ProjectListParamsSerializer,
    ProjectSerializer,
    TagListParamsSerializer,
    TagSerializer,
    project_representation,
    status_labels,
)


class ProjectRowsMixin:
    """Lists of projects: lean rows, strict ordering, and an exact total cached until a project changes."""

    list_key = "projects"
    queryset = Project.objects.none()  # the model, for the OpenAPI generator; rows come from selectors
    # Filters are the selector's (validated by ProjectListParamsSerializer); only ordering is a backend.
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["created_at", "updated_at", "name", "member_count"]
    ordering = ["-created_at"]
    serializer_class = ProjectSerializer
    # Wanted in the request's one round trip to the cache, with the rate-limit counters (incubator.batch).
    generations = (selectors.LIST_GENERATION,)

    def list_total(self, queryset: QuerySet) -> int:
        return selectors.project_list_total(queryset, user=self.request.user, filters=self.list_filters)

    def project_page(self, queryset: QuerySet, filters: dict[str, Any]) -> Response:
        self.list_filters = filters
        rows = self.paginate_queryset(
            self.filter_queryset(queryset).values_list(*selectors.PROJECT_ROW_FIELDS, named=True)
        )
        labels = status_labels()
        return self.get_paginated_response([project_representation(row, labels) for row in rows])


class ProjectListCreateView(ProjectRowsMixin, GenericAPIView):
    permission_classes = [IsAuthenticatedOrReadOnly]

    @extend_schema(
        tags=["projects"],
        parameters=[ProjectListParamsSerializer],
        responses={200: ProjectSerializer(many=True)},
        summary="List projects",
        description=(
            "The projects the caller may see, newest first: every public project, and the private ones the "
            "caller belongs to (a platform admin sees all). No login needed. Filter with `status`, `tags`, "
            "`tags_all`, `owner`, `member=me`, `visibility`, `created_after`/`created_before` and `search`; sort "
            "with `ordering` (e.g. `-created_at`, `name`). An unknown filter value or ordering field is a 400 "
            "INVALID_INPUT, a page past the last a 404 NOT_FOUND."
        ),
    )
    def get(self, request: Request) -> Response:
        filters = ProjectListParamsSerializer.validated(request)
        return self.project_page(selectors.project_list(user=request.user, filters=filters), filters)

    @extend_schema(
        tags=["projects"],
        request=ProjectInputSerializer,
        responses={201: ProjectSerializer},
        summary="Create a project",
        description=(
            "Creates a project owned by the logged-in caller, who becomes its first member with the role `owner`. "
            "Only `name` is required; `status` defaults to `recruiting` and `visibility` to `public`. Tags are "
            "free strings (Chinese included), trimmed and de-duplicated. Invalid fields are a 400 INVALID_INPUT "
            "naming the first bad field in `details.field`."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(owner=request.user, data=data.validated_data)
        return Response(_project_body(project.pk), status=status.HTTP_201_CREATED)


def _project_body(project_id: int) -> dict[str, Any]:
    return project_representation(
        selectors.project_row_of(selectors.project_find(project_id=project_id)), status_labels()
    )


class ProjectDetailView(ProjectScopedView):
    serializer_class = ProjectSerializer
    actions = {"GET": "project.read", "PUT": "project.update", "PATCH": "project.update", "DELETE": "project.delete"}

    @extend_schema(
        tags=["projects"],
        responses={200: ProjectSerializer},
        auth=[{"jwtAuth": []}, {}],  # public projects need no token
        summary="One project",
        description=(
            "A project in the same shape as a list item. Public projects need no login; a private one is shown to "
            "its members and platform admins, and is a 404 NOT_FOUND to everyone else (its existence is not "
            "revealed)."
        ),
    )
    def get(self, request: Request, project_id: int) -> Response:
        return Response(project_representation(selectors.project_row_of(self.project), status_labels()))

    def _update(self, request: Request, partial: bool) -> Response:
        data = ProjectInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        project = services.project_update(project=self.project, actor=request.user, data=data.validated_data)
        return Response(_project_body(project.pk))

    @extend_schema(
        tags=["projects"],
        request=ProjectInputSerializer,
        responses={200: ProjectSerializer},
        summary="Update a project",
        description=(
            "Sends the project's editable fields; `name` is required, and fields left out keep their values. Its "
            "owner, maintainers and platform admins may; other members and users get a 403 PERMISSION_DENIED "
            "(a 404 when they cannot see the project). Invalid fields are a 400 INVALID_INPUT."
        ),
    )
    def put(self, request: Request, project_id: int) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        tags=["projects"],
        request=ProjectInputSerializer,
        responses={200: ProjectSerializer},
        summary="Change some of a project's fields",
        description=(
            "Changes only the fields sent, e.g. the status when recruiting ends. Its owner, maintainers and "
            "platform admins may; others get a 403 PERMISSION_DENIED (a 404 when they cannot see the project). "
            "Invalid fields are a 400 INVALID_INPUT."
        ),
        examples=[
            OpenApiExample(
                "Start working",
                summary="Recruiting is over: move to in_progress",
                value={"status": "in_progress"},
                request_only=True,
            ),
            OpenApiExample(
                "Retag",
                summary="Change the tags and the description",
                value={
                    "description": "基于大语言模型的多轮对话客服，支持中文和英文。A bilingual LLM support bot.",
                    "tags": ["自然语言处理", "大语言模型", "NLP"],
                },
                request_only=True,
            ),
        ],
    )
    def patch(self, request: Request, project_id: int) -> Response:
        return self._update(request, partial=True)

    @extend_schema(
        tags=["projects"],
        responses={204: None},
        summary="Delete a project",
        description=(
            "Deletes the project with its memberships and join applications, for good. Its owner, maintainers and "
            "platform admins may; other members and users get a 403 PERMISSION_DENIED (a 404 when they cannot "
            "see the project)."
        ),
    )
    def delete(self, request: Request, project_id: int) -> Response:
        services.project_delete(project=self.project, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagListView(GenericAPIView):
    permission_classes = [IsAuthenticatedOrReadOnly]
    list_key = "tags"
    serializer_class = TagSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["projects"],
        summary="List tags",
        description=(
            "The tags of the projects the caller can see, each with how many of those projects carry it, most "
            "used first; `search` keeps the tags starting with a prefix (e.g. `机器`), for autocompletion. No "
            "login needed."
        ),
        parameters=[TagListParamsSerializer],
        responses={200: TagSerializer(many=True)},
    )
    def get(self, request: Request) -> Response:
        params = TagListParamsSerializer.validated(request)
        tags = selectors.tag_list(user=request.user, prefix=params.get("search", ""))
        page = self.paginate_queryset(tags.values("name", "project_count"))
        return self.get_paginated_response(list(page))


class MemberListView(ProjectScopedView):
    list_key = "members"
    actions = {"GET": "member.list", "POST": "member.add"}
    serializer_class = MemberSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["projects"],
        responses={200: MemberSerializer(many=True)},
        auth=[{"jwtAuth": []}, {}],  # public projects need no token
        summary="List the members of a project",
        description=(
            "The members of a project with their roles (owner, maintainer, member, mentor), earliest first. "
            "Whoever can see the project may list them (anyone for a public project); a project the caller "
            "cannot see is a 404 NOT_FOUND."
        ),
    )
    def get(self, request: Request, project_id: int) -> Response:
        page = self.paginate_queryset(selectors.member_list(project=self.project).order_by("joined_at", "id"))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        tags=["projects"],
        request=MemberAddInputSerializer,
        responses={201: MemberSerializer},
        summary="Add a member",
        description=(
            "Adds a user to the project with a role (`member` by default; `owner` only by a transfer). The "
            "project's owner, maintainers and platform admins may; others get a 403 PERMISSION_DENIED. A user who "
            "is already a member is a 409 ALREADY_MEMBER; an unknown or inactive user a 400 INVALID_INPUT on "
            "`user_id`. A pending application of that user is approved with it."
        ),
    )
    @idempotent
    def post(self, request: Request, project_id: int) -> Response:
        data = MemberAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(project=self.project, actor=request.user, **data.validated_data)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(ProjectScopedView):
    serializer_class = MemberSerializer
    actions = {"PATCH": "member.update", "DELETE": "member.remove"}

    def action_for(self, request: Request) -> str | None:
        if request.method == "DELETE" and self.action_subject_id() == self.project_access.user_id:
            return "member.leave"  # any member may leave; removing someone else takes a writer role
        return super().action_for(request)

    def action_subject_id(self) -> int | None:
        return int(self.kwargs["user_id"])

    @extend_schema(
        tags=["projects"],
        request=MemberUpdateInputSerializer,
        responses={200: MemberSerializer},
        summary="Change a member's role",
        description=(
            "Sets the role of the member `user_id` to maintainer, member or mentor. The project's owner, "
            "maintainers and platform admins may; others get a 403 PERMISSION_DENIED. The owner's role changes "
            "only by a transfer (409 OWNER_IMMUTABLE); a user who is not a member is a 404 NOT_FOUND."
        ),
    )
    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        data = MemberUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_update(
            project=self.project, actor=request.user, user_id=user_id, role=data.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        tags=["projects"],
        responses={204: None},
        summary="Remove a member, or leave",
        description=(
            "Removes the member `user_id` from the project. Any member may remove themselves (leave); removing "
            "someone else takes the owner, a maintainer or a platform admin (else 403 PERMISSION_DENIED). The "
            "owner cannot be removed or leave: transfer the ownership first (409 OWNER_IMMUTABLE)."
        ),
    )
    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        services.member_remove(project=self.project, actor=request.user, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OwnershipTransferView(ProjectScopedView):
    actions = {"POST": "project.transfer_ownership"}
    serializer_class = OwnershipTransferInputSerializer

    @extend_schema(
        tags=["projects"],
        request=OwnershipTransferInputSerializer,
        responses={200: ProjectSerializer},
        summary="Transfer the ownership",
        description=(
            "Makes the member `user_id` the project's owner; the previous owner stays on as a maintainer. Only the "
            "owner and platform admins may (else 403 PERMISSION_DENIED). The new owner must already be a member: "
            "otherwise a 409 NOT_A_MEMBER. The answer is the updated project."
        ),
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = OwnershipTransferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ownership_transfer(project=self.project, actor=request.user, **data.validated_data)
        return Response(_project_body(self.project.pk))


class ApplicationListCreateView(ProjectScopedView):
    list_key = "applications"
    actions = {"GET": "application.list", "POST": "application.submit"}
    serializer_class = ApplicationSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["projects"],
        responses={200: ApplicationSerializer(many=True)},
        parameters=[ApplicationListParamsSerializer],
        summary="List the join applications of a project",
        description=(
            "The applications to join the project, newest first, optionally of one `status` (pending, approved, "
            "rejected, withdrawn). The project's owner, maintainers and platform admins may list them; others get "
            "a 403 PERMISSION_DENIED (a 404 when they cannot see the project)."
        ),
    )
    def get(self, request: Request, project_id: int) -> Response:
        params = ApplicationListParamsSerializer.validated(request)
        page = self.paginate_queryset(selectors.application_list(project=self.project, status=params.get("status")))
        return self.get_paginated_response(ApplicationSerializer(page, many=True).data)

    @extend_schema(
        tags=["projects"],
        request=ApplicationInputSerializer,
        responses={201: ApplicationSerializer},
        summary="Apply to join a project",
        description=(
            "The logged-in caller applies to join a project with an optional message for its maintainers. The "
            "project must be recruiting (else 409 PROJECT_NOT_RECRUITING); a member gets a 409 ALREADY_MEMBER and "
            "a second pending application a 409 APPLICATION_ALREADY_PENDING."
        ),
    )
    @idempotent
    def post(self, request: Request, project_id: int) -> Response:
        data = ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = services.application_submit(
            project=self.project, applicant=request.user, message=data.validated_data["message"]
        )
        return Response(ApplicationSerializer(application).data, status=status.HTTP_201_CREATED)


class ApplicationActionView(ProjectScopedView):
    serializer_class = ApplicationSerializer
    actions = {"POST": "application.decide"}

    @cached_property
    def application(self) -> Any:
        return selectors.application_get(project=self.project, application_id=self.kwargs["application_id"])


class ApplicationApproveView(ApplicationActionView):
    @extend_schema(
        tags=["projects"],
        request=ApplicationApproveInputSerializer,
        responses={200: ApplicationSerializer},
        summary="Approve a join application",
        description=(
            "Approves a pending application: the applicant becomes a member with the given role (`member` by "
            "default) at once. The project's owner, maintainers and platform admins may (else 403 "
            "PERMISSION_DENIED). An application already decided or withdrawn is a 409 APPLICATION_NOT_PENDING."
        ),
    )
    def post(self, request: Request, project_id: int, application_id: int) -> Response:
        data = ApplicationApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = services.application_approve(
            application=self.application, actor=request.user, role=data.validated_data["role"]
        )
        return Response(ApplicationSerializer(application).data)


class ApplicationRejectView(ApplicationActionView):
    @extend_schema(
        tags=["projects"],
        request=ApplicationRejectInputSerializer,
        responses={200: ApplicationSerializer},
        summary="Reject a join application",
        description=(
            "Rejects a pending application with an optional reason, which the applicant sees as "
            "`decision_reason`. The project's owner, maintainers and platform admins may (else 403 "
            "PERMISSION_DENIED). An application already decided or withdrawn is a 409 APPLICATION_NOT_PENDING."
        ),
    )
    def post(self, request: Request, project_id: int, application_id: int) -> Response:
        data = ApplicationRejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = services.application_reject(
            application=self.application, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(ApplicationSerializer(application).data)


class ApplicationWithdrawView(ApplicationActionView):
    actions = {"POST": "application.withdraw"}

    def action_subject_id(self) -> int | None:
        return self.application.applicant_id

    @extend_schema(
        tags=["projects"],
        request=None,
        responses={200: ApplicationSerializer},
        summary="Withdraw my application",
        description=(
            "The applicant withdraws their own pending application (no body). Only the applicant may, not even "
            "the project's owner (403 PERMISSION_DENIED). An application already decided or withdrawn is a 409 "
            "APPLICATION_NOT_PENDING."
        ),
    )
    def post(self, request: Request, project_id: int, application_id: int) -> Response:
        application = services.application_withdraw(application=self.application, actor=request.user)
        return Response(ApplicationSerializer(application, context={"viewer": request.user}).data)


class MyApplicationsView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    list_key = "applications"
    serializer_class = ApplicationSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["users"],
        responses={200: ApplicationSerializer(many=True)},
        parameters=[ApplicationListParamsSerializer],
        summary="List my join applications",
        description=(
            "The logged-in caller's applications to join projects, newest first, optionally of one `status`, "
            "each with its project and decision. Without a token: 401 NOT_AUTHENTICATED."
        ),
    )
    def get(self, request: Request) -> Response:
        params = ApplicationListParamsSerializer.validated(request)
        page = self.paginate_queryset(selectors.application_list(applicant=request.user, status=params.get("status")))
        return self.get_paginated_response(ApplicationSerializer(page, many=True).data)


class MyProjectsView(ProjectRowsMixin, GenericAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["users"],
        responses={200: ProjectSerializer(many=True)},
        summary="List my projects",
        description=(
            "The projects the logged-in caller is a member of, whatever the role and visibility, newest first; "
            "sort with `ordering`. Without a token: 401 NOT_AUTHENTICATED."
        ),
    )
    def get(self, request: Request) -> Response:
        filters = {"member": "me"}
        return self.project_page(selectors.project_list(user=request.user, filters=filters), filters)
