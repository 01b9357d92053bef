"""Every write on accounts: registration, login (with failure throttling), profile, password, logout, and the
admin's own: accounts made, changed, given a password or logged out everywhere by a platform admin."""

from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from incubator.batch import count_and_read
from incubator.errors import InvalidInput, TooManyAttempts
from incubator.events.services import event_record
from incubator.generations import ANALYTICS_GENERATION, generation_bump_after_commit
from incubator.schemas import json_equal
from incubator.throttling import incr_window
from incubator.validation import model_clean
from schema_registry.services import document_validate

from .errors import AccountConflict, InvalidCredentials, TokenInvalid, WrongPassword
from .models import User
from .selectors import user_find_by_login
from .tokens import (
    SESSION_CLAIM,
    refresh_token_parse,
    session_revoke,
    token_generation_current,
    token_pair_for,
    token_user_id,
)


def _password_errors(password: str, user: User, field: str = "password") -> None:
    try:
        validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise InvalidInput({field: list(exc.messages)}) from exc


@transaction.atomic
def user_register(*, email: str, username: str, password: str, display_name: str = "", locale: str = "") -> User:
    """A new account. `locale` is the language it reads messages in where no request says (its stored texts, a
    migration's log): the registering request's, if it is one offered, else the default."""
    email = User.objects.normalize_email(email).strip()
    # NFKC, as Django's own user model does on save: "ＤＥＭＯ" is "DEMO", and so taken if "demo" is.
    username = User.normalize_username(username).strip()
    if User.objects.filter(email__iexact=email).exists():
        raise AccountConflict(details={"field": "email"})
    if User.objects.filter(username__iexact=username).exists():
        raise AccountConflict(details={"field": "username"})
    user = User(email=email, username=username, display_name=display_name.strip() or username)
    if locale in User.Locale.values:
        user.locale = locale
    _password_errors(password, user)
    user.set_password(password)
    model_clean(user, exclude=["password"])
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise AccountConflict(details={"field": "email"}) from exc
    generation_bump_after_commit(ANALYTICS_GENERATION)  # users_registered counts it; a registration records no event
    return user


def _login_keys(identifier: str, user: User | None, address: str) -> tuple[str, str]:
    """An account's attempts count under its id, so its username and its email share one counter; attempts on
    an unknown identifier count under the identifier (nothing about the account is revealed either way)."""
    account = f"user:{user.pk}" if user is not None else f"unknown:{User.normalize_username(identifier).casefold()}"
    return f"login-attempts:{account}", f"login-fail:address:{address}"


def _release_connection() -> None:
    if not connection.in_atomic_block:
        connection.close()


def user_authenticate(*, identifier: str, password: str, address: str) -> User:
    """The active user these credentials name, or InvalidCredentials; TooManyAttempts past the lockout.

    Attempts are counted before the password is checked, atomically (INCR), so however many requests race,
    an account's password is checked at most LOGIN_FAILURES_PER_ACCOUNT times per window; a success resets
    the count. Failures also count per address; past that limit an address may still log in to an account
    with no attempts of its own in the window (an office behind one NAT), but no account with some. The API
    login and Django admin's login (accounts.backends) both come here."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    found = user_find_by_login(identifier=identifier)
    account_key, address_key = _login_keys(identifier, found, address)
    (attempts,), (address_failures,) = count_and_read([(account_key, window)], [address_key])
    if attempts > settings.LOGIN_FAILURES_PER_ACCOUNT or (
        attempts > 1 and int(address_failures or 0) >= settings.LOGIN_FAILURES_PER_ADDRESS
    ):
        raise TooManyAttempts(wait=window)
    # The password hash takes hundreds of milliseconds of CPU by design: give the pooled connection back
    # first, so concurrent logins queue on the CPU and not on the pool (which would time out into 503s).
    _release_connection()
    if found is None:
        User().set_password(password)  # the same hashing cost, so timing does not reveal unknown accounts
        user = None
    else:
        user = found if found.check_password(password) and found.is_active else None
    if user is None:
        incr_window(address_key, window)
        raise InvalidCredentials()
    cache.delete(account_key)
    return user


def user_login(*, identifier: str, password: str, address: str) -> tuple[User, RefreshToken]:
    """Check credentials (user_authenticate: 401, or 429 past the lockout) and issue a token pair."""
    user = user_authenticate(identifier=identifier, password=password, address=address)
    refresh = token_pair_for(user)
    User.objects.filter(pk=user.pk).update(last_login=refresh.current_time)
    return user, refresh


# What a user may change of their own account (PATCH /users/me).
PROFILE_FIELDS = ("display_name", "avatar_url", "bio", "locale")


def profile_validate(profile: Any) -> int:
    """The `user.profile` schema version the object fits (InvalidInput naming each JSON path otherwise)."""
    return document_validate(subject="user.profile", document=profile, field="profile")


@transaction.atomic
def user_update_profile(*, user: User, data: dict[str, Any]) -> User:
    """Change PROFILE_FIELDS and the `profile` object; a changed profile is validated against `user.profile` and
    stamped with its current version, an unchanged one keeps the version it was written under."""
    fields = [f for f in PROFILE_FIELDS if f in data]
    if "profile" in data and not json_equal(user.profile, data["profile"]):
        user.schema_version = profile_validate(data["profile"])  # before anything of `user` changes
        user.profile = data["profile"]
        fields += ["profile", "schema_version"]
    for field in PROFILE_FIELDS:
        if field in data:
            setattr(user, field, data[field])
    model_clean(user, exclude=["password"])
    user.save(update_fields=fields)
    return user


def user_tokens_revoke(*, user: User) -> None:
    """Every token issued to the user until now stops working, access tokens included (accounts.tokens)."""
    User.objects.filter(pk=user.pk).update(token_generation=F("token_generation") + 1)
    user.refresh_from_db(fields=["token_generation"])


@transaction.atomic
def user_change_password(*, user: User, current_password: str, new_password: str) -> None:
    """Change the password and end every session: all outstanding refresh tokens are blacklisted and every
    access token issued so far stops working (the caller logs in again with the new password)."""
    if not user.check_password(current_password):
        raise WrongPassword(details={"field": "current_password"})
    _password_errors(new_password, user, field="new_password")
    user.set_password(new_password)
    user.save(update_fields=["password"])
    outstanding = OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding], ignore_conflicts=True)
    user_tokens_revoke(user=user)


def _refresh_token_spend(token: RefreshToken) -> None:
    """Blacklist the token as an atomic claim: of concurrent requests spending the same token, exactly one
    inserts its blacklist row (the row is unique per token); the others get TokenInvalid."""
    outstanding, _ = OutstandingToken.objects.get_or_create(
        jti=token[jwt_settings.JTI_CLAIM],
        defaults={
            "user_id": token_user_id(token),
            "token": str(token),
            "created_at": token.current_time,
            "expires_at": datetime_from_epoch(token["exp"]),
        },
    )
    try:
        with transaction.atomic():
            BlacklistedToken.objects.create(token=outstanding)
    except IntegrityError as exc:
        raise TokenInvalid() from exc


@transaction.atomic
def token_refresh(*, refresh: str) -> tuple[User, RefreshToken]:
    """Spend a refresh token for a new pair (rotation). A token already spent, forged, expired, or whose user
    is gone or deactivated is refused, so one login stays one chain of tokens however often it is retried."""
    token = refresh_token_parse(refresh)
    user = User.objects.filter(pk=token_user_id(token), is_active=True).first()
    if user is None or not token_generation_current(token, user):
        raise TokenInvalid()
    _refresh_token_spend(token)
    return user, token_pair_for(user, session=token.payload.get(SESSION_CLAIM))


@transaction.atomic
def user_logout(*, refresh: str) -> None:
    """End the session: its refresh token is spent and its access tokens stop working at once; TokenInvalid
    when the refresh token is invalid, expired or already spent."""
    token = refresh_token_parse(refresh)
    _refresh_token_spend(token)
    session_revoke(token)


# --- admin --------------------------------------------------------------------------------------------------

# What a platform admin may change on an account (the password has its own function).
USER_ADMIN_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "display_name",
    "avatar_url",
    "bio",
    "profile",
    "locale",
    "role",
    "is_active",
    "is_staff",
    "is_superuser",
)
USER_ADMIN_RELATIONS = ("groups", "user_permissions")


def _user_clean(user: User) -> None:
    try:
        model_clean(user, exclude=["password"])
    except DjangoValidationError as exc:
        raise InvalidInput(exc.message_dict) from exc


def _user_event(type_: str, user: User, actor: User, **extra: Any) -> None:
    event_record(
        type=type_,
        topic=f"user:{user.id}",
        subject_type="user",
        subject_id=user.id,
        payload={
            "id": user.id,
            "username": user.username,
            "display_name": user.display_name,
            "role": user.platform_role,
            "is_active": user.is_active,
            **extra,
        },
        actor_id=actor.id,
    )


@transaction.atomic
def user_sessions_end(*, user: User) -> int:
    """Blacklist every outstanding refresh token of the user: each session ends at its next refresh (access
    tokens live minutes). Returns how many sessions were ended."""
    outstanding = list(OutstandingToken.objects.filter(user=user).exclude(blacklistedtoken__isnull=False))
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=t) for t in outstanding], ignore_conflicts=True)
    user_tokens_revoke(user=user)  # and the access tokens, at once
    return len(outstanding)


@transaction.atomic
def user_create(
    *,
    actor: User,
    username: str,
    email: str,
    password: str | None,
    role: str = User.Role.MEMBER,
    is_staff: bool = False,
    display_name: str = "",
) -> User:
    """An account made by a platform admin, with any role and staff or not. `password=None` makes an account
    that cannot log in with a password until one is set."""
    email = User.objects.normalize_email(email).strip()
    # NFKC, as Django's own user model does on save: "ＤＥＭＯ" is "DEMO", and so taken if "demo" is.
    username = User.normalize_username(username).strip()
    if User.objects.filter(email__iexact=email).exists():
        raise AccountConflict(details={"field": "email"})
    if User.objects.filter(username__iexact=username).exists():
        raise AccountConflict(details={"field": "username"})
    user = User(
        email=email, username=username, display_name=display_name.strip() or username, role=role, is_staff=is_staff
    )
    if password is None:
        user.set_unusable_password()
    else:
        _password_errors(password, user)
        user.set_password(password)
    _user_clean(user)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise AccountConflict(details={"field": "email"}) from exc
    _user_event("user.created", user, actor)
    return user


@transaction.atomic
def user_update(*, user: User, actor: User, data: dict[str, Any]) -> User:
    """Change what USER_ADMIN_FIELDS and USER_ADMIN_RELATIONS name (a changed `profile` validated against
    `user.profile` and stamped with its current version); a deactivated account is logged out everywhere."""
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    changed = [
        f
        for f in USER_ADMIN_FIELDS
        if f in data and (not json_equal(getattr(user, f), data[f]) if f == "profile" else getattr(user, f) != data[f])
    ]
    if "profile" in changed:
        user.schema_version = profile_validate(data["profile"])
    for field in changed:
        setattr(user, field, data[field])
    relations = [
        r
        for r in USER_ADMIN_RELATIONS
        if r in data and {o.pk for o in data[r]} != set(getattr(user, r).values_list("pk", flat=True))
    ]
    if not changed and not relations:
        return user
    for field, lookup in (("email", "email__iexact"), ("username", "username__iexact")):
        if field in changed and User.objects.filter(**{lookup: getattr(user, field)}).exclude(pk=user.pk).exists():
            raise AccountConflict(details={"field": field})
    _user_clean(user)
    if changed:
        try:
            with transaction.atomic():
                user.save(update_fields=[*changed, "schema_version"] if "profile" in changed else changed)
        except IntegrityError as exc:  # a concurrent change took the email or username
            raise AccountConflict() from exc
    for relation in relations:
        getattr(user, relation).set(data[relation])
    if "is_active" in changed and not user.is_active:
        user_sessions_end(user=user)
    _user_event("user.updated", user, actor, changed=[*changed, *relations])
    return user


@transaction.atomic
def user_set_password(*, user: User, actor: User, password: str | None) -> User:
    """Set (or, with None, disable) the user's password and end every session, as a password change does."""
    if password is None:
        user.set_unusable_password()
    else:
        _password_errors(password, user)
        user.set_password(password)
    user.save(update_fields=["password"])
    user_sessions_end(user=user)
    _user_event("user.updated", user, actor, changed=["password"])
    return user
