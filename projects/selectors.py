"""Reads on projects: visibility, lists with filters, tags, members, applications."""

from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from incubator.errors import NotFound
from incubator.totals import cached_total

from .access import project_access  # noqa: F401  (part of this module's API)
from .models import Application, Membership, Project, ProjectTag, Tag


class ProjectRow(NamedTuple):
    """A project as lists read it: .values_list(*PROJECT_ROW_FIELDS, named=True) gives rows with these fields,
    without a model instance or a dict per row (bench/results/projects_list.json has the figures)."""

    id: int
    name: str
    description: str
    video_url: str
    status: str
    visibility: str
    tags: list[str]
    member_count: int
    extra: dict[str, Any]
    schema_version: int
    created_at: datetime
    updated_at: datetime
    owner_id: int
    owner__username: str
    owner__display_name: str


PROJECT_ROW_FIELDS = ProjectRow._fields
# The family of rows project lists depend on (projects, their tags and members): services bump it on every
# write that can change a list, and list totals are kept under it.
LIST_GENERATION = "projects"


def _is_admin(user: Any) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_staff)


def project_visible_q(*, user: Any) -> Q:
    """Public projects, plus every project the user is a member of; admins see everything."""
    if _is_admin(user):
        return Q()
    # The plain string: psycopg looks up an adapter for an enum subclass on every new cursor.
    public = Q(visibility=Project.Visibility.PUBLIC.value)
    if user is None or not user.is_authenticated:
        return public
    return public | Q(Exists(Membership.objects.filter(project=OuterRef("pk"), user=user)))


def project_visibility_scope(*, user: Any) -> str:
    """Names the set of projects project_visible_q lets this user see."""
    if _is_admin(user):
        return "admin"
    if user is None or not user.is_authenticated:
        return "public"
    return f"user:{user.pk}"


def normalize_search(text: str) -> str:
    return " ".join(text.split()).casefold()[:100]


def _search_q(query: str) -> Q:
    needle = normalize_search(query)
    if not needle:
        return Q()
    contains = Q(search_text__contains=needle)
    if connection.vendor != "postgresql":
        return contains
    # Substring (trigram-indexed LIKE: partial words and Chinese), full-text on whole words (websearch syntax:
    # "quoted phrases", -excluded), and word similarity for typos. Each has its own GIN index (migration 0002).
    fulltext = Q(search_vector=SearchQuery(needle, config="simple", search_type="websearch"))
    return contains | Q(search_text__trigram_word_similar=needle) | fulltext


def project_list_total(queryset: QuerySet, *, user: Any, filters: dict[str, Any]) -> int:
    """The exact total of project_list(user=user, filters=filters), without a COUNT when warm. project_list is
    a pure function of the filters and of whose projects the user sees, so those two name it exactly."""
    key = (project_visibility_scope(user=user), repr(sorted(filters.items())))
    return cached_total(queryset, family=LIST_GENERATION, key=key)


def project_list(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet:
    """Projects the user may see, filtered. Unordered: the caller orders."""
    filters = filters or {}
    qs = Project.objects.filter(project_visible_q(user=user))
    if statuses := filters.get("status"):
        qs = qs.filter(status__in=statuses)
    if visibility := filters.get("visibility"):
        qs = qs.filter(visibility=visibility)
    if owner := filters.get("owner"):
        qs = qs.filter(owner_id=owner)
    if filters.get("member") == "me" and user is not None and user.is_authenticated:
        qs = qs.filter(Exists(Membership.objects.filter(project=OuterRef("pk"), user=user)))
    if tags := filters.get("tags"):
        qs = qs.filter(_has_tag(tags))
    for tag in filters.get("tags_all") or []:
        qs = qs.filter(_has_tag([tag]))
    if created_after := filters.get("created_after"):
        qs = qs.filter(created_at__gte=created_after)
    if created_before := filters.get("created_before"):
        qs = qs.filter(created_at__lt=created_before)
    if search := filters.get("search"):
        if connection.vendor == "postgresql":
            qs = qs.annotate(search_vector=SearchVector("search_text", config="simple"))
        qs = qs.filter(_search_q(search))
    return qs


def _has_tag(names: list[str]) -> Q:
    """Carries any of these tags, case-insensitively (Chinese tags have no case and match as given)."""
    wanted = Q()
    for name in names:
        wanted |= Q(name__iexact=name)
    return Q(Exists(ProjectTag.objects.filter(project=OuterRef("pk"), tag__in=Tag.objects.filter(wanted))))


def project_find(*, project_id: int) -> Project:
    """The project with its owner, or 404. Callers check project_access before showing it."""
    project = Project.objects.filter(pk=project_id).select_related("owner").first()
    if project is None:
        raise NotFound()
    return project


def project_row_of(project: Project) -> ProjectRow:
    """The row a list reads, from an instance loaded with its owner."""

    def value(field: str) -> Any:
        if field.startswith("owner__"):
            return getattr(project.owner, field.removeprefix("owner__"))
        return getattr(project, field)

    return ProjectRow(*(value(field) for field in PROJECT_ROW_FIELDS))


def tag_list(*, user: Any, prefix: str = "") -> QuerySet:
    """Tags with the number of projects the user can see carrying them, most popular first."""
    visible = Project.objects.filter(project_visible_q(user=user)).values("pk")
    qs = Tag.objects.all()
    if prefix:
        qs = qs.filter(name__istartswith=prefix.strip())
    return (
        qs.annotate(project_count=Count("project_links", filter=Q(project_links__project__in=visible)))
        .filter(project_count__gt=0)
        .order_by("-project_count", "name")
    )


def member_list(*, project: Project) -> QuerySet:
    return Membership.objects.filter(project=project).select_related("user")


def application_list(*, project: Project | None = None, applicant: Any = None, status: str | None = None) -> QuerySet:
    """Applications, newest first. With `applicant`, each carries `project_visible`: whether the applicant
    may still see the project (it may have gone private since), so a list shows no more of it than its id."""
    qs = Application.objects.select_related("applicant", "project", "decided_by")
    if applicant is not None:
        qs = qs.annotate(
            project_visible=Exists(Project.objects.filter(project_visible_q(user=applicant), pk=OuterRef("project")))
        )
    if project is not None:
        qs = qs.filter(project=project)
    if applicant is not None:
        qs = qs.filter(applicant=applicant)
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def application_get(*, project: Project, application_id: int) -> Application:
    application = Application.objects.filter(project=project, pk=application_id).select_related("applicant").first()
    if application is None:
        raise NotFound()
    return application


def project_topic_readable(user: Any, ids: list[int]) -> set[int]:
    """Which of these projects' live topics (`project:{id}`) the user may read: those they can see."""
    return set(Project.objects.filter(project_visible_q(user=user), pk__in=ids).values_list("pk", flat=True))


def application_topic_readable(user: Any, ids: list[int]) -> set[int]:
    """Which projects' application topics (`applications:{project id}`) the user may read: those whose
    applications they may list (owners and maintainers; platform admins everywhere)."""
    projects = Project.objects.filter(pk__in=ids)
    if not _is_admin(user):
        writers = Membership.objects.filter(user=user, role__in=[Membership.Role.OWNER, Membership.Role.MAINTAINER])
        projects = projects.filter(pk__in=writers.values("project_id"))
    return set(projects.values_list("pk", flat=True))
