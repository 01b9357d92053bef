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
