"""Every write on accounts: registration, login (with failure throttling), profile, password, logout."""

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from incubator.errors import InvalidInput, TooManyAttempts
from incubator.throttling import incr_window

from .errors import AccountConflict, InvalidCredentials, WrongPassword
from .models import User
from .selectors import user_find_by_login


def _password_errors(password: str, user: User) -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise InvalidInput({"password": list(exc.messages)}) from exc


@transaction.atomic
def user_register(*, email: str, username: str, password: str, display_name: str = "") -> User:
    email = User.objects.normalize_email(email).strip()
    username = username.strip()
    if User.objects.filter(email__iexact=email).exists():
        raise AccountConflict(details={"field": "email"})
    if User.objects.filter(username__iexact=username).exists():
        raise AccountConflict(details={"field": "username"})
    user = User(email=email, username=username, display_name=display_name.strip() or username)
    _password_errors(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise AccountConflict(details={"field": "email"}) from exc
    return user


def _failure_keys(identifier: str, address: str) -> tuple[str, str]:
    return f"login-fail:account:{identifier.strip().lower()}", f"login-fail:address:{address}"


def _release_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


def user_login(*, identifier: str, password: str, address: str) -> tuple[User, RefreshToken]:
    """Check credentials and issue a token pair. Too many failures for the account or the address: 429."""
    account_key, address_key = _failure_keys(identifier, address)
    counts = cache.get_many([account_key, address_key])
    if (
        counts.get(account_key, 0) >= settings.LOGIN_FAILURES_PER_ACCOUNT
        or counts.get(address_key, 0) >= settings.LOGIN_FAILURES_PER_ADDRESS
    ):
        raise TooManyAttempts(wait=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    found = user_find_by_login(identifier=identifier)
    # The password hash takes hundreds of milliseconds of CPU by design: give the pooled connection back
    # first, so concurrent logins queue on the CPU and not on the pool (which would time out into 503s).
    _release_connection()
    if found is None:
        User().set_password(password)  # the same hashing cost, so timing does not reveal unknown accounts
        user = None
    else:
        user = found if found.check_password(password) and found.is_active else None
    if user is None:
        incr_window(account_key, settings.LOGIN_FAILURE_WINDOW_SECONDS)
        incr_window(address_key, settings.LOGIN_FAILURE_WINDOW_SECONDS)
        raise InvalidCredentials()
    cache.delete(account_key)
    refresh = RefreshToken.for_user(user)
    User.objects.filter(pk=user.pk).update(last_login=refresh.current_time)
    return user, refresh


@transaction.atomic
def user_update_profile(*, user: User, data: dict[str, Any]) -> User:
    for field in ("display_name", "avatar_url", "bio", "locale"):
        if field in data:
            setattr(user, field, data[field])
    user.full_clean(exclude=["password"])
    user.save(update_fields=[f for f in ("display_name", "avatar_url", "bio", "locale") if f in data])
    return user


@transaction.atomic
def user_change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Change the password and end every session: all outstanding refresh tokens are blacklisted."""
    if not user.check_password(current_password):
        raise WrongPassword(details={"field": "current_password"})
    _password_errors(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding], ignore_conflicts=True)


def user_logout(*, refresh: str) -> None:
    """Blacklist the refresh token; raises TokenError when it is invalid, expired or already blacklisted."""
    RefreshToken(refresh).blacklist()  # type: ignore[arg-type]  # the stubs miss the str form
