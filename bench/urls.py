"""The real URLconf plus the hand-written reference views the benchmarks compare against."""

from django.urls import include, path

from . import reference

urlpatterns = [
    path("bench/reference/me", reference.me),
    path("bench/reference/projects", reference.projects),
    path("", include("incubator.urls")),
]
