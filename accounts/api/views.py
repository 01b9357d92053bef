"""HTTP endpoints of accounts: register, login, refresh, logout, me, password."""

from django.utils import translation
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from incubator.idempotency.services import idempotent

from .. import services
from .serializers import (
    LoginInputSerializer,
    PasswordChangeInputSerializer,
    ProfileInputSerializer,
    RefreshInputSerializer,
    RegisterInputSerializer,
    TokenPairSerializer,
    TokenRefreshSerializer,
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
        summary="Register an account",
        description=(
            "Creates an account; no login needed, and the answer is the new user (log in next with POST "
            "/users/login). The password must pass the password rules (at least 8 characters, not common, not all "
            "digits, not like the username or email), or the answer is 400 INVALID_INPUT. An email or username "
            "already taken (case-insensitively) is a 409 CONFLICT whose `details.field` names which. Every wrong "
            "field is named at once, the password's rules included. The account's `locale` is the request's "
            "Accept-Language (zh-hans or en; zh-hans for any other), which PATCH /users/me can change."
        ),
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = RegisterInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_register(**data.validated_data, locale=translation.get_language())
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class LoginView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        tags=["users"],
        request=LoginInputSerializer,
        responses={200: TokenPairSerializer},
        summary="Log in with username or email",
        description=(
            "Send `username` or `email`, and `password`; no login needed. The answer carries an access token "
            "(send it as `Authorization: Bearer <access>`), a refresh token for POST /users/token/refresh, and the "
            "user. Wrong credentials are a 401 AUTHENTICATION_FAILED; after repeated failures for one account or "
            "one address the answer is a 429 RATE_LIMITED with Retry-After."
        ),
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


class TokenRefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]  # the refresh token in the body is the credential

    @extend_schema(
        tags=["users"],
        request=RefreshInputSerializer,
        responses={200: TokenRefreshSerializer},
        summary="Exchange a refresh token for a new pair",
        description=(
            "Send the refresh token of your login (or of your last refresh); no Authorization header needed. The "
            "answer is a new access token and a new refresh token, and the refresh token sent is spent. A spent, "
            "expired or forged token, or one whose user is deactivated, is a 401 TOKEN_INVALID: log in again."
        ),
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        _, refresh = services.token_refresh(refresh=data.validated_data["refresh"])
        return Response({"access": str(refresh.access_token), "refresh": str(refresh)})


class LogoutView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]  # the refresh token in the body is the credential

    @extend_schema(
        tags=["users"],
        request=RefreshInputSerializer,
        responses={204: None},
        summary="Log out: revoke the refresh token",
        description=(
            "Send the refresh token of the session to end: it cannot be refreshed afterwards, and every access "
            "token of that session stops working at once (other sessions go on). No Authorization header needed: "
            "the token is the credential. A spent, expired or forged token is a 401 TOKEN_INVALID."
        ),
    )
    def post(self, request: Request) -> Response:
        data = RefreshInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_logout(refresh=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["users"],
        responses={200: UserSerializer},
        summary="The logged-in user",
        description=(
            "The account of the caller of the Bearer access token, email, locale and profile included. Without a "
            "token the answer is a 401 NOT_AUTHENTICATED; with an expired or invalid one, a 401 TOKEN_INVALID."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        tags=["users"],
        request=ProfileInputSerializer,
        responses={200: UserSerializer},
        summary="Update my profile",
        description=(
            "Changes any of `display_name`, `avatar_url` (http or https only), `bio`, `locale` (`zh-hans` or "
            "`en`) and `profile` of the logged-in user; fields left out keep their values. The answer is the "
            "updated user. A bad value is a 400 INVALID_INPUT naming the field in `details.field`. `profile` "
            "replaces the whole object and must fit the current `user.profile` schema of GET /schema (its "
            "`schema_version` follows); `details.field` then names the JSON path, e.g. `profile.company`."
        ),
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
        summary="Change my password",
        description=(
            "Changes the logged-in user's password. A wrong `current_password` is a 400 INVALID_INPUT, and so is "
            "a new password that fails the password rules (at least 8 characters, not common, not all digits). "
            "Every token of the user, refresh and access, stops working at once: every session, this one "
            "included, must log in again with the new password."
        ),
    )
    def post(self, request: Request) -> Response:
        data = PasswordChangeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.user_change_password(user=request.user, **data.validated_data)
        return Response(status=status.HTTP_204_NO_CONTENT)
