"""Serializer bases shared by the apps."""

import contextlib
import copy
import csv
from collections.abc import Iterable
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.utils.formatting import lazy_format


def split_values(values: Iterable[str]) -> list[str]:
    """The parts of comma-separated values, stripped, empty ones dropped: ["a,b", " c,"] -> ["a", "b", "c"]. A
    part with a comma of its own is written in double quotes, as in CSV (a column named "Revenue, 2024":
    ?columns="Revenue, 2024",region; "" is a quote inside them); a value without a quote is split as it is."""
    parts: list[str] = []
    for value in values:
        pieces = value.split(",")
        if '"' in value:
            with contextlib.suppress(csv.Error):  # a line break or an enormous part: split as it is
                pieces = next(csv.reader([value], skipinitialspace=True), [])
        parts += [piece.strip() for piece in pieces if piece.strip()]
    return parts


class _Message:
    """A validator's message formatted each time it is shown, in the language of that request. DRF's lazy_format
    keeps its first result, which is right for fields built per request and wrong for the fields query
    parameters share (a Chinese request's "请确保该值小于或者等于 500。" was then every language's answer)."""

    __slots__ = ("args", "format_string", "kwargs")

    def __init__(self, message: lazy_format) -> None:
        self.format_string, self.args, self.kwargs = message.format_string, message.args, message.kwargs

    def __str__(self) -> str:
        return str(self.format_string).format(*self.args, **self.kwargs)

    def __mod__(self, value: Any) -> str:
        return str(self) % value


class QueryParamsSerializer(serializers.Serializer):
    """Validates query parameters, building only the fields of the parameters that were sent. With no data
    (schema generation) every field is built, so the OpenAPI document still lists them all.

    DRF deep-copies every declared field for every serializer instance, because a field is bound to its
    serializer and may keep state. Query parameters are flat values: binding writes only the copy's own
    attributes, and validating reads the field (and a list's child) without changing it. So a shallow copy
    is enough, and the deep copy of a list of tags showed in a filtered list request's profile (95 us a request
    became 180). Nested serializers would share state through a shallow copy: they are refused when the class is
    declared. One piece of state did change: DRF formats a limit's message (min_value, max_length...) once and
    keeps it, so the copies shared the first request's language; those messages are now formatted every time
    (_Message)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._has_required = any(field.required for field in cls._declared_fields.values())  # type: ignore[attr-defined]
        for name, field in cls._declared_fields.items():  # type: ignore[attr-defined]
            if isinstance(field, serializers.BaseSerializer):
                raise TypeError(f"{cls.__name__}.{name}: query parameters are flat fields, not serializers")
            # `?status=` from a form's empty filter means no filter, for text and choices: say so in the schema
            # (an empty value is allowed) rather than quietly ignoring what the document forbids. A number or a
            # date given empty is still a 400.
            for text in (field, getattr(field, "child", None)):  # ?tags=a,,b: empty parts are dropped
                if isinstance(text, serializers.CharField | serializers.ChoiceField):
                    text.allow_blank = True
                    text._kwargs["allow_blank"] = True  # type: ignore[attr-defined]  # DRF deep-copies from kwargs
            for part in (field, getattr(field, "child", None)):
                for validator in getattr(part, "validators", ()):
                    if isinstance(getattr(validator, "message", None), lazy_format):
                        validator.message = _Message(validator.message)

    def get_fields(self) -> dict[str, Any]:
        sent = getattr(self, "initial_data", None)
        declared = self._declared_fields  # type: ignore[attr-defined]
        if sent is None:
            return copy.deepcopy(declared)
        # A required parameter that was not sent is built too, so that its absence is the 400 it should be.
        return {name: copy.copy(field) for name, field in declared.items() if name in sent or field.required}

    @classmethod
    def validated(cls, request: Any) -> dict[str, Any]:
        """The request's query parameters, validated (400 INVALID_INPUT naming the parameter otherwise). A
        list field takes repeated and comma-separated values alike (?tags=a,b and ?tags=a&tags=b); any other
        field takes the last value given; an empty text or choice is no filter. Every list view reads its
        parameters through this one method."""
        query = request.query_params
        multi = cls._multi_valued()
        params: dict[str, Any] = {}
        for key in query:
            values = query.getlist(key)
            if key in multi:
                params[key] = split_values(values)
            else:
                params[key] = values[-1]
        serializer = cls(data=params)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    @classmethod
    def _multi_valued(cls) -> frozenset[str]:
        found = cls.__dict__.get("_multi_valued_names")
        if found is None:
            declared = cls._declared_fields  # type: ignore[attr-defined]
            found = frozenset(name for name, field in declared.items() if isinstance(field, serializers.ListField))
            cls._multi_valued_names = found  # type: ignore[attr-defined]
        return found

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        # None of the declared parameters was sent (a plain `?page=2`): there is nothing to validate, and
        # running DRF's validation over no fields is measurable on a list request. Fields of parameters that
        # were not sent are never built (get_fields), so no default is lost here.
        sent = getattr(self, "initial_data", None)
        if (
            isinstance(sent, dict)
            and type(self).validate is serializers.Serializer.validate
            and not getattr(self, "_has_required", False)
            and self._declared_fields.keys().isdisjoint(sent)  # type: ignore[attr-defined]
        ):
            self._validated_data: Any = {}
            self._errors: Any = {}
            return True
        return super().is_valid(raise_exception=raise_exception)


# The largest id a database integer column holds: larger numbers are refused as invalid input instead of
# overflowing the driver (SQLite raises OverflowError, PostgreSQL a DataError).
MAX_ID = 2**63 - 1


class StrictCharField(serializers.CharField):
    """Text input that is text: DRF's CharField turns a number into its digits ({"bio": 0} became "0"), and
    checks max_length only after trimming whitespace."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        # The limit holds for what was sent, before whitespace is trimmed: the document says maxLength.
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StrictRegexField(serializers.RegexField):
    """A RegexField that takes text only (DRF's turns a number into its digits before matching)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictFloatField(serializers.FloatField):
    """A JSON number: DRF's FloatField also takes true/false (as 1.0/0.0) and numeric strings."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return float(super().to_internal_value(data))


class StrictBooleanField(serializers.BooleanField):
    """A JSON true or false: DRF's BooleanField also takes 0, 1, "yes", "off" and more, which the document (type
    boolean) does not promise and a typo should not turn into a decision."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class IdField(serializers.IntegerField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID, "example": 1})
class ExampleIdField(IdField):
    """An id whose form field in Swagger UI starts at an id, not at the largest one (which JavaScript rounds
    past the maximum: pressing Execute then failed)."""
