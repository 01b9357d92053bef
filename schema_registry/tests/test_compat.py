"""JSON Schema compatibility: every reason code fails where it must and its safe counterpart passes; every mode
picks the right versions and directions."""

from typing import Any

import pytest
from django.utils import translation

from schema_registry.compat import MODES, REASONS, Incompatibility, compatibility_check, narrowings


@pytest.fixture(autouse=True)
def _english():
    """The messages below are asserted in English (the default language is zh-hans)."""
    with translation.override("en"):
        yield


def triples(reader: Any, writer: Any) -> list[tuple[str, str, str]]:
    return [(path, keyword, reason) for path, keyword, reason, _message in narrowings(reader, writer)]


def obj(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, **extra}
    if required is not None:
        schema["required"] = required
    return schema


STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer"}
CLOSED_PERSON = obj({"name": STRING}, ["name"], additionalProperties=False)

# (reader, writer, the (path, keyword, reason) that must be reported)
FAILING = {
    "type_narrowed: a writer type missing": (STRING, {"type": ["string", "null"]}, ("$", "type", "type_narrowed")),
    "type_narrowed: number into integer": (INTEGER, {"type": "number"}, ("$", "type", "type_narrowed")),
    "type_narrowed: type added": (STRING, {"minLength": 1}, ("$", "type", "type_narrowed")),
    "type_narrowed: false schema": (False, {}, ("$", "type", "type_narrowed")),
    "type_narrowed: nested": (
        obj({"address": obj({"city": INTEGER})}),
        obj({"address": obj({"city": STRING})}),
        ("$.address.city", "type", "type_narrowed"),
    ),
    "property_now_required": (
        obj({"address": obj({"city": STRING}, ["city"])}),
        obj({"address": obj({"city": STRING})}),
        ("$.address.city", "required", "property_now_required"),
    ),
    "property_now_required: new required property": (
        obj({"name": STRING, "email": STRING}, ["name", "email"], additionalProperties=False),
        CLOSED_PERSON,
        ("$.email", "required", "property_now_required"),
    ),
    "property_removed: closed reader": (
        CLOSED_PERSON,
        obj({"name": STRING, "age": INTEGER}, ["name"], additionalProperties=False),
        ("$.age", "properties", "property_removed"),
    ),
    "property_removed: additionalProperties schema the property does not fit": (
        obj({"name": STRING}, additionalProperties=STRING),
        obj({"name": STRING, "age": INTEGER}, additionalProperties=False),
        ("$.age", "properties", "property_removed"),
    ),
    "property_removed: false property": (
        obj({"age": False}),
        obj({"age": INTEGER}),
        ("$.age", "properties", "property_removed"),
    ),
    "property_added_to_open_model": (
        obj({"name": STRING, "age": INTEGER}),
        obj({"name": STRING}),
        ("$.age", "properties", "property_added_to_open_model"),
    ),
    "additional_properties_tightened: true to false": (
        obj({"name": STRING}, additionalProperties=False),
        obj({"name": STRING}),
        ("$", "additionalProperties", "additional_properties_tightened"),
    ),
    "additional_properties_tightened: stricter schema": (
        obj({}, additionalProperties=STRING),
        obj({}, additionalProperties={"type": ["string", "integer"]}),
        ("$", "additionalProperties", "additional_properties_tightened"),
    ),
    "items_narrowed: no more items after the prefix": (
        {"type": "array", "prefixItems": [STRING], "items": False},
        {"type": "array", "prefixItems": [STRING], "items": STRING},
        ("$[*]", "items", "items_narrowed"),
    ),
    "items_narrowed: prefix position forbidden": (
        {"type": "array", "prefixItems": [STRING, False]},
        {"type": "array", "prefixItems": [STRING, STRING]},
        ("$[1]", "prefixItems", "items_narrowed"),
    ),
    "type_narrowed: array items": (
        obj({"tags": {"type": "array", "items": STRING}}),
        obj({"tags": {"type": "array", "items": {"type": ["string", "integer"]}}}),
        ("$.tags[*]", "type", "type_narrowed"),
    ),
    "type_narrowed: prefixItems position": (
        obj({"pairs": {"type": "array", "prefixItems": [INTEGER, STRING]}}),
        obj({"pairs": {"type": "array", "prefixItems": [{"type": "number"}, STRING]}}),
        ("$.pairs[0]", "type", "type_narrowed"),
    ),
    "enum_narrowed: value removed": (
        {"enum": ["a", "b"]},
        {"enum": ["a", "b", "c"]},
        ("$", "enum", "enum_narrowed"),
    ),
    "enum_narrowed: enum added": ({"type": "string", "enum": ["a"]}, STRING, ("$", "enum", "enum_narrowed")),
    "enum_narrowed: boolean writer": ({"enum": [True]}, {"type": "boolean"}, ("$", "enum", "enum_narrowed")),
    "const_changed": ({"const": "v2"}, {"const": "v1"}, ("$", "const", "const_changed")),
    "const_changed: const added": ({"type": "string", "const": "v1"}, STRING, ("$", "const", "const_changed")),
    "bound_tightened: minimum": (
        {"type": "number", "minimum": 5},
        {"type": "number", "minimum": 0},
        ("$", "minimum", "bound_tightened"),
    ),
    "bound_tightened: minimum added": (
        {"type": "number", "minimum": 0},
        {"type": "number"},
        ("$", "minimum", "bound_tightened"),
    ),
    "bound_tightened: maximum": (
        {"type": "number", "maximum": 10},
        {"type": "number", "maximum": 20},
        ("$", "maximum", "bound_tightened"),
    ),
    "bound_tightened: exclusiveMinimum over an equal minimum": (
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "number", "minimum": 0},
        ("$", "exclusiveMinimum", "bound_tightened"),
    ),
    "bound_tightened: exclusiveMaximum over an equal maximum": (
        {"type": "number", "exclusiveMaximum": 1},
        {"type": "number", "maximum": 1},
        ("$", "exclusiveMaximum", "bound_tightened"),
    ),
    "bound_tightened: minLength": (
        {"type": "string", "minLength": 3},
        {"type": "string", "minLength": 1},
        ("$", "minLength", "bound_tightened"),
    ),
    "bound_tightened: maxLength": ({"type": "string", "maxLength": 10}, STRING, ("$", "maxLength", "bound_tightened")),
    "bound_tightened: minItems": (
        {"type": "array", "minItems": 2},
        {"type": "array", "minItems": 1},
        ("$", "minItems", "bound_tightened"),
    ),
    "bound_tightened: maxItems": (
        {"type": "array", "maxItems": 3},
        {"type": "array", "maxItems": 4},
        ("$", "maxItems", "bound_tightened"),
    ),
    "bound_tightened: minProperties": (
        {"type": "object", "minProperties": 2},
        {"type": "object"},
        ("$", "minProperties", "bound_tightened"),
    ),
    "bound_tightened: maxProperties": (
        {"type": "object", "maxProperties": 1},
        obj({"a": STRING, "b": STRING}, additionalProperties=False),
        ("$", "maxProperties", "bound_tightened"),
    ),
    "bound_tightened: nested in an array": (
        obj({"scores": {"type": "array", "items": {"type": "integer", "maximum": 10}}}),
        obj({"scores": {"type": "array", "items": {"type": "integer", "maximum": 100}}}),
        ("$.scores[*]", "maximum", "bound_tightened"),
    ),
    "bound_tightened: an enum value out of range": (
        {"type": "integer", "maximum": 3},
        {"enum": [1, 5]},
        ("$", "maximum", "bound_tightened"),
    ),
    "multiple_of_changed": (
        {"type": "integer", "multipleOf": 4},
        {"type": "integer", "multipleOf": 2},
        ("$", "multipleOf", "multiple_of_changed"),
    ),
    "multiple_of_changed: on numbers": (
        {"type": "number", "multipleOf": 1},
        {"type": "number"},
        ("$", "multipleOf", "multiple_of_changed"),
    ),
    "pattern_changed: added": ({"type": "string", "pattern": "^[a-z]+$"}, STRING, ("$", "pattern", "pattern_changed")),
    "pattern_changed: changed": (
        {"type": "string", "pattern": "^[a-z]+$"},
        {"type": "string", "pattern": "^[a-z0-9]+$"},
        ("$", "pattern", "pattern_changed"),
    ),
    "pattern_changed: an enum value no longer matches": (
        {"type": "string", "pattern": "^[a-z]+$"},
        {"enum": ["ok", "NOT"]},
        ("$", "pattern", "pattern_changed"),
    ),
    "format_changed: added": (
        obj({"born": {"type": "string", "format": "date"}}),
        obj({"born": STRING}),
        ("$.born", "format", "format_changed"),
    ),
    "format_changed: changed": (
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        ("$", "format", "format_changed"),
    ),
    "unique_items_added": (
        {"type": "array", "uniqueItems": True},
        {"type": "array"},
        ("$", "uniqueItems", "unique_items_added"),
    ),
    "branch_narrowed: anyOf option removed": (
        {"anyOf": [STRING]},
        {"anyOf": [STRING, INTEGER]},
        ("$", "anyOf", "branch_narrowed"),
    ),
    "branch_narrowed: oneOf options overlap": (
        {"oneOf": [{"type": "number"}, INTEGER]},
        INTEGER,
        ("$", "oneOf", "branch_narrowed"),
    ),
    "branch_narrowed: nested anyOf": (
        obj({"id": {"anyOf": [STRING, {"type": "integer", "minimum": 1}]}}),
        obj({"id": {"anyOf": [STRING, INTEGER]}}),
        ("$.id", "anyOf", "branch_narrowed"),
    ),
    "keyword_unsupported_change: added": (
        {"type": "string", "not": {"const": ""}},
        STRING,
        ("$", "not", "keyword_unsupported_change"),
    ),
    "keyword_unsupported_change: changed": (
        {"type": "object", "propertyNames": {"maxLength": 3}},
        {"type": "object", "propertyNames": {"maxLength": 5}},
        ("$", "propertyNames", "keyword_unsupported_change"),
    ),
    "branch_narrowed: an enum value fits no option": (
        {"anyOf": [{"type": "string", "maxLength": 3}, INTEGER]},
        {"enum": ["ab", 4, "abcd"]},
        ("$", "anyOf", "branch_narrowed"),
    ),
    "keyword_unsupported_change: unevaluatedProperties beside a changed schema": (
        {"type": "object", "properties": {"a": STRING}, "unevaluatedProperties": False},
        {"type": "object", "properties": {"a": STRING, "b": STRING}, "unevaluatedProperties": False},
        ("$", "unevaluatedProperties", "keyword_unsupported_change"),
    ),
    "keyword_unsupported_change: unresolvable $ref": (
        {"$ref": "https://example.com/other.json"},
        {},
        ("$", "$ref", "keyword_unsupported_change"),
    ),
}

# (reader, writer): the reader accepts everything the writer accepts.
SAFE = {
    "identical": (CLOSED_PERSON, CLOSED_PERSON),
    "type widened": ({"type": ["string", "null"]}, STRING),
    "integer into number": ({"type": "number"}, INTEGER),
    "type removed": ({}, STRING),
    "true reader": (True, {"type": "object"}),
    "false writer": (STRING, False),
    "annotations only": (
        {"type": "string", "title": "New", "description": "d", "examples": ["x"], "deprecated": True, "$comment": "c"},
        {"type": "string", "title": "Old", "default": "y", "readOnly": True, "$schema": "x", "$id": "y"},
    ),
    "required dropped": (obj({"city": STRING}), obj({"city": STRING}, ["city"])),
    "required kept": (obj({"city": STRING}, ["city"]), obj({"city": STRING}, ["city"])),
    "optional property added to a closed writer": (
        obj({"name": STRING, "nickname": STRING}, ["name"], additionalProperties=False),
        CLOSED_PERSON,
    ),
    "property removed from an open reader": (obj({"name": STRING}), obj({"name": STRING, "age": INTEGER})),
    "removed property fits additionalProperties": (
        obj({"name": STRING}, additionalProperties=INTEGER),
        obj({"name": STRING, "age": INTEGER}, additionalProperties=False),
    ),
    "additionalProperties false to true": (obj({"name": STRING}), CLOSED_PERSON),
    "additionalProperties widened": (
        obj({}, additionalProperties={"type": ["string", "integer"]}),
        obj({}, additionalProperties=STRING),
    ),
    "patternProperties unchanged": (
        {"type": "object", "patternProperties": {"^x_": STRING}, "additionalProperties": False},
        {"type": "object", "patternProperties": {"^x_": STRING}, "additionalProperties": False},
    ),
    "items widened": ({"type": "array", "items": {"type": ["string", "integer"]}}, {"type": "array", "items": STRING}),
    "items allowed after the prefix": (
        {"type": "array", "prefixItems": [STRING], "items": STRING},
        {"type": "array", "prefixItems": [STRING], "items": False},
    ),
    "enum value added": ({"enum": ["a", "b", "c"]}, {"enum": ["a", "b"]}),
    "enum removed": (STRING, {"type": "string", "enum": ["a"]}),
    "enum covers booleans": ({"enum": [True, False, None]}, {"type": ["boolean", "null"]}),
    "const into an enum": ({"enum": ["v1", "v2"]}, {"const": "v1"}),
    "const kept": ({"const": "v1"}, {"const": "v1"}),
    "minimum widened": ({"type": "number", "minimum": 0}, {"type": "number", "minimum": 5}),
    "maximum widened": ({"type": "number", "maximum": 20}, {"type": "number", "maximum": 10}),
    "maximum removed": ({"type": "number"}, {"type": "number", "maximum": 10}),
    "exclusiveMinimum within a higher minimum": (
        {"type": "number", "exclusiveMinimum": 0},
        {"type": "number", "minimum": 1},
    ),
    "integer exclusiveMinimum equals minimum": (
        {"type": "integer", "minimum": 1},
        {"type": "integer", "exclusiveMinimum": 0},
    ),
    "exclusiveMaximum within a lower exclusiveMaximum": (
        {"type": "number", "exclusiveMaximum": 10},
        {"type": "number", "exclusiveMaximum": 5},
    ),
    "enum values within the bounds": ({"type": "integer", "minimum": 0, "maximum": 3}, {"enum": [1, 2]}),
    "minLength loosened": ({"type": "string", "minLength": 1}, {"type": "string", "minLength": 3}),
    "maxLength loosened": ({"type": "string", "maxLength": 20}, {"type": "string", "maxLength": 10}),
    "minItems loosened": ({"type": "array", "minItems": 1}, {"type": "array", "minItems": 2}),
    "maxItems from a closed prefix": (
        {"type": "array", "maxItems": 2},
        {"type": "array", "prefixItems": [STRING, STRING], "items": False},
    ),
    "minProperties from required": ({"type": "object", "minProperties": 1}, obj({"a": STRING}, ["a"])),
    "maxProperties loosened": ({"type": "object", "maxProperties": 5}, {"type": "object", "maxProperties": 3}),
    "multipleOf divides": ({"type": "integer", "multipleOf": 2}, {"type": "integer", "multipleOf": 4}),
    "multipleOf of decimals": ({"type": "number", "multipleOf": 0.1}, {"type": "number", "multipleOf": 0.2}),
    "multipleOf 1 on integers": ({"type": "number", "multipleOf": 1}, INTEGER),
    "pattern identical": ({"type": "string", "pattern": "^[a-z]+$"}, {"type": "string", "pattern": "^[a-z]+$"}),
    "pattern removed": (STRING, {"type": "string", "pattern": "^[a-z]+$"}),
    "enum values match the pattern": ({"type": "string", "pattern": "^[a-z]+$"}, {"enum": ["ok", "fine"]}),
    "format identical": ({"type": "string", "format": "date"}, {"type": "string", "format": "date"}),
    "format removed": (STRING, {"type": "string", "format": "date"}),
    "format on another type": ({"type": ["integer", "string"], "format": "date"}, INTEGER),
    "uniqueItems removed": ({"type": "array"}, {"type": "array", "uniqueItems": True}),
    "uniqueItems on arrays of one": ({"type": "array", "uniqueItems": True}, {"type": "array", "maxItems": 1}),
    "anyOf option added": ({"anyOf": [STRING, INTEGER]}, {"anyOf": [STRING]}),
    "anyOf accepts the writer": ({"anyOf": [STRING, INTEGER]}, STRING),
    "writer anyOf within the reader": ({"type": ["string", "integer"]}, {"anyOf": [STRING, INTEGER]}),
    "oneOf disjoint": ({"oneOf": [STRING, INTEGER]}, {"oneOf": [STRING, INTEGER]}),
    "oneOf split by the writer's types": ({"oneOf": [STRING, INTEGER]}, {"type": ["string", "integer"]}),
    "unevaluatedProperties in identical schemas": (
        {"type": "object", "properties": {"a": STRING}, "unevaluatedProperties": False},
        {"type": "object", "properties": {"a": STRING}, "unevaluatedProperties": False},
    ),
    "oneOf of an enum": ({"oneOf": [{"const": "a"}, {"const": "b"}]}, {"enum": ["a", "b"]}),
    "unsupported keyword identical": (
        {"type": "string", "not": {"const": ""}},
        {"type": "string", "not": {"const": ""}},
    ),
    "unsupported keyword only in the writer": (STRING, {"type": "string", "not": {"const": ""}}),
    "if/then/else identical": (
        {"if": {"type": "string"}, "then": {"minLength": 1}, "else": True},
        {"if": {"type": "string"}, "then": {"minLength": 1}, "else": True},
    ),
}


@pytest.mark.parametrize(("reader", "writer", "expected"), FAILING.values(), ids=FAILING.keys())
def test_narrowing_is_reported(reader: Any, writer: Any, expected: tuple[str, str, str]) -> None:
    found = narrowings(reader, writer)
    assert expected in [issue[:3] for issue in found]
    for path, _keyword, reason, message in found:
        assert reason in REASONS
        assert path.startswith("$")
        assert isinstance(message, str) and message and "%(" not in message


@pytest.mark.parametrize(("reader", "writer"), SAFE.values(), ids=SAFE.keys())
def test_safe_change_passes(reader: Any, writer: Any) -> None:
    assert narrowings(reader, writer) == []


def test_every_reason_code_is_exercised() -> None:
    assert {expected[2] for _r, _w, expected in FAILING.values()} == set(REASONS)


# --- exact results, paths and order --------------------------------------------------------------------------------


def test_all_incompatibilities_in_document_order() -> None:
    writer = obj(
        {"name": STRING, "age": {"type": "integer", "minimum": 0}, "city": STRING},
        ["name"],
        additionalProperties=False,
    )
    reader = obj(
        {"name": {"type": "string", "maxLength": 50}, "age": {"type": "integer", "minimum": 18}, "zip": STRING},
        ["name", "zip"],
        additionalProperties=False,
    )
    assert triples(reader, writer) == [
        ("$.zip", "required", "property_now_required"),
        ("$.name", "maxLength", "bound_tightened"),
        ("$.age", "minimum", "bound_tightened"),
        ("$.city", "properties", "property_removed"),
    ]
    assert triples(reader, writer) == triples(reader, writer)


def test_a_removed_property_message() -> None:
    [(path, keyword, reason, message)] = narrowings(
        CLOSED_PERSON, obj({"name": STRING, "age": INTEGER}, ["name"], additionalProperties=False)
    )
    assert (path, keyword, reason) == ("$.age", "properties", "property_removed")
    assert message == "Property age was removed and additional properties are not allowed."


def test_enum_lists_every_missing_value() -> None:
    [(_path, _keyword, reason, message)] = narrowings({"enum": ["a"]}, {"enum": ["a", "b", "c"]})
    assert reason == "enum_narrowed"
    assert '"b"' in message and '"c"' in message


def test_chinese_and_non_identifier_property_names() -> None:
    reader = obj({"名称": STRING, "a.b": STRING, "it's": STRING, "v_2": STRING})
    writer = obj({"名称": INTEGER, "a.b": INTEGER, "it's": INTEGER, "v_2": INTEGER})
    assert [issue[0] for issue in narrowings(reader, writer)] == ["$.名称", "$['a.b']", "$['it\\'s']", "$.v_2"]


def test_deeply_nested_paths() -> None:
    def wrap(city: dict[str, Any]) -> dict[str, Any]:
        return obj({"orders": {"type": "array", "items": obj({"address": obj({"city": city})})}})

    assert triples(wrap({"type": "string", "maxLength": 5}), wrap(STRING)) == [
        ("$.orders[*].address.city", "maxLength", "bound_tightened")
    ]


def test_pattern_properties_are_compared_by_regex() -> None:
    reader = {"type": "object", "patternProperties": {"^x_": INTEGER}}
    writer = {"type": "object", "patternProperties": {"^x_": STRING}}
    assert triples(reader, writer) == [("$[/^x_/]", "type", "type_narrowed")]
    # A declared property the reader's pattern matches must fit the pattern's schema.
    closed = obj({"x_count": STRING}, additionalProperties=False)
    assert triples(reader, closed) == [("$.x_count", "type", "type_narrowed")]
    # An open writer may have any other x_ property too.
    assert triples(reader, obj({"x_count": STRING})) == [
        ("$.x_count", "type", "type_narrowed"),
        ("$[/^x_/]", "type", "type_narrowed"),
    ]


def test_ref_to_defs_is_resolved() -> None:
    def with_defs(city: dict[str, Any]) -> dict[str, Any]:
        return {
            "$defs": {"address": obj({"city": city})},
            "type": "object",
            "properties": {"home": {"$ref": "#/$defs/address"}, "work": {"$ref": "#/$defs/address"}},
        }

    assert narrowings(with_defs(STRING), with_defs(STRING)) == []
    assert triples(with_defs({"type": "string", "minLength": 2}), with_defs(STRING)) == [
        ("$.home.city", "minLength", "bound_tightened"),
        ("$.work.city", "minLength", "bound_tightened"),
    ]
    # The same content inlined on one side and referenced on the other is the same schema.
    inline = obj({"home": obj({"city": STRING}), "work": obj({"city": STRING})})
    assert narrowings(inline, with_defs(STRING)) == []
    assert narrowings(with_defs(STRING), inline) == []


def test_recursive_ref_terminates() -> None:
    def tree(value: dict[str, Any]) -> dict[str, Any]:
        return {
            "$defs": {"node": obj({"value": value, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}})},
            "$ref": "#/$defs/node",
        }

    assert narrowings(tree(INTEGER), tree(INTEGER)) == []
    assert narrowings(tree({"type": "number"}), tree(INTEGER)) == []
    assert ("$.value", "type", "type_narrowed") in triples(tree(INTEGER), tree({"type": "number"}))
    # A $ref cycle that never reaches a schema is reported, not followed forever.
    loop = {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}
    assert ("$", "$ref", "keyword_unsupported_change") in triples(loop, {})


def test_all_of_and_ref_siblings() -> None:
    base = {"$defs": {"named": obj({"name": STRING}, ["name"])}}
    writer = {**base, "allOf": [{"$ref": "#/$defs/named"}, obj({"age": INTEGER})]}
    assert narrowings({**base, "$ref": "#/$defs/named"}, writer) == []
    reader = {**base, "$ref": "#/$defs/named", "properties": {"age": {"type": "integer", "minimum": 0}}}
    assert triples(reader, writer) == [("$.age", "minimum", "bound_tightened")]


def test_boolean_schemas() -> None:
    assert narrowings(True, True) == []
    assert narrowings(True, False) == []
    assert narrowings(False, False) == []
    assert triples(False, True) == [("$", "type", "type_narrowed")]
    assert triples(STRING, True) == [("$", "type", "type_narrowed")]
    assert (
        narrowings({"type": "object", "properties": {"a": True}}, {"type": "object", "properties": {"a": STRING}}) == []
    )


def test_anyof_paths_and_writer_branches() -> None:
    reader = obj({"contact": {"anyOf": [obj({"email": STRING}, ["email"]), obj({"phone": STRING}, ["phone"])]}})
    same = obj({"contact": {"anyOf": [obj({"email": STRING}, ["email"]), obj({"phone": STRING}, ["phone"])]}})
    assert narrowings(reader, same) == []
    writer = obj({"contact": {"anyOf": [obj({"email": STRING}, ["email"]), obj({"fax": STRING}, ["fax"])]}})
    assert triples(reader, writer) == [("$.contact", "anyOf", "branch_narrowed")]
    # Each writer branch is checked on its own against a reader without anyOf.
    assert triples({"type": "string", "maxLength": 3}, {"anyOf": [{"maxLength": 2}, {"maxLength": 9}]}) == [
        ("$", "type", "type_narrowed"),
        ("$", "maxLength", "bound_tightened"),
    ]


def test_invalid_input_types() -> None:
    with pytest.raises(TypeError):
        narrowings([], {})  # type: ignore[arg-type]


# --- modes ---------------------------------------------------------------------------------------------------------

V_OPEN = obj({"name": STRING})
V_AGE = obj({"name": STRING, "age": INTEGER}, additionalProperties=False)


def reasons(found: list[Incompatibility]) -> list[tuple[str, str, str, int, str]]:
    return [(i.path, i.keyword, i.reason, i.version, i.direction) for i in found]


def test_modes_are_published() -> None:
    assert MODES == (
        "NONE",
        "BACKWARD",
        "BACKWARD_TRANSITIVE",
        "FORWARD",
        "FORWARD_TRANSITIVE",
        "FULL",
        "FULL_TRANSITIVE",
    )


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError):
        compatibility_check(V_OPEN, [(1, V_OPEN)], "SIDEWAYS")
    with pytest.raises(ValueError):
        compatibility_check(V_OPEN, [], "backward")


@pytest.mark.parametrize("mode", MODES)
def test_first_version_is_always_compatible(mode: str) -> None:
    assert compatibility_check({"type": "string", "enum": ["x"]}, [], mode) == []


def test_none_accepts_anything() -> None:
    assert compatibility_check(INTEGER, [(1, STRING), (2, {"type": "boolean"})], "NONE") == []


def test_backward() -> None:
    # The new schema reads the old data: closing an open model is not safe, adding an optional field to a closed one is.
    assert reasons(compatibility_check(V_AGE, [(1, V_OPEN)], "BACKWARD")) == [
        ("$.age", "properties", "property_added_to_open_model", 1, "backward"),
        ("$", "additionalProperties", "additional_properties_tightened", 1, "backward"),
    ]
    widened = obj({"name": STRING, "age": {"type": "number"}, "nickname": STRING}, additionalProperties=False)
    assert compatibility_check(widened, [(1, V_AGE)], "BACKWARD") == []
    [issue] = compatibility_check(obj({"name": STRING}, ["name"]), [(4, V_OPEN)], "BACKWARD")
    assert issue == Incompatibility(
        path="$.name",
        keyword="required",
        reason="property_now_required",
        message="Property name is required but may be missing.",
        version=4,
        direction="backward",
    )
    assert issue.as_dict() == {
        "path": "$.name",
        "keyword": "required",
        "reason": "property_now_required",
        "message": "Property name is required but may be missing.",
        "version": 4,
        "direction": "backward",
    }


def test_backward_compares_with_the_latest_only() -> None:
    v1 = {"enum": ["a", "b", "c"]}
    v2 = {"enum": ["a", "b"]}  # Registered under another mode: it dropped "c".
    v3 = {"enum": ["a", "b", "d"]}
    previous = [(1, v1), (2, v2)]
    assert compatibility_check(v3, previous, "BACKWARD") == []
    assert reasons(compatibility_check(v3, previous, "BACKWARD_TRANSITIVE")) == [
        ("$", "enum", "enum_narrowed", 1, "backward"),
    ]


def test_backward_transitive_passes_a_compatible_history() -> None:
    v1 = {"type": "integer", "minimum": 10, "maximum": 20}
    v2 = {"type": "integer", "minimum": 5, "maximum": 20}
    v3 = {"type": "number", "minimum": 0}
    assert compatibility_check(v3, [(1, v1), (2, v2)], "BACKWARD_TRANSITIVE") == []
    assert compatibility_check(v2, [(1, v1), (2, v3)], "BACKWARD") != []


def test_backward_transitive_reports_each_version() -> None:
    v1 = {"type": "string", "maxLength": 30}
    v2 = {"type": "string", "maxLength": 20}
    found = compatibility_check({"type": "string", "maxLength": 10}, [(1, v1), (2, v2)], "BACKWARD_TRANSITIVE")
    assert reasons(found) == [
        ("$", "maxLength", "bound_tightened", 1, "backward"),
        ("$", "maxLength", "bound_tightened", 2, "backward"),
    ]


def test_forward() -> None:
    # The old schema reads the new data: adding an enum value is not safe, removing one is.
    old = obj({"status": {"enum": ["new", "done"]}}, ["status"])
    assert reasons(
        compatibility_check(obj({"status": {"enum": ["new", "done", "lost"]}}, ["status"]), [(1, old)], "FORWARD")
    ) == [
        ("$.status", "enum", "enum_narrowed", 1, "forward"),
    ]
    assert compatibility_check(obj({"status": {"enum": ["new"]}}, ["status"]), [(1, old)], "FORWARD") == []
    # Dropping a required field breaks the old readers; adding one does not.
    assert reasons(compatibility_check(obj({"status": {"enum": ["new"]}}), [(3, old)], "FORWARD")) == [
        ("$.status", "required", "property_now_required", 3, "forward"),
    ]
    assert (
        compatibility_check(obj({"status": {"const": "new"}, "x": STRING}, ["status", "x"]), [(3, old)], "FORWARD")
        == []
    )


def test_forward_is_the_reverse_of_backward() -> None:
    narrow = {"type": "integer", "maximum": 5}
    wide = {"type": "integer"}
    assert compatibility_check(narrow, [(1, wide)], "FORWARD") == []
    assert reasons(compatibility_check(wide, [(1, narrow)], "FORWARD")) == [
        ("$", "maximum", "bound_tightened", 1, "forward"),
    ]


def test_forward_transitive() -> None:
    v1 = {"enum": ["a", "b"]}
    v2 = {"enum": ["a", "b", "c"]}  # Registered under another mode: it added "c".
    new = {"enum": ["a", "c"]}
    previous = [(1, v1), (2, v2)]
    assert compatibility_check(new, previous, "FORWARD") == []
    assert reasons(compatibility_check(new, previous, "FORWARD_TRANSITIVE")) == [
        ("$", "enum", "enum_narrowed", 1, "forward"),
    ]
    assert compatibility_check({"enum": ["a"]}, previous, "FORWARD_TRANSITIVE") == []


def test_full() -> None:
    v1 = {"type": "integer", "minimum": 1, "title": "Count"}
    # The same set of documents written differently is fully compatible.
    assert compatibility_check({"type": "integer", "exclusiveMinimum": 0, "description": "d"}, [(1, v1)], "FULL") == []
    # A wider schema fails forward only, a narrower one backward only.
    assert reasons(compatibility_check({"type": "integer"}, [(1, v1)], "FULL")) == [
        ("$", "minimum", "bound_tightened", 1, "forward"),
    ]
    assert reasons(compatibility_check({"type": "integer", "minimum": 2}, [(1, v1)], "FULL")) == [
        ("$", "minimum", "bound_tightened", 1, "backward"),
    ]
    # An optional field added to a closed model: the new schema reads the old data, the old one not the new data.
    assert reasons(
        compatibility_check(
            obj({"name": STRING, "age": INTEGER}, ["name"], additionalProperties=False), [(2, CLOSED_PERSON)], "FULL"
        )
    ) == [("$.age", "properties", "property_removed", 2, "forward")]


def test_full_transitive() -> None:
    v1 = STRING
    v2: dict[str, Any] = {"type": "string", "maxLength": 10}  # Registered under another mode.
    new = {"type": "string", "maxLength": 10, "description": "Short"}
    previous = [(1, v1), (2, v2)]
    assert compatibility_check(new, previous, "FULL") == []
    assert reasons(compatibility_check(new, previous, "FULL_TRANSITIVE")) == [
        ("$", "maxLength", "bound_tightened", 1, "backward"),
    ]
    assert compatibility_check(new, [(1, v2), (2, v2)], "FULL_TRANSITIVE") == []
