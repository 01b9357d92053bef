"""Reference ceilings: the cheapest honest way to do the same work with plain Django views."""

from datetime import UTC

from django.contrib.postgres.search import SearchQuery, SearchVector
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, JsonResponse
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from projects.models import Project, ProjectTag, Tag


def me(request: HttpRequest) -> JsonResponse:
    """Same work as GET /users/me: verify the bearer token, load the user, return it."""
    token = AccessToken(request.headers["Authorization"].split()[1])
    user = (
        User.objects.filter(pk=token["user_id"], is_active=True)
        .values(
            "id",
            "username",
            "email",
            "display_name",
            "avatar_url",
            "bio",
            "locale",
            "role",
            "date_joined",
            "profile",
            "schema_version",
        )
        .get()
    )
    user["date_joined"] = user["date_joined"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return JsonResponse(user, json_dumps_params={"ensure_ascii": False})


def projects(request: HttpRequest) -> JsonResponse:
    """The same 20 public projects with their tags (and the same search/tags filters), via .values()."""
    qs = Project.objects.filter(visibility="public")
    if tag := request.GET.get("tags"):
        qs = qs.filter(
            Exists(ProjectTag.objects.filter(project=OuterRef("pk"), tag__in=Tag.objects.filter(name__iexact=tag)))
        )
    if search := request.GET.get("search"):
        needle = search.casefold()
        qs = qs.annotate(v=SearchVector("search_text", config="simple")).filter(
            Q(search_text__contains=needle)
            | Q(search_text__trigram_word_similar=needle)
            | Q(v=SearchQuery(needle, config="simple", search_type="websearch"))
        )
    rows = list(
        qs.order_by("-created_at", "-id").values(
            "id",
            "name",
            "description",
            "video_url",
            "status",
            "visibility",
            "tags",
            "member_count",
            "extra",
            "schema_version",
            "created_at",
            "updated_at",
            "owner_id",
            "owner__username",
            "owner__display_name",
        )[:20]
    )
    for row in rows:
        row["created_at"] = row["created_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        row["updated_at"] = row["updated_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return JsonResponse({"projects": rows}, json_dumps_params={"ensure_ascii": False})
