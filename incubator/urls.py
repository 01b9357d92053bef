"""Root URLs: /api/v1/ (API, OpenAPI, docs, health), /admin/, a JSON 404 for anything else under /api/, and the
landing page and favicon at the root."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.views import SpectacularAPIView

from analytics.dashboard import dashboard_view

from .docs import RedocView, SwaggerView
from .events.views import EventListView, EventStreamView
from .health import LivenessView, ReadinessView
from .metrics.views import metrics_view
from .views import api_not_found, favicon, landing


class OpenApiJson(OpenApiJsonRenderer):
    media_type = "application/json"  # what code generators and browsers expect of a .json address


# Django tries routes in order and every miss costs: the busiest resources come first.
api_v1 = [
    path("", include("projects.api.urls")),
    path("", include("accounts.api.urls")),
    path("", include("datasets.api.urls")),
    path("", include("aimodels.api.urls")),
    path("", include("schema_registry.api.urls")),
    path("", include("schema_registry.api.database")),
    path("analytics/", include("analytics.api.urls")),
    path("events", EventListView.as_view(), name="event-list"),
    path("events/stream", EventStreamView.as_view(), name="event-stream"),
    path("health", LivenessView.as_view(), name="health"),
    path("health/ready", ReadinessView.as_view(), name="health-ready"),
    path("openapi.json", SpectacularAPIView.as_view(renderer_classes=[OpenApiJson]), name="openapi"),
    path("docs", SwaggerView.as_view(url_name="openapi"), name="swagger-ui"),
    path("redoc", RedocView.as_view(url_name="openapi"), name="redoc"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),
    path("admin/analytics/dashboard/", admin.site.admin_view(dashboard_view), name="analytics-dashboard"),
    path("admin/", admin.site.urls),
    path("", landing, name="landing"),
    path("favicon.ico", favicon, name="favicon"),
    # Prometheus: outside the API and its OpenAPI document, for the token or allowed networks only.
    path("metrics", metrics_view, name="metrics"),
]

handler404 = "incubator.views.handler404"
handler500 = "incubator.views.handler500"
