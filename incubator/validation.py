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
