"""Migration plans for stored JSON documents: compile, apply, propose from two JSON Schemas, and diff.

A plan is a list of operations (JSON objects) applied in order to every document that moves from one schema
version to the next. ``plan_compile`` validates a plan once and turns it into a ``CompiledPlan`` whose ``apply``
runs over each document: the document is copied once, never mutated, and each operation walks a path compiled in
advance.

Paths
-----
* Dotted: ``"address.city"``, ``"联系人.电话"``. Each segment is an object key; empty segments (``""``,
  ``"a..b"``, ``".a"``, ``"a."``) are invalid.
* JSON Pointer, when the path starts with ``/``: ``"/a.b/c"`` is the key ``"a.b"`` then the key ``"c"``; ``~1``
  stands for ``/`` and ``~0`` for ``~`` (RFC 6901); any other ``~`` is invalid. This is the way to address a key
  that contains a dot, starts with ``/`` or is empty (``"/"`` is the key ``""``).
* In both forms a segment that is exactly ``*`` maps over every element of an array: ``"members.*.role"`` is the
  ``role`` of each member, ``"tags.*"`` each tag. A key named exactly ``*`` cannot be addressed.
* Segments are object keys only: there are no numeric array indexes.

The path of an ``OperationError`` is a JSONPath naming the concrete value: ``$.members[2].role``, with
``$["a.b"]`` for a key that is not a plain word.

Operations
----------
``add_field`` (path, default)
    Sets the value when the key is missing; creates missing intermediate objects. An intermediate that exists
    and is not an object is an error. A key already present is left alone.
``remove_field`` (path)
    Removes the key when present.
``rename_field`` (path, to)
    Renames the last key to ``to`` (a key, not a path) in place, keeping the key order. Source missing: no-op;
    ``to`` already present: error.
``move_field`` (path, to)
    Moves the value to the path ``to``, creating intermediate objects. Source missing: no-op; target present:
    error. With ``*``, both paths share the same segments up to their last ``*`` and the move happens inside each
    element (``"members.*.first"`` to ``"members.*.name.first"``).
``change_type`` (path, to, on_error = "fail" | "null" | "keep")
    Casts the value to ``to``, one of string, number, integer, boolean, array, object; ``CASTS`` lists the
    supported (from, to) pairs. A value of the target type is left alone, null stays null (except to array: []),
    a scalar or an object is wrapped in a one-element array, a one-element array is unwrapped (then cast). A
    failed cast is an error, unless on_error is "null" (set null) or "keep" (leave as is). Missing: no-op.
``set_default`` (path, value)
    Sets the value when the key is missing or null, creating intermediate objects like add_field.
``map_values`` (path, mapping = [{"from": X, "to": Y}, ...], default?)
    Replaces a value JSON-equal to some ``from`` (1 equals 1.0, true never equals 1) by its ``to``. Unmatched
    values (null included) stay, or become ``default`` when the operation has one. An array value has each of its
    elements mapped. Missing: no-op.

``remove_field``, ``rename_field``, ``change_type`` and ``map_values`` treat a path that runs through a value of
the wrong kind as missing. ``add_field``, ``set_default`` and ``move_field`` (its target) fail there instead, since
they would have to create something. Only ``change_type``, ``set_default`` and ``map_values`` accept a path that
ends with ``*``.
"""

import json
import math
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

OPERATIONS: tuple[str, ...] = (
    "add_field",
    "remove_field",
    "rename_field",
    "move_field",
    "change_type",
    "set_default",
    "map_values",
)
TYPES: tuple[str, ...] = ("string", "number", "integer", "boolean", "array", "object")
ON_ERROR: tuple[str, ...] = ("fail", "null", "keep")
MAX_OPERATIONS = 100
STAR = "*"

# Keys each operation takes: required ones, then optional ones.
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "add_field": (("op", "path", "default"), ()),
    "remove_field": (("op", "path"), ()),
    "rename_field": (("op", "path", "to"), ()),
    "move_field": (("op", "path", "to"), ()),
    "change_type": (("op", "path", "to"), ("on_error",)),
    "set_default": (("op", "path", "value"), ()),
    "map_values": (("op", "path", "mapping"), ("default",)),
}
_TRAILING_STAR_OK = frozenset({"change_type", "set_default", "map_values"})
_MAX_VALUE_DEPTH = 64


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
_CONTAINERS = (dict, list)
_SCALAR_TYPES = frozenset({str, int, float, bool, type(None)})
# A segment shown after a dot in a JSONPath; anything else is shown in brackets.
_WORD = re.compile(r"[^\W\d][\w-]*")


class PlanError(ValueError):
    """A malformed plan: ``index`` is the operation's position (None for the plan as a whole), ``field`` the key
    at fault (None for the operation as a whole)."""

    def __init__(self, message: str, *, index: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.index = index
        self.field = field


class OperationError(ValueError):
    """An operation that cannot apply to one document: ``path`` is the JSONPath of the value at fault, ``index``
    the failing operation's position in the plan."""

    def __init__(self, path: str, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.index = index

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # args holds the message only; pickling (a Celery result, a process pool) rebuilds from all three.
        return (self.__class__, (self.path, self.message), {"index": self.index})


class _CastError(Exception):
    pass


# --- values -----------------------------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    """A copy of a JSON value: every dict and list is new (dict subclasses and tuples become dicts and lists)."""
    kind = type(value)
    if kind is dict:
        return _copy_dict(value)
    if kind is list:
        return _copy_list(value)
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(item) for item in value]
    return value


# A shallow copy, then new copies of the containers in it: faster than building item by item.
def _copy_dict(value: dict) -> dict:
    out = value.copy()
    for key, item in value.items():
        kind = type(item)
        if kind is dict:
            out[key] = _copy_dict(item)
        elif kind is list:
            out[key] = _copy_list(item)
        elif kind not in _SCALAR_TYPES:
            out[key] = _copy(item)
    return out


def _copy_list(value: list) -> list:
    out = value.copy()
    for index, item in enumerate(value):
        kind = type(item)
        if kind is dict:
            out[index] = _copy_dict(item)
        elif kind is list:
            out[index] = _copy_list(item)
        elif kind not in _SCALAR_TYPES:
            out[index] = _copy(item)
    return out


def _is_json(value: Any, depth: int = 0) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= _MAX_VALUE_DEPTH:
        return False
    if isinstance(value, list):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_json(item, depth + 1) for key, item in value.items())
    return False


def _freeze(value: Any) -> Any:
    """A hashable key with JSON equality: 1 and 1.0 give the same key, true and 1 do not."""
    if isinstance(value, bool):
        return ("b", value)
    if isinstance(value, int | float):
        return ("n", value)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, dict):
        return ("o", frozenset((key, _freeze(item)) for key, item in value.items()))
    return ("a", tuple(_freeze(item) for item in value))


def _json_equal(a: Any, b: Any) -> bool:
    return _freeze(a) == _freeze(b)


def _preview(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- paths ------------------------------------------------------------------------------------------------------


def _parse_path(text: Any) -> tuple[str, ...]:
    """The segments of a dotted or JSON Pointer path; raises ValueError with a translated message."""
    if not isinstance(text, str) or not text:
        raise ValueError(_("A path must be a non-empty string."))
    if text.startswith("/"):
        segments = []
        for raw in text[1:].split("/"):
            if "~" in raw:
                if re.search(r"~(?![01])", raw):
                    raise ValueError(
                        _("Invalid escape in the JSON Pointer %(path)s: use ~0 for ~ and ~1 for /.") % {"path": text}
                    )
                raw = raw.replace("~1", "/").replace("~0", "~")
            segments.append(raw)
        return tuple(segments)
    segments = text.split(".")
    if "" in segments:
        raise ValueError(_("The path %(path)s has an empty segment.") % {"path": text})
    return tuple(segments)


def _render_path(segments: tuple[str, ...]) -> str:
    """The dotted form when it can say the path, else the JSON Pointer form."""
    if all(segment and "." not in segment for segment in segments) and not segments[0].startswith("/"):
        return ".".join(segments)
    return "".join("/" + segment.replace("~", "~0").replace("/", "~1") for segment in segments)


def _json_path(parts: Iterable[str | int]) -> str:
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _WORD.fullmatch(part):
            out.append("." + part)
        else:
            out.append("[" + json.dumps(part, ensure_ascii=False) + "]")
    return "".join(out)


class _Path:
    """A compiled path: ``prefix`` runs up to and including the last ``*`` (empty without one), ``head`` holds the
    keys from there to the parent, ``key`` is the last key (None when the path ends with ``*``)."""

    __slots__ = ("text", "segments", "prefix", "head", "key")

    def __init__(self, text: str, segments: tuple[str, ...]) -> None:
        last_star = max((i for i, segment in enumerate(segments) if segment == STAR), default=-1)
        rest = segments[last_star + 1 :]
        self.text = text
        self.segments = segments
        self.prefix = segments[: last_star + 1]
        self.head = rest[:-1]
        self.key: str | None = rest[-1] if rest else None


def _not_object(at: tuple[str | int, ...]) -> OperationError:
    return OperationError(_json_path(at), _("This value is not an object, so the path cannot go through it."))


def _not_array(at: tuple[str | int, ...]) -> OperationError:
    return OperationError(_json_path(at), _("This value is not an array, so * cannot map over it."))


def _lookup(node: Any, head: tuple[str, ...]) -> dict | None:
    """The object at ``head`` under ``node``, or None when a key is missing or a value is not an object."""
    for segment in head:
        if type(node) is not dict:
            return None
        node = node.get(segment, _MISSING)
    return node if type(node) is dict else None


def _create(node: Any, head: tuple[str, ...], at: tuple[str | int, ...]) -> dict:
    """The object at ``head`` under ``node`` (at ``at``), creating missing objects; raises on a non-object."""
    if type(node) is not dict:
        raise _not_object(at)
    for i, segment in enumerate(head):
        child = node.get(segment, _MISSING)
        if child is _MISSING:
            child = node[segment] = {}
        elif type(child) is not dict:
            raise _not_object(at + head[: i + 1])
        node = child
    return node


def _expand(
    node: Any, prefix: tuple[str, ...], strict: bool, i: int = 0, at: tuple[str | int, ...] = ()
) -> list[tuple[list, int, tuple[str | int, ...]]]:
    """Every element slot (array, index, path) that ``prefix`` (ending with ``*``) reaches. A missing value
    reaches nothing; a value of the wrong kind reaches nothing, or raises when ``strict``."""
    out: list[tuple[list, int, tuple[str | int, ...]]] = []
    last = len(prefix) - 1
    while True:
        segment = prefix[i]
        if segment == STAR:
            if type(node) is not list:
                if strict and node is not _MISSING:
                    raise _not_array(at)
                return out
            if i == last:
                out.extend((node, j, (*at, j)) for j in range(len(node)))
            else:
                for j, item in enumerate(node):
                    out.extend(_expand(item, prefix, strict, i + 1, (*at, j)))
            return out
        if type(node) is not dict:
            if strict and node is not _MISSING:
                raise _not_object(at)
            return out
        node = node.get(segment, _MISSING)
        at = (*at, segment)
        i += 1


Step = Callable[[Any], None]
Core = Callable[[Any, Any, tuple[str | int, ...]], None]


def _drive(path: _Path, strict: bool, core: Core) -> Step:
    """A step running ``core(container, key, path)`` on every slot the path reaches in a document. A dict slot's key
    may be missing; a list slot (a path ending with ``*``) always holds a value. ``strict`` creates missing objects
    and raises where a value is of the wrong kind; otherwise such a path reaches nothing."""
    head, key, segments, prefix = path.head, path.key, path.segments, path.prefix
    if prefix and key is None:

        def step_elements(document: Any) -> None:
            for array, index, at in _expand(document, prefix, strict):
                core(array, index, at)

        return step_elements
    if prefix:
        tail: tuple[str | int, ...] = (*head, key) if key is not None else head

        def step_in_elements(document: Any) -> None:
            for array, index, at in _expand(document, prefix, strict):
                if strict:
                    core(_create(array[index], head, at), key, at + tail)
                else:
                    parent = _lookup(array[index], head)
                    if parent is not None:
                        core(parent, key, at + tail)

        return step_in_elements
    if strict:

        def step_created(document: Any) -> None:
            core(_create(document, head, ()), key, segments)

        return step_created
    if not head:

        def step_top(document: Any) -> None:
            if type(document) is dict:
                core(document, key, segments)

        return step_top

    def step(document: Any) -> None:
        parent = _lookup(document, head)
        if parent is not None:
            core(parent, key, segments)

    return step


# --- casts ------------------------------------------------------------------------------------------------------

_BOOLEAN_TEXT = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


def _same(value: Any) -> Any:
    return value


# int(), float() and Decimal() take surrounding whitespace and reject "" themselves; ASCII and no "_" keeps out the
# other digits and the digit separators they also take. A literal without ".", "e" or "E" goes to int(), which
# rejects "nan" and "inf" (and keeps a long integer exact); float() and Decimal() results are checked for finiteness.
def _string_to_number(value: str) -> int | float:
    if value.isascii() and "_" not in value:
        try:
            if "." not in value and "e" not in value and "E" not in value:
                return int(value)
            number = float(value)
            if math.isfinite(number):
                return number
        except ValueError:
            pass
    raise _CastError


def _string_to_integer(value: str) -> int:
    if value.isascii() and "_" not in value:
        try:
            if "." not in value and "e" not in value and "E" not in value:
                return int(value)
            number = Decimal(value)
            if number.is_finite() and number.adjusted() <= 308 and number == number.to_integral_value():
                return int(number)
        except (ValueError, ArithmeticError):
            pass
    raise _CastError


def _string_to_boolean(value: str) -> bool:
    try:
        return _BOOLEAN_TEXT[value.strip().lower()]
    except KeyError:
        raise _CastError from None


def _number_to_integer(value: float) -> int:
    if math.isfinite(value) and value.is_integer():
        return int(value)
    raise _CastError


def _number_to_string(value: float) -> str:
    # 3.0 says "3"; past 1e16 a float is no longer exact to the unit, so it keeps its shortest repr ("1e+20").
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _boolean_to_string(value: bool) -> str:
    return "true" if value else "false"


def _wrap(value: Any) -> list:
    return [value]


def _null_to_array(value: None) -> list:
    return []


# The JSON kind of each Python type a decoded document holds.
_KIND: dict[type, str] = {
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    dict: "object",
    list: "array",
    type(None): "null",
}

_CAST_FUNCTIONS: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("string", "string"): _same,
    ("string", "number"): _string_to_number,
    ("string", "integer"): _string_to_integer,
    ("string", "boolean"): _string_to_boolean,
    ("number", "string"): _number_to_string,
    ("number", "number"): _same,
    ("number", "integer"): _number_to_integer,
    ("integer", "string"): str,
    ("integer", "number"): _same,
    ("integer", "integer"): _same,
    ("boolean", "string"): _boolean_to_string,
    ("boolean", "boolean"): _same,
    ("object", "object"): _same,
    ("array", "array"): _same,
    ("null", "array"): _null_to_array,
}
for _target in TYPES:
    if _target != "array":
        _CAST_FUNCTIONS[("null", _target)] = _same
        # The unwrap itself is built per target in _caster (it casts the single element too).
        _CAST_FUNCTIONS[("array", _target)] = _same
for _source in ("string", "number", "integer", "boolean", "object"):
    _CAST_FUNCTIONS[(_source, "array")] = _wrap

CASTS: tuple[tuple[str, str], ...] = tuple(sorted(_CAST_FUNCTIONS))


def _caster(to: str) -> Callable[[Any], Any]:
    """The cast of any value to ``to``; raises _CastError where there is none or it fails."""
    by_type: dict[type, Callable[[Any], Any]] = {}
    for python_type, kind in _KIND.items():
        function = _CAST_FUNCTIONS.get((kind, to))
        if function is not None and not (kind == "array" and to != "array"):
            by_type[python_type] = function

    def cast(value: Any) -> Any:
        function = by_type.get(type(value))
        if function is not None:
            return function(value)
        if type(value) is list and len(value) == 1 and type(value[0]) is not list:
            inner = by_type.get(type(value[0]))
            if inner is not None:
                return inner(value[0])
        raise _CastError

    return cast


def _cast_value(value: Any, to: str) -> Any:
    try:
        return _caster(to)(value)
    except _CastError:
        return _MISSING


# --- operations -------------------------------------------------------------------------------------------------


def _value_maker(value: Any) -> tuple[Any, bool]:
    """The value an operation writes (its own copy, apart from the stored operation) and whether each write needs
    a copy of it."""
    return _copy(value), type(value) in _CONTAINERS


def _step_add_field(op: dict, path: _Path) -> Step:
    value, mutable = _value_maker(op["default"])

    def add(parent: dict, key: str, at: tuple[str | int, ...]) -> None:
        if key not in parent:
            parent[key] = _copy(value) if mutable else value

    return _drive(path, True, add)


def _step_remove_field(op: dict, path: _Path) -> Step:
    def remove(parent: dict, key: str, at: tuple[str | int, ...]) -> None:
        parent.pop(key, None)

    return _drive(path, False, remove)


def _step_rename_field(op: dict, path: _Path) -> Step:
    to = op["to"]

    def rename(parent: dict, key: str, at: tuple[str | int, ...]) -> None:
        if key not in parent:
            return
        if to in parent:
            raise OperationError(
                _json_path((*at[:-1], to)),
                _("A value already exists where %(name)s would be renamed to.") % {"name": key},
            )
        if next(reversed(parent)) == key:
            parent[to] = parent.pop(key)
            return
        items = list(parent.items())
        parent.clear()
        for name, item in items:
            parent[to if name == key else name] = item

    return _drive(path, False, rename)


def _step_move_field(op: dict, path: _Path, target: _Path) -> Step:
    # Both paths share their prefix up to the last "*" (checked by plan_compile): the move is inside each element.
    prefix = path.prefix
    source_head, source_key = path.head, path.key
    target_head, target_key = target.head, target.key
    target_tail: tuple[str | int, ...] = (*target_head, target_key) if target_key is not None else target_head

    def move(node: Any, at: tuple[str | int, ...]) -> None:
        parent = _lookup(node, source_head)
        if parent is None or source_key not in parent:
            return
        value = parent.pop(source_key)
        destination = _create(node, target_head, at)
        if target_key in destination:
            raise OperationError(_json_path(at + target_tail), _("A value already exists at the target path."))
        destination[target_key] = value

    if not prefix:

        def step(document: Any) -> None:
            move(document, ())

        return step

    def step_in_elements(document: Any) -> None:
        for array, index, at in _expand(document, prefix, strict=False):
            move(array[index], at)

    return step_in_elements


def _step_change_type(op: dict, path: _Path) -> Step:
    to, on_error = op["to"], op["on_error"]
    cast = _caster(to)

    def change(container: Any, key: Any, at: tuple[str | int, ...]) -> None:
        if type(container) is dict:
            value = container.get(key, _MISSING)
            if value is _MISSING:
                return
        else:
            value = container[key]
        try:
            container[key] = cast(value)
        except _CastError:
            if on_error == "null":
                container[key] = None
            elif on_error == "fail":
                raise OperationError(
                    _json_path(at),
                    _("Cannot change %(value)s to the type %(type)s.") % {"value": _preview(value), "type": to},
                ) from None

    return _drive(path, False, change)


def _step_set_default(op: dict, path: _Path) -> Step:
    value, mutable = _value_maker(op["value"])

    def set_default(container: Any, key: Any, at: tuple[str | int, ...]) -> None:
        current = container.get(key) if type(container) is dict else container[key]
        if current is None:
            container[key] = _copy(value) if mutable else value

    return _drive(path, True, set_default)


def _step_map_values(op: dict, path: _Path) -> Step:
    by_string: dict[str, Any] = {}
    by_number: dict[int | float, Any] = {}
    by_boolean: dict[bool, Any] = {}
    by_other: dict[Any, Any] = {}
    null_to: Any = _MISSING
    for entry in op["mapping"]:
        source, replacement = entry["from"], _copy(entry["to"])
        if isinstance(source, bool):
            by_boolean[source] = replacement
        elif isinstance(source, int | float):
            by_number[source] = replacement
        elif isinstance(source, str):
            by_string[source] = replacement
        elif source is None:
            null_to = replacement
        else:
            by_other[_freeze(source)] = replacement
    has_default = "default" in op
    default = _copy(op.get("default"))

    def mapped(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            result = by_string.get(value, _MISSING)
        elif kind is bool:
            result = by_boolean.get(value, _MISSING)
        elif kind is int or kind is float:
            result = by_number.get(value, _MISSING)
        elif value is None:
            result = null_to
        elif by_other:
            result = by_other.get(_freeze(value), _MISSING)
        else:
            result = _MISSING
        if result is _MISSING:
            if not has_default:
                return value
            result = default
        return _copy(result) if type(result) in _CONTAINERS else result

    def map_values(container: Any, key: Any, at: tuple[str | int, ...]) -> None:
        if type(container) is dict:
            value = container.get(key, _MISSING)
            if value is _MISSING:
                return
        else:
            value = container[key]
        if type(value) is list:
            container[key] = [mapped(item) for item in value]
        else:
            container[key] = mapped(value)

    return _drive(path, False, map_values)


_STEP_BUILDERS: dict[str, Callable[[dict, _Path], Step]] = {
    "add_field": _step_add_field,
    "remove_field": _step_remove_field,
    "rename_field": _step_rename_field,
    "change_type": _step_change_type,
    "set_default": _step_set_default,
    "map_values": _step_map_values,
}


class CompiledPlan:
    """A validated plan, ready to apply to many documents."""

    __slots__ = ("operations", "_steps")

    def __init__(self, operations: list[dict], steps: list[Step]) -> None:
        self.operations = operations
        self._steps = steps

    def __len__(self) -> int:
        return len(self._steps)

    def __repr__(self) -> str:
        return f"<CompiledPlan: {len(self._steps)} operations>"

    def apply(self, document: Any) -> Any:
        """The migrated copy of ``document`` (which is left as it is); raises OperationError."""
        document = _copy(document)
        for index, step in enumerate(self._steps):
            try:
                step(document)
            except OperationError as error:
                error.index = index
                raise
        return document


# --- compile ----------------------------------------------------------------------------------------------------


def _compile_path(value: Any, index: int, field: str) -> _Path:
    try:
        segments = _parse_path(value)
    except ValueError as error:
        raise PlanError(str(error), index=index, field=field) from None
    return _Path(value, segments)


def _check_value(op: dict, key: str, index: int) -> Any:
    value = op[key]
    if not _is_json(value):
        raise PlanError(_("This value cannot be stored as JSON."), index=index, field=key)
    return _copy(value)


def _compile_operation(op: Any, index: int) -> tuple[dict, Step]:
    if not isinstance(op, dict):
        raise PlanError(_("An operation must be an object."), index=index)
    if "op" not in op:
        raise PlanError(_("This field is required."), index=index, field="op")
    name = op["op"]
    if not isinstance(name, str) or name not in _KEYS:
        raise PlanError(
            _("Unknown operation %(op)s; expected one of: %(choices)s.")
            % {"op": _preview(name), "choices": ", ".join(OPERATIONS)},
            index=index,
            field="op",
        )
    required, optional = _KEYS[name]
    unknown = sorted(str(key) for key in op if key not in required and key not in optional)
    if unknown:
        raise PlanError(
            _("Unknown field for %(op)s.") % {"op": name},
            index=index,
            field=unknown[0],
        )
    for key in required:
        if key not in op:
            raise PlanError(_("This field is required."), index=index, field=key)

    path = _compile_path(op["path"], index, "path")
    if path.key is None and name not in _TRAILING_STAR_OK:
        raise PlanError(_("This operation needs a path that ends with a key, not *."), index=index, field="path")
    normalized: dict[str, Any] = {"op": name, "path": op["path"]}

    if name == "add_field":
        normalized["default"] = _check_value(op, "default", index)
    elif name == "set_default":
        normalized["value"] = _check_value(op, "value", index)
    elif name == "rename_field":
        to = op["to"]
        if not isinstance(to, str) or not to:
            raise PlanError(_("The new name must be a non-empty string."), index=index, field="to")
        if to == path.key:
            raise PlanError(_("The new name is the current name."), index=index, field="to")
        normalized["to"] = to
    elif name == "move_field":
        target = _compile_path(op["to"], index, "to")
        problem = None
        if target.key is None:
            problem = _("The target path must end with a key, not *.")
        elif target.prefix != path.prefix:
            problem = _("Both paths must have the same segments up to their last *.")
        elif target.segments == path.segments:
            problem = _("The target path is the source path.")
        elif path.segments[: len(target.segments)] == target.segments:
            problem = _("The target path contains the source path.")
        if problem is not None:
            raise PlanError(problem, index=index, field="to")
        normalized["to"] = op["to"]
        return normalized, _step_move_field(normalized, path, target)
    elif name == "change_type":
        to = op["to"]
        if to not in TYPES:
            raise PlanError(
                _("Unknown type %(type)s; expected one of: %(choices)s.")
                % {"type": _preview(to), "choices": ", ".join(TYPES)},
                index=index,
                field="to",
            )
        on_error = op.get("on_error", "fail")
        if on_error not in ON_ERROR:
            raise PlanError(
                _("Expected one of: %(choices)s.") % {"choices": ", ".join(ON_ERROR)}, index=index, field="on_error"
            )
        normalized["to"] = to
        normalized["on_error"] = on_error
    elif name == "map_values":
        normalized["mapping"] = _check_mapping(op["mapping"], index)
        if "default" in op:
            normalized["default"] = _check_value(op, "default", index)
    return normalized, _STEP_BUILDERS[name](normalized, path)


def _check_mapping(mapping: Any, index: int) -> list[dict]:
    if not isinstance(mapping, list) or not mapping:
        raise PlanError(_("The mapping must be a non-empty list."), index=index, field="mapping")
    entries: list[dict] = []
    seen: set[Any] = set()
    for number, entry in enumerate(mapping, start=1):
        if not isinstance(entry, dict) or set(entry) != {"from", "to"}:
            raise PlanError(
                _('Mapping entry %(number)s must be an object with exactly the keys "from" and "to".')
                % {"number": number},
                index=index,
                field="mapping",
            )
        if not (_is_json(entry["from"]) and _is_json(entry["to"])):
            raise PlanError(
                _("Mapping entry %(number)s holds a value that cannot be stored as JSON.") % {"number": number},
                index=index,
                field="mapping",
            )
        key = _freeze(entry["from"])
        if key in seen:
            raise PlanError(
                _("Mapping entry %(number)s repeats the value %(value)s.")
                % {"number": number, "value": _preview(entry["from"])},
                index=index,
                field="mapping",
            )
        seen.add(key)
        entries.append({"from": _copy(entry["from"]), "to": _copy(entry["to"])})
    return entries


def plan_compile(plan: Any) -> CompiledPlan:
    """Validate a plan (a list of operation objects) and compile it; raises PlanError."""
    if not isinstance(plan, list):
        raise PlanError(_("A plan must be a list of operations."))
    if len(plan) > MAX_OPERATIONS:
        raise PlanError(
            _("A plan has at most %(limit)s operations; this one has %(count)s.")
            % {"limit": MAX_OPERATIONS, "count": len(plan)}
        )
    operations: list[dict] = []
    steps: list[Step] = []
    for index, op in enumerate(plan):
        normalized, step = _compile_operation(op, index)
        operations.append(normalized)
        steps.append(step)
    return CompiledPlan(operations, steps)


# --- propose ----------------------------------------------------------------------------------------------------

_ZERO: dict[str, Any] = {"string": "", "number": 0, "integer": 0, "boolean": False, "array": [], "null": None}


def _schema(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _properties(schema: dict) -> dict[str, Any]:
    properties = schema.get("properties")
    return properties if isinstance(properties, dict) else {}


def _required(schema: dict) -> set[str]:
    required = schema.get("required")
    return {name for name in required if isinstance(name, str)} if isinstance(required, list) else set()


def _types(schema: dict) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    if isinstance(declared, list):
        return [kind for kind in declared if isinstance(kind, str)]
    if "properties" in schema:
        return ["object"]
    if "items" in schema:
        return ["array"]
    return []


def _main_type(schema: dict) -> str | None:
    """The one type besides null a schema allows, or None."""
    kinds = [kind for kind in _types(schema) if kind != "null"]
    return kinds[0] if len(kinds) == 1 else None


def _initial(schema: dict, required: bool) -> Any:
    """The value a new property starts with: its default, else for a required one a zero value of its type."""
    if "default" in schema:
        return _copy(schema["default"])
    if not required:
        return _MISSING
    if "const" in schema:
        return _copy(schema["const"])
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return _copy(enum[0])
    kinds = _types(schema)
    if not kinds:
        return _MISSING
    if kinds[0] == "object":
        inner = _required(schema)
        value = {}
        for name, sub in sorted(_properties(schema).items()):
            item = _initial(_schema(sub), name in inner)
            if item is not _MISSING:
                value[name] = item
        return value
    return _copy(_ZERO.get(kinds[0], _MISSING))


def _enum_mapping(old: dict, new: dict, new_type: str | None) -> list[dict]:
    """map_values entries for the enum values gone from ``new``, to its default or its first value."""
    old_enum, new_enum = old.get("enum"), new.get("enum")
    if not (isinstance(old_enum, list) and isinstance(new_enum, list) and new_enum):
        return []
    replacement = new["default"] if "default" in new else new_enum[0]
    kept = {_freeze(value) for value in new_enum}
    mapping: list[dict] = []
    seen: set[Any] = set()
    for value in old_enum:
        key = _freeze(value)
        if key in seen:
            continue
        seen.add(key)
        cast = value if new_type is None else _cast_value(value, new_type)
        if cast is _MISSING or _freeze(cast) not in kept:
            mapping.append({"from": _copy(value), "to": _copy(replacement)})
    return mapping


def _propose_values(old: dict, new: dict, segments: tuple[str, ...], plan: list[dict]) -> None:
    """map_values for a narrowed enum, then change_type for a changed type, at ``segments``."""
    old_type, new_type = _main_type(old), _main_type(new)
    changed = (
        old_type is not None
        and new_type is not None
        and old_type != new_type
        and (old_type, new_type) in _CAST_FUNCTIONS
        and (old_type, new_type) != ("integer", "number")
    )
    mapping = _enum_mapping(old, new, new_type if changed else None)
    if mapping:
        plan.append({"op": "map_values", "path": _render_path(segments), "mapping": mapping})
    if changed:
        plan.append({"op": "change_type", "path": _render_path(segments), "to": new_type})


def _propose_property(
    old: dict, new: dict, segments: tuple[str, ...], was_required: bool, is_required: bool, plan: list[dict]
) -> None:
    old_type, new_type = _main_type(old), _main_type(new)
    path = _render_path(segments)
    if old_type == new_type == "array":
        old_items, new_items = _schema(old.get("items")), _schema(new.get("items"))
        if not (_main_type(old_items) == _main_type(new_items) == "object"):
            # map_values and change_type on "path.*" act on each element.
            _propose_values(old_items, new_items, (*segments, STAR), plan)
    else:
        _propose_values(old, new, segments, plan)

    if is_required and not was_required:
        value = _initial(new, required=True)
        if value is not _MISSING:
            plan.append({"op": "add_field", "path": path, "default": value})
    elif not is_required and "default" in new:
        if "default" not in old or not _json_equal(old["default"], new["default"]):
            plan.append({"op": "set_default", "path": path, "value": _copy(new["default"])})

    if old_type == new_type == "object":
        _propose_object(old, new, segments, plan)
    elif old_type == new_type == "array":
        old_items, new_items = _schema(old.get("items")), _schema(new.get("items"))
        if _main_type(old_items) == _main_type(new_items) == "object":
            _propose_object(old_items, new_items, (*segments, STAR), plan)


def _propose_object(old: dict, new: dict, segments: tuple[str, ...], plan: list[dict]) -> None:
    old_properties, new_properties = _properties(old), _properties(new)
    old_required, new_required = _required(old), _required(new)
    for name in sorted(old_properties.keys() | new_properties.keys()):
        if name == STAR:  # a key named "*" has no path
            continue
        here = (*segments, name)
        if name not in new_properties:
            plan.append({"op": "remove_field", "path": _render_path(here)})
        elif name not in old_properties:
            value = _initial(_schema(new_properties[name]), name in new_required)
            if value is not _MISSING:
                plan.append({"op": "add_field", "path": _render_path(here), "default": value})
        else:
            _propose_property(
                _schema(old_properties[name]),
                _schema(new_properties[name]),
                here,
                name in old_required,
                name in new_required,
                plan,
            )


def plan_propose(old: dict, new: dict) -> list[dict]:
    """A suggested plan from two JSON Schemas (draft 2020-12) of the same documents, for an admin to review.

    Walks ``properties`` (and the ``items`` of arrays of objects, with ``*``) in sorted key order. A property gone
    from ``new`` is removed; a new one is added with its default, or a zero value of its type ("", 0, false, [],
    {} with its required sub-properties) when required, and skipped when optional without a default. A type change
    that a cast supports gets change_type; an enum that lost values gets map_values to the new default, else to
    the new enum's first value; a property that became required gets add_field; an optional property whose default
    was added or changed gets set_default."""
    plan: list[dict] = []
    _propose_object(_schema(old), _schema(new), (), plan)
    return plan


# --- diff -------------------------------------------------------------------------------------------------------


def _pointer_segment(key: Any) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def _same_scalar(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _diff(before: Any, after: Any, pointer: str, out: list[dict]) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(before.keys() | after.keys(), key=str):
            here = pointer + "/" + _pointer_segment(key)
            if key not in after:
                out.append({"op": "remove", "path": here, "old": _copy(before[key])})
            elif key not in before:
                out.append({"op": "add", "path": here, "value": _copy(after[key])})
            else:
                _diff(before[key], after[key], here, out)
        return
    if isinstance(before, list) and isinstance(after, list):
        common = min(len(before), len(after))
        for i in range(common):
            _diff(before[i], after[i], f"{pointer}/{i}", out)
        for i in range(common, len(after)):
            out.append({"op": "add", "path": f"{pointer}/{i}", "value": _copy(after[i])})
        for i in range(len(before) - 1, common - 1, -1):
            out.append({"op": "remove", "path": f"{pointer}/{i}", "old": _copy(before[i])})
        return
    if isinstance(before, dict | list) or isinstance(after, dict | list) or not _same_scalar(before, after):
        out.append({"op": "replace", "path": pointer, "value": _copy(after), "old": _copy(before)})


def document_diff(before: Any, after: Any) -> list[dict]:
    """The changes from ``before`` to ``after``, RFC 6902-like: ``{"op": "add", "path", "value"}``,
    ``{"op": "remove", "path", "old"}``, ``{"op": "replace", "path", "value", "old"}`` with JSON Pointer paths
    ("" is the whole document). Object keys come in sorted order; array elements are compared by position, extra
    ones added in ascending order and removed in descending order, so the list applies in sequence. Numbers compare
    by value (1 equals 1.0), and true never equals 1."""
    out: list[dict] = []
    _diff(before, after, "", out)
    return out


__all__ = [
    "CASTS",
    "MAX_OPERATIONS",
    "OPERATIONS",
    "TYPES",
    "CompiledPlan",
    "OperationError",
    "PlanError",
    "document_diff",
    "plan_compile",
    "plan_propose",
]
