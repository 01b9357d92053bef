"""Reads on accounts."""

from .models import User


def user_find_by_login(*, identifier: str) -> User | None:
    """The user whose email or username is `identifier`, case-insensitively."""
    identifier = User.normalize_username(identifier).strip()  # NFKC: "ｄｅｍｏ" finds demo
    if not identifier:
        return None
    field = "email__iexact" if "@" in identifier else "username__iexact"
    return User.objects.filter(**{field: identifier}).first()
