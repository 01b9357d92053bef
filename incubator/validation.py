"""Model validation for services: Django's full_clean, plus what it leaves out, as the project's own error."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.utils.translation import gettext as _

from .errors import InvalidInput


def model_clean(obj: models.Model, *, exclude: list[str] | None = None, unique: bool = True) -> None:
    """full_clean(), raising InvalidInput field by field instead of Django's ValidationError, and checking
    the max_length of text fields, which Django leaves to forms (a service called by a task or a command has
    none in front of it). `unique=False` leaves uniqueness to the database, for services that turn its
    IntegrityError into their own conflict (already a member, an application already pending)."""
    errors: dict[str, Any] = {}
    try:
        obj.full_clean(exclude=exclude, validate_unique=unique, validate_constraints=unique)
    except DjangoValidationError as exc:
        errors.update(exc.message_dict)
    for field in obj._meta.concrete_fields:
        if isinstance(field, models.TextField) and field.max_length and field.name not in (exclude or ()):
            value = getattr(obj, field.attname)
            if isinstance(value, str) and len(value) > field.max_length:
                errors.setdefault(field.name, []).append(
                    _("Ensure this value has at most %(limit)d characters (it has %(count)d).")
                    % {"limit": field.max_length, "count": len(value)}
                )
    if errors:
        raise InvalidInput(errors)


def json_storable(value: Any) -> Any:
    """JSON made from data (a profile's top values, a model's classes) as PostgreSQL can store it: a NUL character,
    which no text or jsonb value may hold, becomes U+FFFD, the replacement character, in its texts and keys. A
    profile holding one failed to save and was left running for ever."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, dict):
        return {json_storable(key): json_storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_storable(item) for item in value]
    return value
