"""A URLconf for tests: the real API plus views that raise each kind of error and a plain list."""

from django.db import OperationalError
from django.urls import include, path, re_path
from rest_framework import generics, serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from accounts.models import User
from incubator.views import api_not_found


class Boom(APIView):
    permission_classes = [AllowAny]
    schema = None

    def get(self, request):
        raise RuntimeError("secret internal detail")


class DatabaseDown(APIView):
    permission_classes = [AllowAny]
    schema = None

    def get(self, request):
        raise OperationalError("connection refused")


class Forbidden(APIView):
    permission_classes = [AllowAny]
    schema = None

    def get(self, request):
        raise PermissionDenied()


class UserRow(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username"]


class UserList(generics.ListAPIView):
    permission_classes = [AllowAny]
    queryset = User.objects.order_by("id")
    serializer_class = UserRow
    list_key = "users"
    ordering_fields = ["id", "username"]


urlpatterns = [
    path("api/v1/test/boom", Boom.as_view()),
    path("api/v1/test/db-down", DatabaseDown.as_view()),
    path("api/v1/test/forbidden", Forbidden.as_view()),
    path("api/v1/test/users", UserList.as_view()),
    path("", include("incubator.urls")),
    re_path(r"^api/", api_not_found),
]
