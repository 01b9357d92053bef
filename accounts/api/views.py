"""HTTP endpoints of accounts: register, login, refresh, logout, me, password."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenRefreshView as SimpleJWTRefreshView

from .. import services
from .serializers import (
    LoginInputSerializer,
    PasswordChangeInputSerializer,
    ProfileInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenPairSerializer,
    UserSerializer,
)


class RegisterView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "register"  # on top of the anonymous limit (incubator.throttling.RateLimits)

    @extend_schema(
        tags=["users"],
        request=RegisterInputSerializer,
        responses={201: UserSerializer},
        summary="Register (409 CONFLICT when the email or username is taken)",
    )
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["users"],
        request=LoginInputSerializer,
        responses={200: TokenPairSerializer},
        summary="Log in with email or username; repeated failures are throttled (429)",
    )
    def post(self, request: Request) -> Response:
        data = LoginInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user, refresh = services.user_login(
            identifier=data.validated_data["identifier"],
            password=data.validated_data["password"],
            address=BaseThrottle().get_ident(request),
        )
        return Response(
            {"access": str(refresh.access_token), "refresh": str(refresh), "user": UserSerializer(user).data}
        )


@extend_schema(tags=["users"], summary="Exchange a refresh token for a new pair (the old refresh is blacklisted)")
class TokenRefreshView(SimpleJWTRefreshView):
    pass


class LogoutView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]  # the refresh token in the body is the credential

    @extend_schema(
        tags=["users"],
        request=RefreshInputSerializer,
        responses={204: None},
        summary="Log out: blacklist the refresh token",
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["users"], responses={200: UserSerializer}, summary="The logged-in user")
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        tags=["users"], request=ProfileInputSerializer, responses={200: UserSerializer}, summary="Update my profile"
    )
    def patch(self, request: Request) -> Response:
        data = ProfileInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update_profile(user=request.user, data=data.validated_data)
        return Response(UserSerializer(user).data)


class PasswordChangeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["users"],
        request=PasswordChangeInputSerializer,
        responses={204: None},
        summary="Change my password (every refresh token is revoked)",
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_change_password(user=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
