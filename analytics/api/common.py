"""What every analytics endpoint shares: logged-in callers only, the scope from `?project=`, the cached answer,
and the chart shape in OpenAPI."""

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request

from incubator.errors import NotFound
from incubator.generations import ANALYTICS_GENERATION
from incubator.serializers import QueryParamsSerializer
from projects.models import Project
from projects.selectors import project_visible_q

from ..memo import memoized
from ..scope import Scope

TAGS = ["analytics"]
PROJECT_PARAM = OpenApiParameter(
    "project", int, description="Narrow to one project the caller may read (404 if they may not)."
)


class ChartSeriesSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The series' label, in the request's language.")
    data = serializers.ListField(child=serializers.FloatField(allow_null=True), help_text="One value per `x` label.")


class ChartSerializer(serializers.Serializer):
    """ECharts: `xAxis.data = x`, `series[i].data`; Chart.js: `labels = x`, `datasets[i] = {label: name, data}`."""

    x = serializers.ListField(child=serializers.CharField(), help_text="The labels of the x axis.")
    series = ChartSeriesSerializer(many=True)
    unit = serializers.CharField(allow_blank=True, help_text="What the values count or measure, localized.")


class ProjectScopeParams(QueryParamsSerializer):
    project = serializers.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


def scope_for(request: Request, project_id: int | None) -> Scope:
    """The caller's scope; a project they may not read is a 404, as everywhere else in the API."""
    if (
        project_id is not None
        and not Project.objects.filter(project_visible_q(user=request.user), pk=project_id).exists()
    ):
        raise NotFound()
    return Scope(user=request.user, project_id=project_id)


class AnalyticsView(GenericAPIView):
    permission_classes = [IsAuthenticated]
    # The generation token travels with the request's one round trip to the cache (incubator.batch).
    generations = (ANALYTICS_GENERATION,)

    def answer(self, endpoint: str, scope: Scope, params: dict[str, Any], compute: Callable[[], Any]) -> Any:
        return memoized(endpoint, scope, params, compute)
