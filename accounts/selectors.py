"""Reads on accounts."""

from typing import Any

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
