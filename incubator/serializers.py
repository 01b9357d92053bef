"""Serializer bases shared by the apps."""

import copy
from typing import Any

from rest_framework import serializers


class QueryParamsSerializer(serializers.Serializer):
    """Validates query parameters, building only the fields of the parameters that were sent. With no data
    (schema generation) every field is built, so the OpenAPI document still lists them all.

    DRF deep-copies every declared field for every serializer instance, because a field is bound to its
    serializer and may keep state. Query parameters are flat values: binding writes only the copy's own
    attributes, and validating reads the field (and a list's child) without changing it. So a shallow copy
    is enough, and the deep copy of a list of tags was ~40 us of a filtered list request. Nested serializers
    would share state through a shallow copy: they are refused when the class is declared."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, field in cls._declared_fields.items():  # type: ignore[attr-defined]
            if isinstance(field, serializers.BaseSerializer):
                raise TypeError(f"{cls.__name__}.{name}: query parameters are flat fields, not serializers")

    def get_fields(self) -> dict[str, Any]:
        sent = getattr(self, "initial_data", None)
        declared = self._declared_fields  # type: ignore[attr-defined]
        if sent is None:
            return copy.deepcopy(declared)
        return {name: copy.copy(field) for name, field in declared.items() if name in sent}

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        # None of the declared parameters was sent (a plain `?page=2`): there is nothing to validate, and
        # running DRF's validation over no fields cost ~30 us of a list request. Fields of parameters that
        # were not sent are never built (get_fields), so no default is lost here.
        sent = getattr(self, "initial_data", None)
        if (
            isinstance(sent, dict)
            and type(self).validate is serializers.Serializer.validate
            and self._declared_fields.keys().isdisjoint(sent)  # type: ignore[attr-defined]
        ):
            self._validated_data: Any = {}
            self._errors: Any = {}
            return True
        return super().is_valid(raise_exception=raise_exception)


# The largest id a database integer column holds: larger numbers are refused as invalid input instead of
# overflowing the driver (SQLite raises OverflowError, PostgreSQL a DataError).
MAX_ID = 2**63 - 1


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
