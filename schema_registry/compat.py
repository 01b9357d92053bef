"""JSON Schema (Draft 2020-12) compatibility checks with Confluent Schema Registry's meanings.

The question is always the same: does a *reader* schema accept every document that a *writer* schema accepts?
`narrowings(reader, writer)` answers it structurally and explains each reason why not, by the JSON path of the
instance location concerned and a stable reason code. `compatibility_check` applies it in the direction(s) a mode
asks for: BACKWARD reads data of registered versions with the new schema, FORWARD reads data of the new schema with
the registered versions, FULL both; the *_TRANSITIVE modes compare with every registered version, the others with
the latest only.

The analysis is conservative: a change it cannot prove safe is reported. Its approximations:

* A writer's conjunctions (`allOf`, `$ref` with siblings, a property matched by several `patternProperties`) are
  merged by dropping conflicting constraints, so the writer is taken to accept at least what it does.
* A writer's `anyOf`/`oneOf` branches are each read as an alternative (merged with the rest of the writer); a
  reader's `anyOf` must then have a branch that accepts a whole alternative, a reader's `oneOf` exactly one.
* A writer that accepts finitely many values (`const`, `enum`, or only the types null and boolean) is checked value
  by value against the reader, which is exact for the supported keywords.
* Property names are matched against `patternProperties` with Python's `re.search`; for names no schema declares,
  every writer pattern is taken to possibly overlap every reader pattern.
* `format` is never validated: a reader's format must equal the writer's.
* Any other validation keyword (`not`, `if`/`then`/`else`, `contains`, `dependentRequired`, `propertyNames`,
  `unevaluatedProperties`, ...) must be identical on both sides, else it is reported as
  "keyword_unsupported_change". Only local references (`#`, `#/$defs/...`) are resolved.

Paths: `$` is the document, `.name` a property (`['a.b']` when the name has characters other than letters, digits
and underscores of any script), `[0]` an item of `prefixItems`, `[*]` an item of `items`, `[/regex/]` the
properties a `patternProperties` regex matches.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any
from urllib.parse import unquote

from django.utils.translation import gettext as _

from incubator.schemas import regex_problem, regex_search

MODES: tuple[str, ...] = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)

# Every reason code `narrowings` can give.
REASONS: tuple[str, ...] = (
    "type_narrowed",
    "enum_narrowed",
    "const_changed",
    "bound_tightened",
    "multiple_of_changed",
    "pattern_changed",
    "format_changed",
    "property_now_required",
    "property_removed",
    "property_added_to_open_model",
    "additional_properties_tightened",
    "items_narrowed",
    "unique_items_added",
    "branch_narrowed",
    "keyword_unsupported_change",
)

Schema = dict[str, Any] | bool
Narrowing = tuple[str, str, str, str]

# Keywords that never change which documents are valid.
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$defs",
        "definitions",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
    }
)
# Validation keywords this module reasons about.
HANDLED = frozenset(
    {
        "$ref",
        "allOf",
        "anyOf",
        "oneOf",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "pattern",
        "format",
        "properties",
        "required",
        "additionalProperties",
        "patternProperties",
        "minProperties",
        "maxProperties",
        "items",
        "prefixItems",
        "minItems",
        "maxItems",
        "uniqueItems",
    }
)
# Unsupported keywords that only mean something together: compared as one.
_GROUPS: dict[str, tuple[str, ...]] = {
    "if": ("if", "then", "else"),
    "then": ("if", "then", "else"),
    "else": ("if", "then", "else"),
    "contains": ("contains", "minContains", "maxContains"),
    "minContains": ("contains", "minContains", "maxContains"),
    "maxContains": ("contains", "minContains", "maxContains"),
}
# Depend on every other keyword of their schema: only safe when the two schemas are the same.
_WHOLE_SCHEMA = frozenset({"unevaluatedProperties", "unevaluatedItems"})
# Formats that only constrain strings (other formats are taken to constrain every type).
_STRING_FORMATS = frozenset(
    {
        "date",
        "date-time",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)
_SPLIT_TYPES = ("null", "boolean", "object", "array", "number", "string")
_ALL_TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
_MAX_ALTERNATIVES = 64
_MAX_DEPTH = 200
_MAX_STEPS = 20_000
_MISSING: Any = object()


@dataclass(frozen=True)
class Incompatibility:
    path: str
    keyword: str
    reason: str
    message: str
    version: int
    direction: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def narrowings(reader: Schema, writer: Schema) -> list[Narrowing]:
    """Every structural reason why a document valid under `writer` may be invalid under `reader`: (path, keyword,
    reason, message). Empty list = reader accepts at least everything writer accepts (as far as the supported
    keywords can tell)."""
    for schema in (reader, writer):
        if not isinstance(schema, dict | bool):
            raise TypeError(f"A JSON Schema is an object or a boolean, not {type(schema).__name__}.")
    return _Comparator(reader, writer).compare(reader, writer, "$")


def compatibility_check(schema: Schema, previous: Sequence[tuple[int, Schema]], mode: str) -> list[Incompatibility]:
    """`previous`: the registered versions (number, schema), oldest first. NONE: always []. BACKWARD: new schema as
    reader vs the latest previous as writer; FORWARD: latest previous as reader vs new as writer; FULL: both.
    *_TRANSITIVE: against every previous version, not just the latest. Empty `previous`: []. Unknown mode:
    ValueError."""
    if mode not in MODES:
        raise ValueError(f"Unknown compatibility mode {mode!r}; expected one of {', '.join(MODES)}.")
    if mode == "NONE" or not previous:
        return []
    targets = previous if mode.endswith("_TRANSITIVE") else previous[-1:]
    backward = mode.startswith(("BACKWARD", "FULL"))
    forward = mode.startswith(("FORWARD", "FULL"))
    found: list[Incompatibility] = []
    for version, old in targets:
        if backward:
            for path, keyword, reason, message in narrowings(schema, old):
                found.append(Incompatibility(path, keyword, reason, message, version, "backward"))
        if forward:
            for path, keyword, reason, message in narrowings(old, schema):
                found.append(Incompatibility(path, keyword, reason, message, version, "forward"))
    return found


# --- helpers -------------------------------------------------------------------------------------------------------


def _child(path: str, name: str) -> str:
    if name and all(ch == "_" or ch.isalnum() for ch in name):
        return f"{path}.{name}"
    escaped = name.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{escaped}']"


def _render(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _json_type(value: Any) -> str | None:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "integer" if value.is_integer() else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return None


def _json_eq(a: Any, b: Any) -> bool:
    if a is _MISSING or b is _MISSING:
        return a is b
    ta, tb = _json_type(a), _json_type(b)
    if ta in ("integer", "number") and tb in ("integer", "number"):
        return bool(a == b)
    if ta != tb:
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_json_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_json_eq(a[k], b[k]) for k in a)
    return bool(a == b)


def _fits_type(value_type: str | None, schema_type: str) -> bool:
    return value_type == schema_type or (schema_type == "number" and value_type == "integer")


def _type_covered(writer_type: str, reader_types: list[str]) -> bool:
    return writer_type in reader_types or (writer_type == "integer" and "number" in reader_types)


def _types(schema: dict[str, Any]) -> list[str] | None:
    value = schema.get("type")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return list(value)
    return None


def _num(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _frac(value: int | float) -> Fraction:
    if isinstance(value, float):
        try:
            return Fraction(Decimal(repr(value)))
        except InvalidOperation:  # pragma: no cover - finite floats always convert
            return Fraction(value)
    return Fraction(value)


def _is_multiple(value: Fraction, step: Fraction) -> bool:
    return step != 0 and (value / step).denominator == 1


def _frac_lcm(a: Fraction, b: Fraction) -> Fraction:
    return Fraction(math.lcm(a.numerator, b.numerator), math.gcd(a.denominator, b.denominator))


def _search(pattern: Any, text: str) -> bool | None:
    """Whether `pattern` matches somewhere in `text`; None when it is not a usable regex. In the Rust engine, as
    document validation does: no pattern backtracks for minutes."""
    if not isinstance(pattern, str) or regex_problem(pattern):
        return None
    return regex_search(pattern, text)


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _string_format(value: Any) -> bool:
    return isinstance(value, str) and value in _STRING_FORMATS


def _constraining(schema: dict[str, Any]) -> bool:
    return any(k not in ANNOTATIONS for k in schema)


def _stripped(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: v for k, v in schema.items() if k not in ANNOTATIONS}
    return schema


def _dedupe(issues: list[Narrowing]) -> list[Narrowing]:
    seen: set[tuple[str, str, str]] = set()
    out: list[Narrowing] = []
    for issue in issues:
        key = issue[:3]
        if key not in seen:
            seen.add(key)
            out.append(issue)
    return out


def _pointer(root: Schema, ref: Any) -> Any:
    """The subschema a local `$ref` points to, or _MISSING."""
    if not isinstance(ref, str):
        return _MISSING
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return _MISSING
    node: Any = root
    for raw in ref[2:].split("/"):
        token = unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return _MISSING
    return node if isinstance(node, dict | bool) else _MISSING


_LOWER_KEYWORDS = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_UPPER_KEYWORDS = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """A schema accepting at least the documents both `a` and `b` accept (constraints that do not combine simply are
    kept from `a` only)."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
            continue
        current = out[key]
        if key == "required" and isinstance(current, list) and isinstance(value, list):
            out[key] = current + [v for v in value if v not in current]
        elif key == "properties" and isinstance(current, dict) and isinstance(value, dict):
            out[key] = {**current, **{k: v for k, v in value.items() if k not in current}}
        elif key == "type":
            left, right = _types(a), _types(b)
            if left is not None and right is not None:
                both = []
                for t in left:
                    if t in right:
                        both.append(t)
                    elif t == "integer" and "number" in right or t == "number" and "integer" in right:
                        both.append("integer")
                out[key] = list(dict.fromkeys(both))
        elif key == "enum" and isinstance(current, list) and isinstance(value, list):
            out[key] = [v for v in current if any(_json_eq(v, w) for w in value)]
        elif key in _LOWER_KEYWORDS and _num(current) is not None and _num(value) is not None:
            out[key] = max(current, value)
        elif key in _UPPER_KEYWORDS and _num(current) is not None and _num(value) is not None:
            out[key] = min(current, value)
    return out


def _lower_bound(schema: dict[str, Any], integers: bool) -> tuple[float, bool] | None:
    """The tightest lower bound of `minimum` and `exclusiveMinimum` as (value, exclusive)."""
    bounds: list[tuple[float, bool]] = []
    for keyword, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
        value = _num(schema.get(keyword))
        if value is not None:
            if integers:
                bounds.append((math.floor(value) + 1 if exclusive else math.ceil(value), False))
            else:
                bounds.append((value, exclusive))
    return max(bounds) if bounds else None


def _upper_bound(schema: dict[str, Any], integers: bool) -> tuple[float, bool] | None:
    """The tightest upper bound of `maximum` and `exclusiveMaximum` as (value, exclusive)."""
    bounds: list[tuple[float, bool]] = []
    for keyword, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
        value = _num(schema.get(keyword))
        if value is not None:
            if integers:
                bounds.append((math.ceil(value) - 1 if exclusive else math.floor(value), False))
            else:
                bounds.append((value, exclusive))
    return min(bounds, key=lambda b: (b[0], not b[1])) if bounds else None


# --- the comparison ------------------------------------------------------------------------------------------------


class _Comparator:
    """Compares subschemas of one reader document with subschemas of one writer document (each resolves its `$ref`s
    within its own document)."""

    def __init__(self, reader_root: Schema, writer_root: Schema) -> None:
        self.reader_root = reader_root
        self.writer_root = writer_root
        self._active: set[tuple[Any, ...]] = set()
        # Comparisons made so far: nested anyOf/oneOf multiply them, so past _MAX_STEPS the rest is reported as
        # not compared rather than computed for minutes.
        self._steps = 0
        # Schemas made on the fly stay alive while compared: their id() is part of the cycle guard's keys.
        self._keep: list[Any] = []

    # references and conjunctions

    def _writer(self, schema: Any, seen: tuple[str, ...] = ()) -> Schema:
        """The writer subschema with `$ref` and `allOf` merged in (accepting at least what it accepts)."""
        if isinstance(schema, bool):
            return schema
        if not isinstance(schema, dict):
            return True
        base = schema
        parts: list[Schema] = []
        if "$ref" in schema:
            ref = schema["$ref"]
            base = {k: v for k, v in base.items() if k != "$ref"}
            if not (isinstance(ref, str) and ref in seen):
                target = _pointer(self.writer_root, ref)
                if target is not _MISSING:
                    parts.append(self._writer(target, (*seen, ref)))
        if isinstance(base.get("allOf"), list):
            branches = base["allOf"]
            base = {k: v for k, v in base.items() if k != "allOf"}
            parts.extend(self._writer(branch, seen) for branch in branches)
        result: dict[str, Any] = base
        for part in parts:
            if part is False:
                return False
            if isinstance(part, dict):
                result = _merge(result, part)
        if result is not schema:
            self._keep.append(result)
        return result

    def _reader_parts(
        self, schema: Any, raw_writer: Any, path: str, issues: list[Narrowing], seen: tuple[str, ...] = ()
    ) -> list[Schema]:
        """The reader subschema as the conjunction of schemas without `$ref` and `allOf`."""
        if isinstance(schema, bool):
            return [schema]
        if not isinstance(schema, dict):
            return [True]
        base = schema
        parts: list[Schema] = []
        if "$ref" in schema:
            ref = schema["$ref"]
            base = {k: v for k, v in base.items() if k != "$ref"}
            target = _MISSING if isinstance(ref, str) and ref in seen else _pointer(self.reader_root, ref)
            if target is not _MISSING:
                parts.extend(self._reader_parts(target, None, path, issues, (*seen, ref)))
            elif not (isinstance(raw_writer, dict) and _json_eq(raw_writer.get("$ref", _MISSING), ref)):
                issues.append(
                    (
                        path,
                        "$ref",
                        "keyword_unsupported_change",
                        _("The reference %(ref)s cannot be resolved, so what it accepts cannot be checked.")
                        % {"ref": _render(ref)},
                    )
                )
        if isinstance(base.get("allOf"), list):
            branches = base["allOf"]
            base = {k: v for k, v in base.items() if k != "allOf"}
            for branch in branches:
                parts.extend(self._reader_parts(branch, None, path, issues, seen))
        if _constraining(base) or not parts:
            parts.insert(0, base)
        return parts

    def _reader_false(self, schema: Any) -> bool:
        return any(part is False for part in self._reader_parts(schema, None, "$", []))

    def _reader_open(self, schema: Any) -> bool:
        issues: list[Narrowing] = []
        parts = self._reader_parts(schema, None, "$", issues)
        return not issues and all(p is True or (isinstance(p, dict) and not _constraining(p)) for p in parts)

    def _writer_false(self, schema: Any) -> bool:
        return self._writer(schema) is False

    def _writer_open(self, schema: Any) -> bool:
        resolved = self._writer(schema)
        return resolved is True or (isinstance(resolved, dict) and not _constraining(resolved))

    def _alternatives(self, writer: dict[str, Any]) -> list[dict[str, Any]]:
        """The writer's `anyOf`/`oneOf` branches, each merged with the rest of the writer."""
        alternatives = [writer]
        for keyword in ("anyOf", "oneOf"):
            expanded: list[dict[str, Any]] = []
            for alternative in alternatives:
                branches = alternative.get(keyword)
                if not isinstance(branches, list) or not branches:
                    expanded.append(alternative)
                    continue
                base = {k: v for k, v in alternative.items() if k != keyword}
                for branch in branches:
                    resolved = self._writer(branch)
                    if resolved is True:
                        expanded.append(base)
                    elif isinstance(resolved, dict):
                        expanded.append(_merge(base, resolved))
            if len(expanded) > _MAX_ALTERNATIVES:
                return [{k: v for k, v in writer.items() if k not in ("anyOf", "oneOf")}]
            alternatives = expanded
        self._keep.extend(alternatives)
        return alternatives

    def _finite_values(self, writer: dict[str, Any]) -> list[Any] | None:
        """The values the writer can produce when there are finitely many (a superset of them), else None."""
        values: list[Any] | None = None
        if "const" in writer:
            values = [writer["const"]]
        if isinstance(writer.get("enum"), list):
            values = [v for v in writer["enum"] if values is None or _json_eq(v, values[0])]
        types = _types(writer)
        if values is None and types is not None and set(types) <= {"null", "boolean"}:
            values = ([None] if "null" in types else []) + ([False, True] if "boolean" in types else [])
        if values is not None and types is not None:
            values = [v for v in values if any(_fits_type(_json_type(v), t) for t in types)]
        return values

    # structural comparison

    def compare(self, reader: Any, writer: Any, path: str) -> list[Narrowing]:
        self._steps += 1
        if self._steps > _MAX_STEPS:
            return [(path, "anyOf", "keyword_unsupported_change", _("The schemas are too complex to compare."))]
        key = (id(reader), id(writer))
        if key in self._active:
            return []  # The same pair is being compared further up: assume it holds (recursive schemas).
        if len(self._active) > _MAX_DEPTH:
            return [
                (
                    path,
                    "$ref",
                    "keyword_unsupported_change",
                    _("The schemas nest too deeply to be compared."),
                )
            ]
        self._active.add(key)
        try:
            resolved = self._writer(writer)
            if resolved is False:
                return []
            writer_schema: dict[str, Any] = resolved if isinstance(resolved, dict) else {}
            issues: list[Narrowing] = []
            for part in self._reader_parts(reader, writer, path, issues):
                if part is True:
                    continue
                if part is False:
                    issues.append((path, "type", "type_narrowed", _("No value is accepted.")))
                    continue
                if _constraining(part):
                    issues.extend(self._against_alternatives(part, writer_schema, path))
            return _dedupe(issues)
        finally:
            self._active.discard(key)

    def _against_alternatives(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        for alternative in self._alternatives(writer):
            values = self._finite_values(alternative)
            if values is None:
                issues.extend(self._structural(reader, alternative, path))
                continue
            enum = reader.get("enum")
            if isinstance(enum, list):
                missing = [v for v in values if not any(_json_eq(v, e) for e in enum)]
                if missing:
                    issues.append(
                        (
                            path,
                            "enum",
                            "enum_narrowed",
                            _("The enumeration does not contain %(values)s.")
                            % {"values": ", ".join(_render(v) for v in missing)},
                        )
                    )
            for value in values:
                issues.extend(self._value_part(reader, value, path, alternative, check_enum=False))
        return issues

    def _structural(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        reader_types = _types(reader)
        writer_types = _types(writer)
        if reader_types is not None:
            if writer_types is None:
                issues.append(
                    (
                        path,
                        "type",
                        "type_narrowed",
                        _("Only values of type %(types)s are accepted.") % {"types": ", ".join(reader_types)},
                    )
                )
            else:
                missing = [t for t in writer_types if not _type_covered(t, reader_types)]
                if missing:
                    issues.append(
                        (
                            path,
                            "type",
                            "type_narrowed",
                            _("Values of type %(types)s are not accepted.") % {"types": ", ".join(missing)},
                        )
                    )
        produced = set(writer_types) if writer_types is not None else set(_ALL_TYPES)
        # The types of the writer's values that pass the reader's `type` (a writer's numbers include integers).
        if reader_types is None:
            accepted = produced
        else:
            accepted = {t for t in produced if _type_covered(t, reader_types)}
            if "number" in produced and "integer" in reader_types:
                accepted.add("integer")

        if "enum" in reader:
            issues.append(
                (
                    path,
                    "enum",
                    "enum_narrowed",
                    _("Only the values %(values)s are accepted.")
                    % {"values": ", ".join(_render(v) for v in _as_list(reader["enum"]))},
                )
            )
        if "const" in reader:
            issues.append(
                (
                    path,
                    "const",
                    "const_changed",
                    _("Only the value %(value)s is accepted.") % {"value": _render(reader["const"])},
                )
            )
        if accepted & {"number", "integer"}:
            issues.extend(self._numbers(reader, writer, path, integers="number" not in accepted))
        if "string" in accepted:
            issues.extend(self._strings(reader, writer, path))
        format_applies = "string" in accepted or (bool(accepted) and not _string_format(reader.get("format")))
        if format_applies and "format" in reader and not _json_eq(reader["format"], writer.get("format", _MISSING)):
            issues.append(
                (
                    path,
                    "format",
                    "format_changed",
                    _("Values must have the format %(format)s.") % {"format": _render(reader["format"])},
                )
            )
        if "array" in accepted:
            issues.extend(self._arrays(reader, writer, path))
        if "object" in accepted:
            issues.extend(self._objects(reader, writer, path))
        issues.extend(self._branches(reader, writer, path))
        issues.extend(self._unsupported(reader, writer, path))
        return issues

    def _numbers(self, reader: dict[str, Any], writer: dict[str, Any], path: str, integers: bool) -> list[Narrowing]:
        issues: list[Narrowing] = []
        lower = _lower_bound(writer, integers)
        upper = _upper_bound(writer, integers)
        for keyword, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
            limit = _num(reader.get(keyword))
            if limit is None:
                continue
            need = _lower_bound({keyword: limit}, integers)
            assert need is not None
            if lower is None or lower[0] < need[0] or (lower[0] == need[0] and need[1] and not lower[1]):
                message = (
                    _("Values less than or equal to %(limit)s are not accepted.")
                    if exclusive
                    else _("Values below %(limit)s are not accepted.")
                )
                issues.append((path, keyword, "bound_tightened", message % {"limit": _render(limit)}))
        for keyword, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
            limit = _num(reader.get(keyword))
            if limit is None:
                continue
            need = _upper_bound({keyword: limit}, integers)
            assert need is not None
            if upper is None or upper[0] > need[0] or (upper[0] == need[0] and need[1] and not upper[1]):
                message = (
                    _("Values greater than or equal to %(limit)s are not accepted.")
                    if exclusive
                    else _("Values above %(limit)s are not accepted.")
                )
                issues.append((path, keyword, "bound_tightened", message % {"limit": _render(limit)}))
        step = _num(reader.get("multipleOf"))
        if step is not None and step > 0:
            writer_step_value = _num(writer.get("multipleOf"))
            writer_step = _frac(writer_step_value) if writer_step_value is not None and writer_step_value > 0 else None
            if integers:
                writer_step = _frac_lcm(writer_step, Fraction(1)) if writer_step is not None else Fraction(1)
            if writer_step is None or not _is_multiple(writer_step, _frac(step)):
                issues.append(
                    (
                        path,
                        "multipleOf",
                        "multiple_of_changed",
                        _("Values must be a multiple of %(step)s.") % {"step": _render(step)},
                    )
                )
        return issues

    def _strings(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        minimum = _num(reader.get("minLength"))
        if minimum is not None and minimum > (_num(writer.get("minLength")) or 0):
            issues.append(
                (
                    path,
                    "minLength",
                    "bound_tightened",
                    _("Strings shorter than %(limit)s characters are not accepted.") % {"limit": _render(minimum)},
                )
            )
        maximum = _num(reader.get("maxLength"))
        writer_maximum = _num(writer.get("maxLength"))
        if maximum is not None and (writer_maximum is None or writer_maximum > maximum):
            issues.append(
                (
                    path,
                    "maxLength",
                    "bound_tightened",
                    _("Strings longer than %(limit)s characters are not accepted.") % {"limit": _render(maximum)},
                )
            )
        if "pattern" in reader and not _json_eq(reader["pattern"], writer.get("pattern", _MISSING)):
            issues.append(
                (
                    path,
                    "pattern",
                    "pattern_changed",
                    _("Strings must match the pattern %(pattern)s.") % {"pattern": _render(reader["pattern"])},
                )
            )
        return issues

    def _arrays(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        reader_prefix = _as_list(reader.get("prefixItems"))
        writer_prefix = _as_list(writer.get("prefixItems"))
        reader_items = reader.get("items", True)
        writer_items = writer.get("items", True)
        if not isinstance(reader_items, dict | bool):
            if not _json_eq(reader_items, writer_items):
                issues.append(self._unsupported_issue(path, "items"))
            reader_items = True
        if not isinstance(writer_items, dict | bool):
            writer_items = True
        writer_max = _num(writer.get("maxItems"))
        if self._writer_false(writer_items):
            writer_max = len(writer_prefix) if writer_max is None else min(writer_max, len(writer_prefix))
        writer_min = _num(writer.get("minItems")) or 0

        minimum = _num(reader.get("minItems"))
        if minimum is not None and minimum > writer_min:
            issues.append(
                (
                    path,
                    "minItems",
                    "bound_tightened",
                    _("Arrays with fewer than %(limit)s items are not accepted.") % {"limit": _render(minimum)},
                )
            )
        maximum = _num(reader.get("maxItems"))
        if maximum is not None and (writer_max is None or writer_max > maximum):
            issues.append(
                (
                    path,
                    "maxItems",
                    "bound_tightened",
                    _("Arrays with more than %(limit)s items are not accepted.") % {"limit": _render(maximum)},
                )
            )
        if reader.get("uniqueItems") is True and writer.get("uniqueItems") is not True:
            if writer_max is None or writer_max > 1:
                issues.append(
                    (path, "uniqueItems", "unique_items_added", _("Arrays with duplicate items are not accepted."))
                )

        positions = max(len(reader_prefix), len(writer_prefix))
        for index in range(positions):
            if writer_max is not None and index >= writer_max:
                return issues
            writer_item = writer_prefix[index] if index < len(writer_prefix) else writer_items
            if self._writer_false(writer_item):
                return issues  # The writer's arrays end before this position.
            reader_item = reader_prefix[index] if index < len(reader_prefix) else reader_items
            child = f"{path}[{index}]"
            if self._reader_false(reader_item):
                keyword = "prefixItems" if index < len(reader_prefix) else "items"
                issues.append(
                    (
                        child,
                        keyword,
                        "items_narrowed",
                        _("Arrays with an item at position %(index)s are not accepted.") % {"index": index},
                    )
                )
                return issues
            issues.extend(self.compare(reader_item, writer_item, child))
        if (writer_max is None or writer_max > positions) and not self._writer_false(writer_items):
            child = f"{path}[*]"
            if self._reader_false(reader_items):
                issues.append(
                    (
                        child,
                        "items",
                        "items_narrowed",
                        _("Arrays with more than %(count)s items are not accepted.") % {"count": positions},
                    )
                )
            else:
                issues.extend(self.compare(reader_items, writer_items, child))
        return issues

    def _writer_property(self, writer: dict[str, Any], name: str) -> tuple[Any, bool]:
        """The writer's subschema for property `name`, and whether the writer declares it in `properties`."""
        declared = _as_dict(writer.get("properties"))
        if name in declared:
            return declared[name], True
        for pattern, subschema in _as_dict(writer.get("patternProperties")).items():
            matched = _search(pattern, name)
            if matched is None:
                return True, False
            if matched:
                return subschema, False
        return writer.get("additionalProperties", True), False

    def _objects(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        reader_properties = _as_dict(reader.get("properties"))
        writer_properties = _as_dict(writer.get("properties"))
        reader_patterns = _as_dict(reader.get("patternProperties"))
        writer_patterns = _as_dict(writer.get("patternProperties"))
        reader_additional = reader.get("additionalProperties", True)
        writer_additional = writer.get("additionalProperties", True)
        writer_required = _strings(writer.get("required"))

        for name in dict.fromkeys(_strings(reader.get("required"))):
            if name not in writer_required:
                issues.append(
                    (
                        _child(path, name),
                        "required",
                        "property_now_required",
                        _("Property %(name)s is required but may be missing.") % {"name": name},
                    )
                )

        for name in [*reader_properties, *(n for n in writer_properties if n not in reader_properties)]:
            child = _child(path, name)
            writer_sub, declared = self._writer_property(writer, name)
            if self._writer_false(writer_sub):
                continue  # The writer's objects never have this property.
            matching = [s for p, s in reader_patterns.items() if _search(p, name) is not False]
            if name in reader_properties:
                reader_sub = reader_properties[name]
                if self._reader_false(reader_sub):
                    issues.append(
                        (
                            child,
                            "properties",
                            "property_removed",
                            _("Property %(name)s is not allowed.") % {"name": name},
                        )
                    )
                elif not declared and self._writer_open(writer_sub):
                    if self.compare(reader_sub, writer_sub, child):
                        issues.append(
                            (
                                child,
                                "properties",
                                "property_added_to_open_model",
                                _("Property %(name)s is constrained, but any value was allowed for it.")
                                % {"name": name},
                            )
                        )
                else:
                    issues.extend(self.compare(reader_sub, writer_sub, child))
            elif not matching:
                if self._reader_false(reader_additional):
                    issues.append(
                        (
                            child,
                            "properties",
                            "property_removed",
                            _("Property %(name)s was removed and additional properties are not allowed.")
                            % {"name": name},
                        )
                    )
                elif self.compare(reader_additional, writer_sub, child):
                    issues.append(
                        (
                            child,
                            "properties",
                            "property_removed",
                            _("Property %(name)s was removed and its values do not fit additionalProperties.")
                            % {"name": name},
                        )
                    )
            for reader_sub in matching:
                issues.extend(self.compare(reader_sub, writer_sub, child))

        # Names neither schema declares.
        for pattern, reader_sub in reader_patterns.items():
            if pattern in writer_patterns:
                candidates = [writer_patterns[pattern]]
            else:
                candidates = [writer_additional, *writer_patterns.values()]
            for candidate in candidates:
                if not self._writer_false(candidate):
                    issues.extend(self.compare(reader_sub, candidate, f"{path}[/{pattern}/]"))
        if not self._reader_open(reader_additional):
            candidates = [writer_additional, *(s for p, s in writer_patterns.items() if p not in reader_patterns)]
            for candidate in candidates:
                if self._writer_false(candidate):
                    continue
                if self._reader_false(reader_additional):
                    message = _("Additional properties are not allowed.")
                elif self.compare(reader_additional, candidate, f"{path}.*"):
                    message = _("Additional properties must fit a stricter schema.")
                else:
                    continue
                issues.append((path, "additionalProperties", "additional_properties_tightened", message))
                break

        writer_min = max(_num(writer.get("minProperties")) or 0, len(set(writer_required)))
        minimum = _num(reader.get("minProperties"))
        if minimum is not None and minimum > writer_min:
            issues.append(
                (
                    path,
                    "minProperties",
                    "bound_tightened",
                    _("Objects with fewer than %(limit)s properties are not accepted.") % {"limit": _render(minimum)},
                )
            )
        writer_max = _num(writer.get("maxProperties"))
        if not writer_patterns and self._writer_false(writer_additional):
            possible = sum(1 for s in writer_properties.values() if not self._writer_false(s))
            writer_max = possible if writer_max is None else min(writer_max, possible)
        maximum = _num(reader.get("maxProperties"))
        if maximum is not None and (writer_max is None or writer_max > maximum):
            issues.append(
                (
                    path,
                    "maxProperties",
                    "bound_tightened",
                    _("Objects with more than %(limit)s properties are not accepted.") % {"limit": _render(maximum)},
                )
            )
        return issues

    def _branches(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> list[Narrowing]:
        """A reader's anyOf/oneOf: the writer (or, failing that, each of its types apart) must fit one branch."""
        issues: list[Narrowing] = []
        for keyword in ("anyOf", "oneOf"):
            branches = reader.get(keyword)
            if not isinstance(branches, list):
                continue
            pieces = [writer]
            fitting = [[branch for branch in branches if not self.compare(branch, writer, path)]]
            types = _types(writer)
            if not fitting[0] and (types is None or len(types) > 1):
                pieces = [{**writer, "type": t} for t in (types if types is not None else _SPLIT_TYPES)]
                self._keep.extend(pieces)
                fitting = [[branch for branch in branches if not self.compare(branch, p, path)] for p in pieces]
            if not all(fitting):
                issues.append(
                    (
                        path,
                        keyword,
                        "branch_narrowed",
                        _("Some values match none of the %(keyword)s options.") % {"keyword": keyword},
                    )
                )
            elif keyword == "oneOf" and any(len(f) > 1 for f in fitting):
                issues.append(
                    (path, keyword, "branch_narrowed", _("Some values match more than one of the oneOf options."))
                )
        return issues

    def _unsupported_issue(self, path: str, keyword: str) -> Narrowing:
        return (
            path,
            keyword,
            "keyword_unsupported_change",
            _("The keyword %(keyword)s differs and its effect cannot be checked.") % {"keyword": keyword},
        )

    def _unsupported(self, reader: dict[str, Any], writer: dict[str, Any] | None, path: str) -> list[Narrowing]:
        """Other validation keywords: only identical ones are known to be safe."""
        issues: list[Narrowing] = []
        done: set[tuple[str, ...]] = set()
        for keyword in reader:
            if keyword in ANNOTATIONS or keyword in HANDLED:
                continue
            if keyword in _WHOLE_SCHEMA:
                if reader[keyword] is True or (writer is not None and _json_eq(_stripped(reader), _stripped(writer))):
                    continue
                issues.append(self._unsupported_issue(path, keyword))
                continue
            group = _GROUPS.get(keyword, (keyword,))
            if group in done:
                continue
            done.add(group)
            if writer is not None and all(_json_eq(reader.get(k, _MISSING), writer.get(k, _MISSING)) for k in group):
                continue
            issues.append(self._unsupported_issue(path, keyword))
        return issues

    # value by value (a writer with finitely many values)

    def _value_issues(self, reader: Any, value: Any, path: str) -> list[Narrowing]:
        key = ("value", id(reader), id(value), path)
        if key in self._active:
            return []
        self._active.add(key)
        try:
            issues: list[Narrowing] = []
            for part in self._reader_parts(reader, None, path, issues):
                if part is False:
                    issues.append((path, "type", "type_narrowed", _("No value is accepted.")))
                elif isinstance(part, dict) and _constraining(part):
                    issues.extend(self._value_part(part, value, path, None))
            return issues
        finally:
            self._active.discard(key)

    def _value_part(
        self, reader: dict[str, Any], value: Any, path: str, writer: dict[str, Any] | None, check_enum: bool = True
    ) -> list[Narrowing]:
        """Why `reader` rejects `value`. `writer` (at the top only) lets a keyword identical in both pass."""
        issues: list[Narrowing] = []
        rendered = _render(value)
        value_type = _json_type(value)
        types = _types(reader)
        if types is not None and not any(_fits_type(value_type, t) for t in types):
            return [
                (
                    path,
                    "type",
                    "type_narrowed",
                    _("The value %(value)s has type %(type)s, which is not accepted.")
                    % {"value": rendered, "type": value_type},
                )
            ]
        enum = reader.get("enum")
        if check_enum and isinstance(enum, list) and not any(_json_eq(value, e) for e in enum):
            issues.append(
                (
                    path,
                    "enum",
                    "enum_narrowed",
                    _("The value %(value)s is not in the enumeration.") % {"value": rendered},
                )
            )
        if "const" in reader and not _json_eq(value, reader["const"]):
            issues.append(
                (
                    path,
                    "const",
                    "const_changed",
                    _("The value %(value)s differs from the constant %(const)s.")
                    % {"value": rendered, "const": _render(reader["const"])},
                )
            )
        if value_type in ("integer", "number"):
            issues.extend(self._value_number(reader, value, path))
        if value_type == "string":
            issues.extend(self._value_string(reader, value, path))
        format_applies = value_type == "string" or not _string_format(reader.get("format"))
        if (
            format_applies
            and "format" in reader
            and not (writer is not None and _json_eq(reader["format"], writer.get("format", _MISSING)))
        ):
            issues.append(
                (
                    path,
                    "format",
                    "format_changed",
                    _("Values must have the format %(format)s.") % {"format": _render(reader["format"])},
                )
            )
        if value_type == "array":
            issues.extend(self._value_array(reader, value, path))
        if value_type == "object":
            issues.extend(self._value_object(reader, value, path))
        for keyword in ("anyOf", "oneOf"):
            branches = reader.get(keyword)
            if not isinstance(branches, list):
                continue
            passing = sum(1 for branch in branches if not self._value_issues(branch, value, path))
            if passing == 0 or (keyword == "oneOf" and passing > 1):
                issues.append(
                    (
                        path,
                        keyword,
                        "branch_narrowed",
                        _("The value %(value)s does not match the %(keyword)s options.")
                        % {"value": rendered, "keyword": keyword},
                    )
                )
        issues.extend(self._unsupported(reader, writer, path))
        return issues

    def _value_number(self, reader: dict[str, Any], value: int | float, path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        checks = (
            ("minimum", lambda limit: value >= limit),
            ("exclusiveMinimum", lambda limit: value > limit),
            ("maximum", lambda limit: value <= limit),
            ("exclusiveMaximum", lambda limit: value < limit),
        )
        for keyword, passes in checks:
            limit = _num(reader.get(keyword))
            if limit is not None and not passes(limit):
                issues.append(
                    (
                        path,
                        keyword,
                        "bound_tightened",
                        _("The value %(value)s is out of the range set by %(keyword)s %(limit)s.")
                        % {"value": _render(value), "keyword": keyword, "limit": _render(limit)},
                    )
                )
        step = _num(reader.get("multipleOf"))
        if step is not None and step > 0 and not _is_multiple(_frac(value), _frac(step)):
            issues.append(
                (
                    path,
                    "multipleOf",
                    "multiple_of_changed",
                    _("The value %(value)s is not a multiple of %(step)s.")
                    % {"value": _render(value), "step": _render(step)},
                )
            )
        return issues

    def _value_string(self, reader: dict[str, Any], value: str, path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        for keyword, passes in (
            ("minLength", lambda limit: len(value) >= limit),
            ("maxLength", lambda limit: len(value) <= limit),
        ):
            limit = _num(reader.get(keyword))
            if limit is not None and not passes(limit):
                issues.append(
                    (
                        path,
                        keyword,
                        "bound_tightened",
                        _("The value %(value)s is out of the length range set by %(keyword)s %(limit)s.")
                        % {"value": _render(value), "keyword": keyword, "limit": _render(limit)},
                    )
                )
        if "pattern" in reader and not _search(reader["pattern"], value):
            issues.append(
                (
                    path,
                    "pattern",
                    "pattern_changed",
                    _("The value %(value)s does not match the pattern %(pattern)s.")
                    % {"value": _render(value), "pattern": _render(reader["pattern"])},
                )
            )
        return issues

    def _value_array(self, reader: dict[str, Any], value: list[Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        for keyword, passes in (
            ("minItems", lambda limit: len(value) >= limit),
            ("maxItems", lambda limit: len(value) <= limit),
        ):
            limit = _num(reader.get(keyword))
            if limit is not None and not passes(limit):
                issues.append(
                    (
                        path,
                        keyword,
                        "bound_tightened",
                        _("An array of %(count)s items is out of the range set by %(keyword)s %(limit)s.")
                        % {"count": len(value), "keyword": keyword, "limit": _render(limit)},
                    )
                )
        if reader.get("uniqueItems") is True and any(
            _json_eq(a, b) for i, a in enumerate(value) for b in value[i + 1 :]
        ):
            issues.append(
                (path, "uniqueItems", "unique_items_added", _("Arrays with duplicate items are not accepted."))
            )
        prefix = _as_list(reader.get("prefixItems"))
        items = reader.get("items", True)
        for index, item in enumerate(value):
            in_prefix = index < len(prefix)
            subschema = prefix[index] if in_prefix else items
            child = f"{path}[{index}]" if in_prefix else f"{path}[*]"
            if self._reader_false(subschema):
                issues.append(
                    (
                        child,
                        "prefixItems" if in_prefix else "items",
                        "items_narrowed",
                        _("Arrays with an item at position %(index)s are not accepted.") % {"index": index},
                    )
                )
                break
            issues.extend(self._value_issues(subschema, item, child))
        return issues

    def _value_object(self, reader: dict[str, Any], value: dict[str, Any], path: str) -> list[Narrowing]:
        issues: list[Narrowing] = []
        for name in dict.fromkeys(_strings(reader.get("required"))):
            if name not in value:
                issues.append(
                    (
                        _child(path, name),
                        "required",
                        "property_now_required",
                        _("Property %(name)s is required but may be missing.") % {"name": name},
                    )
                )
        properties = _as_dict(reader.get("properties"))
        patterns = _as_dict(reader.get("patternProperties"))
        additional = reader.get("additionalProperties", True)
        for name, item in value.items():
            child = _child(path, name)
            subschemas = [properties[name]] if name in properties else []
            subschemas += [s for p, s in patterns.items() if _search(p, name) is not False]
            if subschemas:
                for subschema in subschemas:
                    issues.extend(self._value_issues(subschema, item, child))
            elif self._value_issues(additional, item, child):
                issues.append(
                    (
                        child,
                        "properties",
                        "property_removed",
                        _("Property %(name)s is not declared and not allowed as an additional property.")
                        % {"name": name},
                    )
                )
        for keyword, passes in (
            ("minProperties", lambda limit: len(value) >= limit),
            ("maxProperties", lambda limit: len(value) <= limit),
        ):
            limit = _num(reader.get(keyword))
            if limit is not None and not passes(limit):
                issues.append(
                    (
                        path,
                        keyword,
                        "bound_tightened",
                        _("An object of %(count)s properties is out of the range set by %(keyword)s %(limit)s.")
                        % {"count": len(value), "keyword": keyword, "limit": _render(limit)},
                    )
                )
        return issues
