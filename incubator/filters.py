"""Filters shared by every list: ordering that refuses unknown fields instead of ignoring them."""

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError
from rest_framework.filters import OrderingFilter


class StrictOrderingFilter(OrderingFilter):
    """`ordering=a,-b` over the view's `ordering_fields`; an unknown field is a 400, not silently dropped."""

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> list[str] | None:
        params = request.query_params.get(self.ordering_param)
        if not params:
            return self.get_default_ordering(view)
        fields = [param.strip() for param in params.split(",") if param.strip()]
        allowed = {name for name, _label in self.get_valid_fields(queryset, view, {"request": request})}
        unknown = [f for f in fields if f.removeprefix("-") not in allowed]  # "--name" is no field
        if unknown:
            raise ValidationError(
                {
                    self.ordering_param: [
                        _("Unknown ordering field(s): %(fields)s. Allowed: %(allowed)s.")
                        % {"fields": ", ".join(unknown), "allowed": ", ".join(sorted(allowed))}
                    ]
                }
            )
        return fields

    def filter_queryset(self, request: Any, queryset: Any, view: Any) -> Any:
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        if not any(field.removeprefix("-") in ("id", "pk") for field in ordering):
            # A unique tie-breaker in the first field's direction keeps pages stable.
            ordering = [*ordering, "-id" if ordering[0].startswith("-") else "id"]
        return queryset.order_by(*ordering)
