"""HTTP endpoints of projects: the project resource, tags, members, join applications, my views."""

from functools import cached_property
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated, IsAuthenticatedOrReadOnly
from rest_framework.request import Request
from rest_framework.response import Response

from incubator.filters import StrictOrderingFilter
from incubator.generations import LocalMemo
from incubator.permissions import WRITER_ROLES, ProjectAccess, ProjectRolePermission

from .. import selectors, services
from ..models import Project
from .serializers import (
    ApplicationApproveInputSerializer,
    ApplicationInputSerializer,
    ApplicationRejectInputSerializer,
    ApplicationSerializer,
    MemberAddInputSerializer,
    MemberSerializer,
    MemberUpdateInputSerializer,
    OwnershipTransferInputSerializer,
    ProjectInputSerializer,
    ProjectListParamsSerializer,
    ProjectSerializer,
    TagSerializer,
    project_representation,
    status_labels,
)

_TOTALS = LocalMemo(size=4096)  # (filters and scope, generation) -> exact total
MULTI_VALUED = ("status", "tags", "tags_all")


def _list_params(request: Request) -> dict[str, Any]:
    """Query parameters with the multi-valued ones split: ?tags=a,b and ?tags=a&tags=b mean the same."""
    params: dict[str, Any] = {}
    for key in request.query_params:
        values = request.query_params.getlist(key)
        if key in MULTI_VALUED:
            params[key] = [part.strip() for value in values for part in value.split(",") if part.strip()]
        else:
            params[key] = values[-1]
    return params


class ProjectRowsMixin:
    """Lists of projects: lean rows, strict ordering, and an exact total cached until a project changes."""

    list_key = "projects"
    queryset = Project.objects.none()  # the model, for the OpenAPI generator; rows come from selectors
    # Filters are the selector's (validated by ProjectListParamsSerializer); only ordering is a backend.
    filter_backends = [StrictOrderingFilter]
    ordering_fields = ["created_at", "updated_at", "name", "member_count"]
    ordering = ["-created_at"]
    serializer_class = ProjectSerializer
    # Read with the rate-limit counters, in the request's one round trip to Redis (incubator.throttling).
    generations = (services.LIST_GENERATION,)

    def list_total(self, queryset: QuerySet) -> int:
        """COUNT(*) was most of a list request's database time. The total depends only on the filters, on
        whose projects the caller sees and on the rows, so it is kept in this process under the projects'
        generation token: exact, and no extra round trip when warm."""
        key = (self.count_key, services.project_list_generation(known=getattr(self.request, "generations", None)))
        total = _TOTALS.get(key)
        if total is None:
            total = queryset.count()
            _TOTALS.set(key, total)
        return total

    def project_page(self, queryset: QuerySet, filters: dict[str, Any]) -> Response:
        # project_list is a pure function of the filters and of whose projects are visible, so those name
        # the count exactly, without compiling its SQL.
        scope = selectors.project_visibility_scope(user=self.request.user)
        self.count_key = repr((scope, sorted(filters.items())))
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
        summary="List projects (public ones, and private ones I belong to)",
    )
    def get(self, request: Request) -> Response:
        params = ProjectListParamsSerializer(data=_list_params(request))
        params.is_valid(raise_exception=True)
        filters = params.validated_data
        return self.project_page(selectors.project_list(user=request.user, filters=filters), filters)

    @extend_schema(
        tags=["projects"],
        request=ProjectInputSerializer,
        responses={201: ProjectSerializer},
        summary="Create a project (I become its owner)",
    )
    def post(self, request: Request) -> Response:
        data = ProjectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(owner=request.user, data=data.validated_data)
        return Response(_project_body(project.pk), status=status.HTTP_201_CREATED)


def _project_body(project_id: int) -> dict[str, Any]:
    return project_representation(
        selectors.project_row_of(selectors.project_find(project_id=project_id)), status_labels()
    )


class ProjectScopedView(GenericAPIView):
    """A view under /projects/{project_id}: the project is loaded once; invisible means 404 for every method."""

    permission_classes = [ProjectRolePermission]

    @cached_property
    def project(self) -> Project:
        return selectors.project_find(project_id=self.kwargs["project_id"])

    @cached_property
    def project_access(self) -> ProjectAccess:
        access = selectors.project_access(project=self.project, user=self.request.user)
        if not access.can_read:
            raise NotFound()
        return access


class ProjectDetailView(ProjectScopedView):
    serializer_class = ProjectSerializer

    @extend_schema(tags=["projects"], responses={200: ProjectSerializer}, summary="One project")
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
        summary="Replace a project's fields (owner, maintainers, admins)",
    )
    def put(self, request: Request, project_id: int) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        tags=["projects"],
        request=ProjectInputSerializer,
        responses={200: ProjectSerializer},
        summary="Change some of a project's fields (owner, maintainers, admins)",
    )
    def patch(self, request: Request, project_id: int) -> Response:
        return self._update(request, partial=True)

    @extend_schema(
        tags=["projects"],
        responses={204: None},
        summary="Delete a project and everything under it (with datasets or jobs: owner or admin only)",
    )
    def delete(self, request: Request, project_id: int) -> Response:
        services.project_delete(project=self.project, actor=request.user, access=self.project_access)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TagListView(GenericAPIView):
    permission_classes = [IsAuthenticatedOrReadOnly]
    list_key = "tags"
    serializer_class = TagSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["projects"],
        summary="Tags with their project counts, popular first",
        parameters=[OpenApiParameter("search", str, description="Tag name prefix")],
    )
    def get(self, request: Request) -> Response:
        tags = selectors.tag_list(user=request.user, prefix=request.query_params.get("search", "")[:50])
        page = self.paginate_queryset(tags.values("name", "project_count"))
        return self.get_paginated_response(list(page))


class MemberListView(ProjectScopedView):
    list_key = "members"
    serializer_class = MemberSerializer
    filter_backends: list = []

    @extend_schema(tags=["projects"], responses={200: MemberSerializer(many=True)}, summary="Members of a project")
    def get(self, request: Request, project_id: int) -> Response:
        page = self.paginate_queryset(selectors.member_list(project=self.project).order_by("joined_at", "id"))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(
        tags=["projects"],
        request=MemberAddInputSerializer,
        responses={201: MemberSerializer},
        summary="Add a member with a role (owner, maintainers, admins)",
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = MemberAddInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(project=self.project, actor=request.user, **data.validated_data)
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailView(ProjectScopedView):
    serializer_class = MemberSerializer

    def check_permissions(self, request: Request) -> None:
        # Any member may leave: DELETE of one's own membership needs no writer role.
        is_self = request.user.is_authenticated and str(self.kwargs["user_id"]) == str(request.user.pk)
        if request.method == "DELETE" and is_self and self.project_access.role is not None:
            return
        super().check_permissions(request)

    @extend_schema(
        tags=["projects"],
        request=MemberUpdateInputSerializer,
        responses={200: MemberSerializer},
        summary="Change a member's role (the owner's role changes only by transfer)",
    )
    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        data = MemberUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_update(
            project=self.project, actor=request.user, user_id=user_id, role=data.validated_data["role"]
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        tags=["projects"], responses={204: None}, summary="Remove a member, or leave (the owner cannot be removed)"
    )
    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        services.member_remove(project=self.project, actor=request.user, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class OwnershipTransferView(ProjectScopedView):
    write_roles = frozenset({"owner"})
    serializer_class = OwnershipTransferInputSerializer

    @extend_schema(
        tags=["projects"],
        request=OwnershipTransferInputSerializer,
        responses={200: ProjectSerializer},
        summary="Transfer ownership to a member (owner or admin); the old owner becomes a maintainer",
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = OwnershipTransferInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.ownership_transfer(project=self.project, actor=request.user, **data.validated_data)
        return Response(_project_body(self.project.pk))


class ApplicationListCreateView(ProjectScopedView):
    list_key = "applications"
    read_roles = WRITER_ROLES
    write_roles = None  # any logged-in user who can see the project may apply
    serializer_class = ApplicationSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["projects"],
        responses={200: ApplicationSerializer(many=True)},
        parameters=[OpenApiParameter("status", str, enum=["pending", "approved", "rejected", "withdrawn"])],
        summary="Join applications of a project (owner, maintainers, admins)",
    )
    def get(self, request: Request, project_id: int) -> Response:
        wanted = request.query_params.get("status") or None
        page = self.paginate_queryset(selectors.application_list(project=self.project, status=wanted))
        return self.get_paginated_response(ApplicationSerializer(page, many=True).data)

    @extend_schema(
        tags=["projects"],
        request=ApplicationInputSerializer,
        responses={201: ApplicationSerializer},
        summary="Apply to join a recruiting project",
    )
    def post(self, request: Request, project_id: int) -> Response:
        data = ApplicationInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = services.application_submit(
            project=self.project, applicant=request.user, message=data.validated_data["message"]
        )
        return Response(ApplicationSerializer(application).data, status=status.HTTP_201_CREATED)


class ApplicationActionView(ProjectScopedView):
    serializer_class = ApplicationSerializer

    @cached_property
    def application(self) -> Any:
        return selectors.application_get(project=self.project, application_id=self.kwargs["application_id"])


class ApplicationApproveView(ApplicationActionView):
    @extend_schema(
        tags=["projects"],
        request=ApplicationApproveInputSerializer,
        responses={200: ApplicationSerializer},
        summary="Approve: the applicant becomes a member in the same transaction",
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
        summary="Reject with a reason",
    )
    def post(self, request: Request, project_id: int, application_id: int) -> Response:
        data = ApplicationRejectInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        application = services.application_reject(
            application=self.application, actor=request.user, reason=data.validated_data["reason"]
        )
        return Response(ApplicationSerializer(application).data)


class ApplicationWithdrawView(ApplicationActionView):
    write_roles = None  # the service checks that the caller is the applicant

    @extend_schema(
        tags=["projects"],
        request=None,
        responses={200: ApplicationSerializer},
        summary="Withdraw my pending application",
    )
    def post(self, request: Request, project_id: int, application_id: int) -> Response:
        application = services.application_withdraw(application=self.application, actor=request.user)
        return Response(ApplicationSerializer(application).data)


class MyApplicationsView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    list_key = "applications"
    serializer_class = ApplicationSerializer
    filter_backends: list = []

    @extend_schema(
        tags=["users"],
        responses={200: ApplicationSerializer(many=True)},
        parameters=[OpenApiParameter("status", str, enum=["pending", "approved", "rejected", "withdrawn"])],
        summary="My join applications",
    )
    def get(self, request: Request) -> Response:
        wanted = request.query_params.get("status") or None
        page = self.paginate_queryset(selectors.application_list(applicant=request.user, status=wanted))
        return self.get_paginated_response(ApplicationSerializer(page, many=True).data)


class MyProjectsView(ProjectRowsMixin, GenericAPIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["users"], responses={200: ProjectSerializer(many=True)}, summary="Projects I belong to")
    def get(self, request: Request) -> Response:
        filters = {"member": "me"}
        return self.project_page(selectors.project_list(user=request.user, filters=filters), filters)
