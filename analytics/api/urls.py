"""/api/v1/analytics/…: each module of this package brings its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("analytics.api.figures")),
    path("", include("analytics.api.models")),
    path("", include("analytics.api.exports")),
]
