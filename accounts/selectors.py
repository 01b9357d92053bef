"""Reads on accounts."""

from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError

from .models import User


def user_find_by_login(*, identifier: str) -> User | None:
    """The user whose email or username is `identifier`, case-insensitively."""
    identifier = User.normalize_username(identifier).strip()  # NFKC: "ｄｅｍｏ" finds demo
    if not identifier:
        return None
    field = "email__iexact" if "@" in identifier else "username__iexact"
    return User.objects.filter(**{field: identifier}).first()


def user_topic_readable(user: Any, ids: list[int]) -> set[int]:
    """A user's own topic (`user:{id}`) is theirs alone, and the platform admins'."""
    return {id_ for id_ in ids if id_ == user.pk or user.is_staff}


def password_problems(password: str, *, email: Any = "", username: Any = "") -> list[str]:
    """What the password rules (AUTH_PASSWORD_VALIDATORS) say of `password` for an account with this email and
    username, in the active language; empty when it passes."""
    candidate = User(
        email=email if isinstance(email, str) else "", username=username if isinstance(username, str) else ""
    )
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        return list(exc.messages)
    return []
