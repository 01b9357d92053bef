"""Serializer bases shared by the apps."""

import copy
from typing import Any

from rest_framework import serializers


class QueryParamsSerializer(serializers.Serializer):
    """Validates query parameters, building only the fields of the parameters that were sent: DRF deep-copies
    every declared field per instance, which on a list endpoint cost more than its database query. With no
    data (schema generation) every field is built, so the OpenAPI document still lists them all."""

    def get_fields(self) -> dict[str, Any]:
        sent = getattr(self, "initial_data", None)
        declared = self._declared_fields  # type: ignore[attr-defined]
        if sent is None:
            return copy.deepcopy(declared)
        return {name: copy.deepcopy(field) for name, field in declared.items() if name in sent}


# The largest id a database integer column holds: larger numbers are refused as invalid input instead of
# overflowing the driver (SQLite raises OverflowError, PostgreSQL a DataError).
MAX_ID = 2**63 - 1


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
