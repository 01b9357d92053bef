"""Document migration plans: compile, apply, propose and diff (pure Python, no database)."""

import copy
import json
import pickle
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import translation
from jsonschema import Draft202012Validator

from schema_registry.plan import (
    CASTS,
    MAX_OPERATIONS,
    OPERATIONS,
    CompiledPlan,
    OperationError,
    PlanError,
    document_diff,
    plan_compile,
    plan_propose,
)


@pytest.fixture(autouse=True)
def _english() -> Iterator[None]:
    with translation.override("en"):
        yield


def run(plan: list[dict], document: Any) -> Any:
    return plan_compile(plan).apply(document)


def fails(plan: list[dict], document: Any) -> OperationError:
    with pytest.raises(OperationError) as caught:
        plan_compile(plan).apply(document)
    return caught.value


def compile_error(plan: Any) -> PlanError:
    with pytest.raises(PlanError) as caught:
        plan_compile(plan)
    return caught.value


# --- plan_compile ------------------------------------------------------------------------------------------------


def test_operations_are_the_seven_names() -> None:
    assert OPERATIONS == (
        "add_field",
        "remove_field",
        "rename_field",
        "move_field",
        "change_type",
        "set_default",
        "map_values",
    )


def test_compile_normalizes_the_stored_form() -> None:
    plan = [
        {"path": "score", "to": "number", "op": "change_type"},
        {"op": "map_values", "path": "status", "default": None, "mapping": [{"to": "b", "from": "a"}]},
    ]
    compiled = plan_compile(plan)
    assert isinstance(compiled, CompiledPlan)
    assert len(compiled) == 2
    assert compiled.operations == [
        {"op": "change_type", "path": "score", "to": "number", "on_error": "fail"},
        {"op": "map_values", "path": "status", "mapping": [{"from": "a", "to": "b"}], "default": None},
    ]
    assert [list(op) for op in compiled.operations] == [
        ["op", "path", "to", "on_error"],
        ["op", "path", "mapping", "default"],
    ]
    # The stored form compiles to itself and survives JSON.
    assert plan_compile(json.loads(json.dumps(compiled.operations))).operations == compiled.operations


def test_compile_keeps_map_values_without_default_apart_from_default_null() -> None:
    without = plan_compile([{"op": "map_values", "path": "a", "mapping": [{"from": 1, "to": 2}]}])
    assert "default" not in without.operations[0]
    assert without.apply({"a": 5}) == {"a": 5}
    with_null = plan_compile([{"op": "map_values", "path": "a", "mapping": [{"from": 1, "to": 2}], "default": None}])
    assert with_null.apply({"a": 5}) == {"a": None}


def test_compiled_plan_owns_its_values() -> None:
    default = {"city": "北京"}
    plan = [{"op": "add_field", "path": "address", "default": default}]
    compiled = plan_compile(plan)
    default["city"] = "上海"
    compiled.operations[0]["default"]["city"] = "广州"
    assert compiled.apply({}) == {"address": {"city": "北京"}}


def test_empty_plan_returns_a_copy() -> None:
    document = {"a": {"b": [1, 2]}}
    result = plan_compile([]).apply(document)
    assert result == document
    assert result is not document
    assert result["a"] is not document["a"]
    assert result["a"]["b"] is not document["a"]["b"]


def test_compiled_plan_repr() -> None:
    assert repr(plan_compile([{"op": "remove_field", "path": "a"}])) == "<CompiledPlan: 1 operations>"


def test_compile_rejects_values_nested_too_deep() -> None:
    deep: Any = 1
    for _ in range(70):
        deep = [deep]
    assert compile_error([{"op": "add_field", "path": "a", "default": deep}]).field == "default"


def test_a_plan_of_the_maximum_size_compiles() -> None:
    assert len(plan_compile([{"op": "remove_field", "path": f"f{i}"} for i in range(MAX_OPERATIONS)])) == 100


@pytest.mark.parametrize(
    ("plan", "index", "field"),
    [
        pytest.param({"op": "remove_field", "path": "a"}, None, None, id="not-a-list"),
        pytest.param("[]", None, None, id="a-string"),
        pytest.param(None, None, None, id="none"),
        pytest.param([{"op": "remove_field", "path": f"f{i}"} for i in range(101)], None, None, id="too-many"),
        pytest.param([["remove_field", "a"]], 0, None, id="not-a-dict"),
        pytest.param([{"op": "remove_field", "path": "a"}, "remove a"], 1, None, id="second-not-a-dict"),
        pytest.param([{"path": "a"}], 0, "op", id="missing-op"),
        pytest.param([{"op": "drop_field", "path": "a"}], 0, "op", id="unknown-op"),
        pytest.param([{"op": ["remove_field"], "path": "a"}], 0, "op", id="op-not-a-string"),
        pytest.param([{"op": "remove_field"}], 0, "path", id="missing-path"),
        pytest.param([{"op": "add_field", "path": "a"}], 0, "default", id="missing-default"),
        pytest.param([{"op": "rename_field", "path": "a"}], 0, "to", id="missing-rename-to"),
        pytest.param([{"op": "set_default", "path": "a"}], 0, "value", id="missing-value"),
        pytest.param([{"op": "map_values", "path": "a"}], 0, "mapping", id="missing-mapping"),
        pytest.param([{"op": "remove_field", "path": "a", "default": 1}], 0, "default", id="unknown-key"),
        pytest.param([{"op": "add_field", "path": "a", "default": 1, "value": 2}], 0, "value", id="unknown-key-2"),
        pytest.param([{"op": "remove_field", "path": "a..b"}], 0, "path", id="empty-segment"),
        pytest.param([{"op": "remove_field", "path": ""}], 0, "path", id="empty-path"),
        pytest.param([{"op": "remove_field", "path": ".a"}], 0, "path", id="leading-dot"),
        pytest.param([{"op": "remove_field", "path": "a."}], 0, "path", id="trailing-dot"),
        pytest.param([{"op": "remove_field", "path": 3}], 0, "path", id="path-not-a-string"),
        pytest.param([{"op": "remove_field", "path": "/a~2b"}], 0, "path", id="bad-pointer-escape"),
        pytest.param([{"op": "remove_field", "path": "/a~"}], 0, "path", id="dangling-tilde"),
        pytest.param([{"op": "remove_field", "path": "tags.*"}], 0, "path", id="remove-ends-with-star"),
        pytest.param([{"op": "add_field", "path": "*", "default": 1}], 0, "path", id="add-ends-with-star"),
        pytest.param([{"op": "rename_field", "path": "a.*", "to": "b"}], 0, "path", id="rename-ends-with-star"),
        pytest.param([{"op": "rename_field", "path": "a", "to": ""}], 0, "to", id="rename-to-empty"),
        pytest.param([{"op": "rename_field", "path": "a", "to": 1}], 0, "to", id="rename-to-not-a-string"),
        pytest.param([{"op": "rename_field", "path": "x.a", "to": "a"}], 0, "to", id="rename-to-itself"),
        pytest.param([{"op": "move_field", "path": "a", "to": "b..c"}], 0, "to", id="move-bad-target"),
        pytest.param([{"op": "move_field", "path": "a", "to": "a"}], 0, "to", id="move-to-itself"),
        pytest.param([{"op": "move_field", "path": "a.b", "to": "a"}], 0, "to", id="move-into-own-parent"),
        pytest.param([{"op": "move_field", "path": "m.*.a", "to": "b"}], 0, "to", id="move-star-to-plain"),
        pytest.param([{"op": "move_field", "path": "a", "to": "m.*.a"}], 0, "to", id="move-plain-to-star"),
        pytest.param([{"op": "move_field", "path": "m.*.a", "to": "n.*.a"}], 0, "to", id="move-other-array"),
        pytest.param([{"op": "move_field", "path": "m.*.a", "to": "m.*"}], 0, "to", id="move-to-star"),
        pytest.param([{"op": "change_type", "path": "a", "to": "date"}], 0, "to", id="unknown-type"),
        pytest.param([{"op": "change_type", "path": "a", "to": "null"}], 0, "to", id="type-null"),
        pytest.param(
            [{"op": "change_type", "path": "a", "to": "string", "on_error": "skip"}], 0, "on_error", id="on-error"
        ),
        pytest.param([{"op": "add_field", "path": "a", "default": {1, 2}}], 0, "default", id="default-a-set"),
        pytest.param([{"op": "add_field", "path": "a", "default": float("nan")}], 0, "default", id="default-nan"),
        pytest.param([{"op": "set_default", "path": "a", "value": {1: "x"}}], 0, "value", id="value-int-key"),
        pytest.param([{"op": "set_default", "path": "a", "value": (1, 2)}], 0, "value", id="value-a-tuple"),
        pytest.param([{"op": "map_values", "path": "a", "mapping": {"x": "y"}}], 0, "mapping", id="mapping-a-dict"),
        pytest.param([{"op": "map_values", "path": "a", "mapping": []}], 0, "mapping", id="mapping-empty"),
        pytest.param([{"op": "map_values", "path": "a", "mapping": [{"from": 1}]}], 0, "mapping", id="entry-no-to"),
        pytest.param(
            [{"op": "map_values", "path": "a", "mapping": [{"from": 1, "to": 2, "x": 3}]}],
            0,
            "mapping",
            id="entry-extra",
        ),
        pytest.param(
            [{"op": "map_values", "path": "a", "mapping": [{"from": 1, "to": 2}, {"from": 1.0, "to": 3}]}],
            0,
            "mapping",
            id="entry-repeated",
        ),
        pytest.param(
            [{"op": "map_values", "path": "a", "mapping": [{"from": object(), "to": 2}]}],
            0,
            "mapping",
            id="entry-not-json",
        ),
        pytest.param(
            [{"op": "map_values", "path": "a", "mapping": [{"from": 1, "to": 2}], "default": float("inf")}],
            0,
            "default",
            id="map-default-inf",
        ),
    ],
)
def test_compile_rejects_malformed_plans(plan: Any, index: int | None, field: str | None) -> None:
    error = compile_error(plan)
    assert isinstance(error, ValueError)
    assert (error.index, error.field) == (index, field)
    assert error.message
    assert str(error) == error.message


def test_compile_error_messages_name_the_problem() -> None:
    assert "a..b" in compile_error([{"op": "remove_field", "path": "a..b"}]).message
    assert "drop_field" in compile_error([{"op": "drop_field", "path": "a"}]).message
    assert "101" in compile_error([{"op": "remove_field", "path": "a"}] * 101).message


def test_compile_error_messages_are_translated() -> None:
    with translation.override("zh-hans"):
        error = compile_error([{"op": "remove_field"}])
    assert error.field == "path"
    assert error.message == "该字段是必填项。"


def test_mapping_true_and_1_are_different_entries() -> None:
    compiled = plan_compile(
        [{"op": "map_values", "path": "a", "mapping": [{"from": True, "to": "yes"}, {"from": 1, "to": "one"}]}]
    )
    assert compiled.apply({"a": True}) == {"a": "yes"}
    assert compiled.apply({"a": 1}) == {"a": "one"}


# --- paths ------------------------------------------------------------------------------------------------------


def test_chinese_keys_in_dotted_paths() -> None:
    plan = [
        {"op": "add_field", "path": "联系人.电话", "default": ""},
        {"op": "rename_field", "path": "联系人.姓名", "to": "名字"},
    ]
    assert run(plan, {"联系人": {"姓名": "张三"}}) == {"联系人": {"名字": "张三", "电话": ""}}


def test_json_pointer_path_addresses_a_key_with_a_dot() -> None:
    document = {"a.b": {"c": 1}, "a": {"b": {"c": 2}}}
    assert run([{"op": "remove_field", "path": "/a.b/c"}], document) == {"a.b": {}, "a": {"b": {"c": 2}}}
    assert run([{"op": "remove_field", "path": "a.b.c"}], document) == {"a.b": {"c": 1}, "a": {"b": {}}}


def test_json_pointer_escapes() -> None:
    document = {"a/b": {"m~n": 1}}
    assert run([{"op": "rename_field", "path": "/a~1b/m~0n", "to": "x"}], document) == {"a/b": {"x": 1}}


def test_json_pointer_empty_key_and_star() -> None:
    assert run([{"op": "set_default", "path": "/", "value": 1}], {}) == {"": 1}
    assert run([{"op": "remove_field", "path": "/m/*/a.b"}], {"m": [{"a.b": 1, "c": 2}]}) == {"m": [{"c": 2}]}


def test_star_maps_over_nested_arrays() -> None:
    document = {"teams": [{"members": [{"role": "lead"}, {"role": "dev"}]}, {"members": [{"role": "dev"}]}, {}]}
    plan = [{"op": "map_values", "path": "teams.*.members.*.role", "mapping": [{"from": "dev", "to": "开发"}]}]
    assert run(plan, document) == {
        "teams": [{"members": [{"role": "lead"}, {"role": "开发"}]}, {"members": [{"role": "开发"}]}, {}]
    }


def test_error_paths_name_the_concrete_value() -> None:
    plan = [{"op": "change_type", "path": "teams.*.members.*.age", "to": "integer"}]
    error = fails(plan, {"teams": [{"members": []}, {"members": [{"age": "1"}, {"age": "x"}]}]})
    assert error.path == "$.teams[1].members[1].age"
    error = fails([{"op": "change_type", "path": "/a.b/电话", "to": "integer"}], {"a.b": {"电话": "x"}})
    assert error.path == '$["a.b"].电话'


# --- add_field --------------------------------------------------------------------------------------------------


def test_add_field_sets_a_missing_key() -> None:
    assert run([{"op": "add_field", "path": "tags", "default": []}], {"name": "A"}) == {"name": "A", "tags": []}


def test_add_field_leaves_a_present_value() -> None:
    plan = [{"op": "add_field", "path": "tags", "default": []}]
    assert run(plan, {"tags": ["x"]}) == {"tags": ["x"]}
    assert run(plan, {"tags": None}) == {"tags": None}


def test_add_field_creates_intermediate_objects() -> None:
    plan = [{"op": "add_field", "path": "address.geo.lat", "default": 0}]
    assert run(plan, {}) == {"address": {"geo": {"lat": 0}}}
    assert run(plan, {"address": {"city": "x"}}) == {"address": {"city": "x", "geo": {"lat": 0}}}


def test_add_field_through_a_non_object_fails() -> None:
    error = fails([{"op": "add_field", "path": "address.geo.lat", "default": 0}], {"address": {"geo": "here"}})
    assert error.path == "$.address.geo"
    assert error.index == 0
    assert "not an object" in error.message
    assert str(error) == f"$.address.geo: {error.message}"
    assert fails([{"op": "add_field", "path": "a.b", "default": 0}], {"a": None}).path == "$.a"
    assert fails([{"op": "add_field", "path": "a", "default": 0}], ["not", "an", "object"]).path == "$"


def test_add_field_gives_each_document_its_own_default() -> None:
    compiled = plan_compile([{"op": "add_field", "path": "tags", "default": []}])
    first, second = compiled.apply({}), compiled.apply({})
    first["tags"].append("x")
    assert second == {"tags": []}


def test_add_field_in_each_element() -> None:
    plan = [{"op": "add_field", "path": "members.*.role", "default": "member"}]
    document = {"members": [{"name": "a"}, {"name": "b", "role": "owner"}]}
    assert run(plan, document) == {"members": [{"name": "a", "role": "member"}, {"name": "b", "role": "owner"}]}
    assert run(plan, {}) == {}
    assert run(plan, {"members": []}) == {"members": []}
    assert fails(plan, {"members": [{}, "b"]}).path == "$.members[1]"
    assert fails(plan, {"members": "all"}).path == "$.members"
    plan = [{"op": "add_field", "path": "org.members.*.role", "default": "member"}]
    assert fails(plan, {"org": "x"}).path == "$.org"
    assert run(plan, {}) == {}


# --- remove_field -----------------------------------------------------------------------------------------------


def test_remove_field() -> None:
    plan = [{"op": "remove_field", "path": "contact.fax"}]
    assert run(plan, {"contact": {"fax": "1", "email": "e"}}) == {"contact": {"email": "e"}}
    assert run(plan, {"contact": {"email": "e"}}) == {"contact": {"email": "e"}}
    assert run(plan, {}) == {}
    # A path through a value of another kind is a missing path.
    assert run(plan, {"contact": "e"}) == {"contact": "e"}
    assert run(plan, ["x"]) == ["x"]


def test_remove_field_in_each_element() -> None:
    plan = [{"op": "remove_field", "path": "members.*.token"}]
    document = {"members": [{"token": "t", "name": "a"}, {"name": "b"}, "c"]}
    assert run(plan, document) == {"members": [{"name": "a"}, {"name": "b"}, "c"]}
    assert run(plan, {"members": {"token": "t"}}) == {"members": {"token": "t"}}
    assert run([{"op": "remove_field", "path": "org.members.*.x"}], {"org": "x"}) == {"org": "x"}


def test_top_level_path_on_a_document_that_is_not_an_object() -> None:
    assert run([{"op": "remove_field", "path": "a"}], ["a"]) == ["a"]
    assert run([{"op": "map_values", "path": "*", "mapping": [{"from": "a", "to": "b"}]}], ["a", "c"]) == ["b", "c"]


# --- rename_field -----------------------------------------------------------------------------------------------


def test_rename_field_keeps_key_order() -> None:
    result = run([{"op": "rename_field", "path": "b", "to": "β"}], {"a": 1, "b": 2, "c": 3})
    assert list(result.items()) == [("a", 1), ("β", 2), ("c", 3)]
    result = run([{"op": "rename_field", "path": "c", "to": "γ"}], {"a": 1, "b": 2, "c": 3})
    assert list(result.items()) == [("a", 1), ("b", 2), ("γ", 3)]


def test_rename_field_nested_and_missing() -> None:
    plan = [{"op": "rename_field", "path": "contact.phone", "to": "电话"}]
    assert run(plan, {"contact": {"phone": "1"}}) == {"contact": {"电话": "1"}}
    assert run(plan, {"contact": {}}) == {"contact": {}}
    assert run(plan, {}) == {}


def test_rename_field_onto_an_existing_key_fails() -> None:
    error = fails(
        [{"op": "rename_field", "path": "contact.phone", "to": "mobile"}], {"contact": {"phone": 1, "mobile": 2}}
    )
    assert error.path == "$.contact.mobile"
    assert "phone" in error.message


def test_rename_field_in_each_element() -> None:
    plan = [{"op": "rename_field", "path": "members.*.name", "to": "display_name"}]
    document = {"members": [{"name": "a", "id": 1}, {"id": 2}]}
    assert run(plan, document) == {"members": [{"display_name": "a", "id": 1}, {"id": 2}]}


def test_rename_field_to_a_key_with_a_dot() -> None:
    assert run([{"op": "rename_field", "path": "a", "to": "a.b"}], {"a": 1}) == {"a.b": 1}


# --- move_field -------------------------------------------------------------------------------------------------


def test_move_field_creates_the_target_path() -> None:
    plan = [{"op": "move_field", "path": "city", "to": "address.city"}]
    assert run(plan, {"city": "北京", "name": "A"}) == {"name": "A", "address": {"city": "北京"}}
    assert run(plan, {"city": "北京", "address": {"zip": "1"}}) == {"address": {"zip": "1", "city": "北京"}}


def test_move_field_missing_source_is_a_no_op() -> None:
    plan = [{"op": "move_field", "path": "city", "to": "address.city"}]
    assert run(plan, {"name": "A"}) == {"name": "A"}


def test_move_field_onto_an_existing_value_fails() -> None:
    plan = [{"op": "move_field", "path": "city", "to": "address.city"}]
    assert fails(plan, {"city": "a", "address": {"city": "b"}}).path == "$.address.city"
    assert fails(plan, {"city": "a", "address": "b"}).path == "$.address"


def test_move_field_into_itself_nests_the_value() -> None:
    assert run([{"op": "move_field", "path": "a", "to": "a.b"}], {"a": [1]}) == {"a": {"b": [1]}}


def test_move_field_inside_each_element() -> None:
    plan = [{"op": "move_field", "path": "members.*.first", "to": "members.*.name.first"}]
    document = {"members": [{"first": "三", "id": 1}, {"id": 2}]}
    assert run(plan, document) == {"members": [{"id": 1, "name": {"first": "三"}}, {"id": 2}]}


# --- change_type ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "to", "expected"),
    [
        ("42", "integer", 42),
        (" 42\n", "integer", 42),
        ("-7", "integer", -7),
        ("3.0", "integer", 3),
        ("1e3", "integer", 1000),
        ("123456789012345678901234567890", "integer", 123456789012345678901234567890),
        ("3.5", "number", 3.5),
        (" -0.25 ", "number", -0.25),
        ("7", "number", 7),
        ("1e-3", "number", 0.001),
        (3, "string", "3"),
        (3.0, "string", "3"),
        (0.1, "string", "0.1"),
        (1.5e-7, "string", "1.5e-07"),
        (-2.5, "string", "-2.5"),
        (1e20, "string", "1e+20"),
        (12345678901234567890, "string", "12345678901234567890"),
        (3, "number", 3),
        (4.0, "integer", 4),
        (True, "string", "true"),
        (False, "string", "false"),
        ("TRUE", "boolean", True),
        ("no", "boolean", False),
        (" Yes ", "boolean", True),
        ("0", "boolean", False),
        ("1", "boolean", True),
        ("x", "array", ["x"]),
        (5, "array", [5]),
        ({"a": 1}, "array", [{"a": 1}]),
        (None, "array", []),
        (["7"], "integer", 7),
        ([2.0], "integer", 2),
        (["only"], "string", "only"),
        ([{"a": 1}], "object", {"a": 1}),
        ([None], "string", None),
        (None, "string", None),
        (None, "integer", None),
        (None, "object", None),
        ("s", "string", "s"),
        ([1, 2], "array", [1, 2]),
        ({"a": 1}, "object", {"a": 1}),
        (True, "boolean", True),
    ],
)
def test_change_type_casts(value: Any, to: str, expected: Any) -> None:
    result = run([{"op": "change_type", "path": "v", "to": to}], {"v": value})["v"]
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "to"),
    [
        ("", "integer"),
        ("   ", "number"),
        ("3.5", "integer"),
        ("NaN", "number"),
        ("nan", "integer"),
        ("inf", "number"),
        ("-Infinity", "number"),
        ("1e999", "number"),
        ("1e999", "integer"),
        ("1_000", "integer"),
        ("１２", "integer"),
        ("１２", "number"),
        ([True], "integer"),
        ({1, 2}, "string"),
        ("0x10", "integer"),
        ("12abc", "number"),
        ("maybe", "boolean"),
        ("", "boolean"),
        (3.5, "integer"),
        (1, "boolean"),
        (True, "integer"),
        (True, "number"),
        ("{}", "object"),
        (1, "object"),
        ([], "string"),
        ([1, 2], "integer"),
        ([[1]], "integer"),
        (["x"], "integer"),
        ({"a": 1}, "string"),
    ],
)
def test_change_type_failures(value: Any, to: str) -> None:
    error = fails([{"op": "change_type", "path": "data.v", "to": to}], {"data": {"v": value}})
    assert error.path == "$.data.v"
    assert to in error.message
    plan = [{"op": "change_type", "path": "data.v", "to": to, "on_error": "null"}]
    assert run(plan, {"data": {"v": value}}) == {"data": {"v": None}}
    plan = [{"op": "change_type", "path": "data.v", "to": to, "on_error": "keep"}]
    assert run(plan, {"data": {"v": value}}) == {"data": {"v": value}}


def sample(kind: str, to: str) -> Any:
    """A value of the JSON kind ``kind`` that a supported cast to ``to`` accepts."""
    if kind == "array":
        return [{"a": 1}] if to == "object" else ["1"]
    return {"null": None, "boolean": True, "integer": 3, "number": 2.0, "string": "1", "object": {"a": 1}}[kind]


@pytest.mark.parametrize("kind", ["null", "boolean", "integer", "number", "string", "array", "object"])
@pytest.mark.parametrize("to", ["string", "number", "integer", "boolean", "array", "object"])
def test_casts_lists_exactly_the_supported_pairs(kind: str, to: str) -> None:
    compiled = plan_compile([{"op": "change_type", "path": "v", "to": to}])
    if (kind, to) in CASTS:
        compiled.apply({"v": sample(kind, to)})
    else:
        with pytest.raises(OperationError):
            compiled.apply({"v": sample(kind, to)})


def test_change_type_missing_path_is_a_no_op() -> None:
    plan = [{"op": "change_type", "path": "a.b", "to": "integer"}]
    assert run(plan, {}) == {}
    assert run(plan, {"a": {}}) == {"a": {}}
    assert run(plan, {"a": "b"}) == {"a": "b"}


def test_change_type_of_each_element() -> None:
    plan = [{"op": "change_type", "path": "scores.*", "to": "number"}]
    assert run(plan, {"scores": ["1", "2.5", 3]}) == {"scores": [1, 2.5, 3]}
    assert fails(plan, {"scores": ["1", "x"]}).path == "$.scores[1]"
    plan = [{"op": "change_type", "path": "scores.*", "to": "number", "on_error": "null"}]
    assert run(plan, {"scores": ["1", "x"]}) == {"scores": [1, None]}


def test_change_type_failure_names_the_operation() -> None:
    plan = [
        {"op": "add_field", "path": "a", "default": "1"},
        {"op": "change_type", "path": "b", "to": "integer"},
    ]
    error = fails(plan, {"b": "x"})
    assert error.index == 1
    assert '"x"' in error.message


# --- set_default ------------------------------------------------------------------------------------------------


def test_set_default() -> None:
    plan = [{"op": "set_default", "path": "settings.lang", "value": "zh-hans"}]
    assert run(plan, {}) == {"settings": {"lang": "zh-hans"}}
    assert run(plan, {"settings": {"lang": None}}) == {"settings": {"lang": "zh-hans"}}
    assert run(plan, {"settings": {"lang": "en"}}) == {"settings": {"lang": "en"}}
    assert run(plan, {"settings": {"lang": ""}}) == {"settings": {"lang": ""}}
    assert fails(plan, {"settings": 1}).path == "$.settings"


def test_set_default_on_each_element() -> None:
    plan = [{"op": "set_default", "path": "tags.*", "value": "untagged"}]
    assert run(plan, {"tags": ["a", None]}) == {"tags": ["a", "untagged"]}
    plan = [{"op": "set_default", "path": "members.*.role", "value": {"name": "member"}}]
    result = run(plan, {"members": [{}, {"role": None}, {"role": "owner"}]})
    assert result == {"members": [{"role": {"name": "member"}}, {"role": {"name": "member"}}, {"role": "owner"}]}
    assert result["members"][0]["role"] is not result["members"][1]["role"]


# --- map_values -------------------------------------------------------------------------------------------------


STATUS = [{"from": "open", "to": "recruiting"}, {"from": "done", "to": "completed"}]


def test_map_values() -> None:
    plan = [{"op": "map_values", "path": "status", "mapping": STATUS}]
    assert run(plan, {"status": "open"}) == {"status": "recruiting"}
    assert run(plan, {"status": "in_progress"}) == {"status": "in_progress"}
    assert run(plan, {}) == {}


def test_map_values_default_for_the_unmatched() -> None:
    plan = [{"op": "map_values", "path": "status", "mapping": STATUS, "default": "in_progress"}]
    assert run(plan, {"status": "done"}) == {"status": "completed"}
    assert run(plan, {"status": "paused"}) == {"status": "in_progress"}
    assert run(plan, {"status": None}) == {"status": "in_progress"}
    assert run(plan, {}) == {}


def test_map_values_of_an_array_maps_each_element() -> None:
    plan = [{"op": "map_values", "path": "tags", "mapping": [{"from": "ml", "to": "机器学习"}]}]
    assert run(plan, {"tags": ["ml", "cv", "ml"]}) == {"tags": ["机器学习", "cv", "机器学习"]}
    plan = [{"op": "map_values", "path": "members.*.tags", "mapping": [{"from": "ml", "to": "机器学习"}]}]
    assert run(plan, {"members": [{"tags": ["ml"]}, {"tags": "ml"}]}) == {
        "members": [{"tags": ["机器学习"]}, {"tags": "机器学习"}]
    }


def test_map_values_never_takes_true_for_1() -> None:
    plan = [{"op": "map_values", "path": "v", "mapping": [{"from": 1, "to": "one"}, {"from": False, "to": "no"}]}]
    assert run(plan, {"v": True}) == {"v": True}
    assert run(plan, {"v": 0}) == {"v": 0}
    assert run(plan, {"v": 1}) == {"v": "one"}
    assert run(plan, {"v": 1.0}) == {"v": "one"}
    assert run(plan, {"v": False}) == {"v": "no"}
    assert run(plan, {"v": [1, True, False, 0]}) == {"v": ["one", True, "no", 0]}


def test_map_values_of_null_and_of_objects() -> None:
    mapping = [{"from": None, "to": "none"}, {"from": {"a": [1, True]}, "to": {"b": 2}}, {"from": "", "to": None}]
    plan = [{"op": "map_values", "path": "v", "mapping": mapping}]
    assert run(plan, {"v": None}) == {"v": "none"}
    assert run(plan, {"v": {"a": [1.0, True]}}) == {"v": {"b": 2}}
    assert run(plan, {"v": {"a": [1, 1]}}) == {"v": {"a": [1, 1]}}
    assert run(plan, {"v": ""}) == {"v": None}
    scalars = [{"op": "map_values", "path": "v", "mapping": [{"from": "a", "to": "b"}]}]
    assert run(scalars, {"v": {"a": "a"}}) == {"v": {"a": "a"}}
    compiled = plan_compile(plan)
    first, second = compiled.apply({"v": {"a": [1, True]}}), compiled.apply({"v": {"a": [1, True]}})
    assert first["v"] is not second["v"]


# --- the input is never touched ---------------------------------------------------------------------------------


def test_apply_never_mutates_the_input() -> None:
    document = {
        "name": "A",
        "status": "open",
        "score": "1.5",
        "tags": ["ml", None],
        "contact": {"phone": "1", "fax": "2"},
        "members": [{"first": "三", "role": None, "age": "30"}],
        "city": "北京",
    }
    snapshot = copy.deepcopy(document)
    plan = [
        {"op": "add_field", "path": "contact.email", "default": ""},
        {"op": "remove_field", "path": "contact.fax"},
        {"op": "rename_field", "path": "contact.phone", "to": "电话"},
        {"op": "move_field", "path": "city", "to": "address.city"},
        {"op": "move_field", "path": "members.*.first", "to": "members.*.name.first"},
        {"op": "change_type", "path": "score", "to": "number"},
        {"op": "change_type", "path": "members.*.age", "to": "integer"},
        {"op": "set_default", "path": "members.*.role", "value": "member"},
        {"op": "set_default", "path": "tags.*", "value": "x"},
        {"op": "map_values", "path": "tags", "mapping": [{"from": "ml", "to": "机器学习"}]},
        {"op": "map_values", "path": "status", "mapping": STATUS},
    ]
    result = run(plan, document)
    assert document == snapshot
    assert result == {
        "name": "A",
        "status": "recruiting",
        "score": 1.5,
        "tags": ["机器学习", "x"],
        "contact": {"电话": "1", "email": ""},
        "members": [{"role": "member", "age": 30, "name": {"first": "三"}}],
        "address": {"city": "北京"},
    }


def test_errors_survive_pickling() -> None:
    error = pickle.loads(pickle.dumps(fails([{"op": "add_field", "path": "a.b", "default": 1}], {"a": 1})))
    assert (type(error), error.path, error.index, str(error)) == (
        OperationError,
        "$.a",
        0,
        "$.a: This value is not an object, so the path cannot go through it.",
    )
    plan_error = pickle.loads(pickle.dumps(compile_error([{"op": "remove_field", "path": "a..b"}])))
    assert (type(plan_error), plan_error.index, plan_error.field) == (PlanError, 0, "path")


def test_a_failed_apply_leaves_the_input_alone() -> None:
    document = {"a": {"b": "1"}, "c": "x"}
    snapshot = copy.deepcopy(document)
    fails([{"op": "remove_field", "path": "a.b"}, {"op": "change_type", "path": "c", "to": "integer"}], document)
    assert document == snapshot


def test_apply_copies_dict_subclasses_and_tuples() -> None:
    from collections import OrderedDict

    inner = OrderedDict(b=1)
    document = {"a": inner, "t": ({"x": 1},), "l": [OrderedDict(x=1), ({"x": 2},)]}
    plan = [
        {"op": "remove_field", "path": "a.b"},
        {"op": "remove_field", "path": "t.*.x"},
        {"op": "remove_field", "path": "l.*.x"},
        {"op": "remove_field", "path": "l.*.*.x"},
    ]
    result = run(plan, document)
    assert result == {"a": {}, "t": [{}], "l": [{}, [{}]]}
    assert type(result["a"]) is dict
    assert inner == {"b": 1}
    assert document["t"] == ({"x": 1},)
    assert document["l"] == [{"x": 1}, ({"x": 2},)]


# --- plan_propose -----------------------------------------------------------------------------------------------

EXTRA_V1 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["contact"],
    "properties": {
        "contact": {
            "type": "object",
            "required": ["phone"],
            "properties": {
                "phone": {"type": "string"},
                "fax": {"type": "string"},
                "wechat": {"type": "string"},
            },
        },
        "budget": {"type": "string"},
        "level": {"type": "integer", "enum": [1, 2, 3, 4]},
        "priority": {"type": "string", "enum": ["low", "medium", "high", "urgent"]},
        "visibility": {"type": "string"},
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "role": {"type": "string", "enum": ["owner", "dev", "qa"]}},
            },
        },
        "tags": {"type": "array", "items": {"type": "string", "enum": ["ml", "cv", "nlp", "old"]}},
        "legacy_id": {"type": "integer"},
        "score": {"type": "integer"},
    },
}
EXTRA_V2 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["contact", "visibility", "reviewed"],
    "properties": {
        "contact": {
            "type": "object",
            "required": ["phone", "email"],
            "properties": {
                "phone": {"type": "string"},
                "email": {"type": "string", "format": "email"},
                "wechat": {"type": "string", "default": ""},
            },
        },
        "budget": {"type": "number"},
        "level": {"type": "string", "enum": ["1", "2", "3"]},
        "priority": {"type": "string", "enum": ["low", "medium", "high"], "default": "medium"},
        "visibility": {"type": "string", "enum": ["public", "private"], "default": "public"},
        "members": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["role"],
                "properties": {"name": {"type": "string"}, "role": {"type": "string", "enum": ["owner", "dev"]}},
            },
        },
        "tags": {"type": "array", "items": {"type": "string", "enum": ["ml", "cv", "nlp"]}},
        "reviewed": {"type": "boolean"},
        "notes": {"type": "string"},
        "settings": {
            "type": "object",
            "required": ["lang"],
            "properties": {"lang": {"type": "string", "default": "zh-hans"}, "theme": {"type": "string"}},
            "default": {"lang": "zh-hans"},
        },
        "score": {"type": "number"},
    },
}


def test_propose_from_a_realistic_pair() -> None:
    assert plan_propose(EXTRA_V1, EXTRA_V2) == [
        {"op": "change_type", "path": "budget", "to": "number"},
        {"op": "add_field", "path": "contact.email", "default": ""},
        {"op": "remove_field", "path": "contact.fax"},
        {"op": "set_default", "path": "contact.wechat", "value": ""},
        {"op": "remove_field", "path": "legacy_id"},
        {"op": "map_values", "path": "level", "mapping": [{"from": 4, "to": "1"}]},
        {"op": "change_type", "path": "level", "to": "string"},
        {"op": "map_values", "path": "members.*.role", "mapping": [{"from": "qa", "to": "owner"}]},
        {"op": "add_field", "path": "members.*.role", "default": "owner"},
        {"op": "map_values", "path": "priority", "mapping": [{"from": "urgent", "to": "medium"}]},
        {"op": "set_default", "path": "priority", "value": "medium"},
        {"op": "add_field", "path": "reviewed", "default": False},
        {"op": "add_field", "path": "settings", "default": {"lang": "zh-hans"}},
        {"op": "map_values", "path": "tags.*", "mapping": [{"from": "old", "to": "ml"}]},
        {"op": "add_field", "path": "visibility", "default": "public"},
    ]


def test_proposed_plan_compiles_and_migrates_to_the_new_schema() -> None:
    compiled = plan_compile(plan_propose(EXTRA_V1, EXTRA_V2))
    Draft202012Validator.check_schema(EXTRA_V1)
    Draft202012Validator.check_schema(EXTRA_V2)
    documents = [
        {"contact": {"phone": "1"}},
        {
            "contact": {"phone": "1", "fax": "2", "wechat": "w"},
            "budget": " 1200.50 ",
            "level": 4,
            "priority": "urgent",
            "visibility": "public",
            "members": [{"name": "a", "role": "qa"}, {"name": "b"}],
            "tags": ["old", "cv"],
            "legacy_id": 7,
            "score": 3,
        },
    ]
    v1, v2 = Draft202012Validator(EXTRA_V1), Draft202012Validator(EXTRA_V2)
    for document in documents:
        assert not list(v1.iter_errors(document))
        migrated = compiled.apply(document)
        assert not list(v2.iter_errors(migrated)), migrated
    assert compiled.apply(documents[1])["budget"] == 1200.5
    assert compiled.apply(documents[1])["level"] == "1"


def test_propose_is_deterministic_whatever_the_key_order() -> None:
    reordered = json.loads(json.dumps(EXTRA_V2))
    reordered["properties"] = dict(reversed(list(reordered["properties"].items())))
    assert plan_propose(EXTRA_V1, reordered) == plan_propose(EXTRA_V1, EXTRA_V2)


def test_propose_nothing_for_the_same_schema() -> None:
    assert plan_propose(EXTRA_V2, EXTRA_V2) == []
    assert plan_propose({}, {}) == []


def test_propose_skips_an_optional_property_without_default() -> None:
    old = {"type": "object", "properties": {}}
    new = {
        "type": "object",
        "required": ["count", "ratio", "items", "meta", "nullable", "kind", "fixed"],
        "properties": {
            "notes": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "items": {"type": "array"},
            "meta": {"type": "object", "required": ["v"], "properties": {"v": {"type": "integer"}, "w": {}}},
            "nullable": {"type": ["null", "string"]},
            "kind": {"enum": ["a", "b"]},
            "fixed": {"const": 2},
            "anything": {"default": {"x": 1}},
            "untyped": {},
        },
    }
    assert plan_propose(old, new) == [
        {"op": "add_field", "path": "anything", "default": {"x": 1}},
        {"op": "add_field", "path": "count", "default": 0},
        {"op": "add_field", "path": "fixed", "default": 2},
        {"op": "add_field", "path": "items", "default": []},
        {"op": "add_field", "path": "kind", "default": "a"},
        {"op": "add_field", "path": "meta", "default": {"v": 0}},
        {"op": "add_field", "path": "nullable", "default": None},
        {"op": "add_field", "path": "ratio", "default": 0},
    ]


def test_propose_without_types() -> None:
    old = {"properties": {"a": {}, "list": {"items": {"properties": {"x": {}}}}}}
    new = {
        "required": ["a", "b"],
        "properties": {"a": {}, "b": {}, "list": {"items": {"properties": {"y": {"default": 1}}}}},
    }
    # Neither a nor b has a type or a default, so no value is proposed for them.
    assert plan_propose(old, new) == [
        {"op": "remove_field", "path": "list.*.x"},
        {"op": "add_field", "path": "list.*.y", "default": 1},
    ]
    assert plan_propose(True, {"properties": {"a": True}}) == []


def test_propose_enum_narrowed_with_a_type_change() -> None:
    old = {"properties": {"size": {"type": "string", "enum": ["1", "2", "big", "2"]}}}
    new = {"properties": {"size": {"type": "integer", "enum": [1, 2]}}}
    plan = plan_propose(old, new)
    assert plan == [
        {"op": "map_values", "path": "size", "mapping": [{"from": "big", "to": 1}]},
        {"op": "change_type", "path": "size", "to": "integer"},
    ]
    compiled = plan_compile(plan)
    assert [compiled.apply({"size": size})["size"] for size in ["1", "2", "big"]] == [1, 2, 1]


def test_propose_integer_to_number_needs_no_cast() -> None:
    old = {"properties": {"a": {"type": "integer"}, "b": {"type": ["string", "null"]}}}
    new = {"properties": {"a": {"type": "number"}, "b": {"type": ["integer", "null"]}}}
    assert plan_propose(old, new) == [{"op": "change_type", "path": "b", "to": "integer"}]


def test_propose_uses_pointer_paths_for_keys_with_dots() -> None:
    old = {"properties": {"v1.0": {"properties": {"a": {}}}, "*": {}}}
    new = {"properties": {"v1.0": {"properties": {}}}}
    plan = plan_propose(old, new)
    assert plan == [{"op": "remove_field", "path": "/v1.0/a"}]
    assert plan_compile(plan).apply({"v1.0": {"a": 1, "b": 2}}) == {"v1.0": {"b": 2}}


def test_propose_scalar_to_array_wraps() -> None:
    old = {"properties": {"tag": {"type": "string"}}}
    new = {"properties": {"tag": {"type": "array", "items": {"type": "string"}}}}
    plan = plan_propose(old, new)
    assert plan == [{"op": "change_type", "path": "tag", "to": "array"}]
    assert plan_compile(plan).apply({"tag": "ml"}) == {"tag": ["ml"]}


def test_propose_changed_default() -> None:
    old = {"properties": {"lang": {"type": "string", "default": "en"}, "same": {"default": [1]}}}
    new = {"properties": {"lang": {"type": "string", "default": "zh-hans"}, "same": {"default": [1.0]}}}
    assert plan_propose(old, new) == [{"op": "set_default", "path": "lang", "value": "zh-hans"}]


# --- document_diff ----------------------------------------------------------------------------------------------


def apply_patch(document: Any, patch: list[dict]) -> Any:
    """A minimal RFC 6902 applier for add, remove and replace, to check the diff against."""
    document = copy.deepcopy(document)
    for change in patch:
        if change["path"] == "":
            document = copy.deepcopy(change["value"])
            continue
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in change["path"][1:].split("/")]
        node = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        if change["op"] == "remove":
            del node[key]
        elif change["op"] == "add" and isinstance(node, list):
            node.insert(key, copy.deepcopy(change["value"]))
        else:
            node[key] = copy.deepcopy(change["value"])
    return document


def test_document_diff() -> None:
    before = {"name": "A", "contact": {"phone": "1", "fax": "2"}, "tags": ["ml", "cv", "nlp"], "n": 1}
    after = {"name": "A", "contact": {"phone": "1", "email": "e"}, "tags": ["机器学习"], "n": 1.0, "new": None}
    diff = document_diff(before, after)
    assert diff == [
        {"op": "add", "path": "/contact/email", "value": "e"},
        {"op": "remove", "path": "/contact/fax", "old": "2"},
        {"op": "add", "path": "/new", "value": None},
        {"op": "replace", "path": "/tags/0", "value": "机器学习", "old": "ml"},
        {"op": "remove", "path": "/tags/2", "old": "nlp"},
        {"op": "remove", "path": "/tags/1", "old": "cv"},
    ]
    assert apply_patch(before, diff) == after


def test_document_diff_of_equal_documents_is_empty() -> None:
    assert document_diff({"a": [1, {"b": None}]}, {"a": [1.0, {"b": None}]}) == []
    assert document_diff("x", "x") == []


def test_document_diff_kinds_and_escapes() -> None:
    before = {"flag": True, "a/b": {"m~n": 1}, "obj": {"x": 1}, "list": [1]}
    after = {"flag": 1, "a/b": {"m~n": 2}, "obj": [1], "list": [1, {"k": "v"}]}
    diff = document_diff(before, after)
    assert diff == [
        {"op": "replace", "path": "/a~1b/m~0n", "value": 2, "old": 1},
        {"op": "replace", "path": "/flag", "value": 1, "old": True},
        {"op": "add", "path": "/list/1", "value": {"k": "v"}},
        {"op": "replace", "path": "/obj", "value": [1], "old": {"x": 1}},
    ]
    assert apply_patch(before, diff) == after
    assert document_diff({"a": 1}, ["a"]) == [{"op": "replace", "path": "", "value": ["a"], "old": {"a": 1}}]


def test_document_diff_copies_values() -> None:
    after = {"a": {"b": [1]}}
    diff = document_diff({}, after)
    diff[0]["value"]["b"].append(2)
    assert after == {"a": {"b": [1]}}


def test_document_diff_of_a_migration() -> None:
    before = {"status": "open", "score": "2", "city": "北京"}
    plan = [
        {"op": "map_values", "path": "status", "mapping": STATUS},
        {"op": "change_type", "path": "score", "to": "integer"},
        {"op": "move_field", "path": "city", "to": "address.city"},
    ]
    after = run(plan, before)
    assert document_diff(before, after) == [
        {"op": "add", "path": "/address", "value": {"city": "北京"}},
        {"op": "remove", "path": "/city", "old": "北京"},
        {"op": "replace", "path": "/score", "value": 2, "old": "2"},
        {"op": "replace", "path": "/status", "value": "recruiting", "old": "open"},
    ]
