"""JSON helpers every app shares: whether a JSON value can be stored and answered back, JSON equality, and
translated messages for jsonschema's errors with each error's path in the document (additionalProperties names
every unknown property on its own path)."""

import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema_rs
from django.utils.translation import gettext as _
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError
from referencing import Registry

# Deep enough for any real schema or plan; far below what the response renderer (orjson stops at 255 levels)
# and the JSON Schema validator can take. A stored value deeper than that could never be shown again: one such
# schema made GET /schema a 500 for everyone.
MAX_JSON_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def json_value_problem(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a decoded JSON value cannot be stored and answered back, or None: nested deeper than `max_depth`,
    a NUL character (PostgreSQL's jsonb refuses it), a lone surrogate (not UTF-8: neither stored nor rendered),
    a number out of range (1e400 decodes as infinity; an integer beyond 64 bits cannot be rendered). Walked
    without recursion: the value may be as deep as the parser allows."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                return str(_("Nested deeper than %(n)d levels.") % {"n": max_depth})
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, item in items:
                if isinstance(key, str):
                    stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(node, str):
            if "\x00" in node:
                return str(_("Text may not contain NUL characters."))
            if _SURROGATE.search(node):
                return str(_("Text may not contain unpaired surrogate characters."))
        elif isinstance(node, float) and not math.isfinite(node):
            return str(_("A number is out of range."))
        elif isinstance(node, int) and not isinstance(node, bool) and not -(2**63) <= node < 2**63:
            # JSON allows it, and PostgreSQL stores it; but the API's renderer (orjson) writes 64-bit integers
            # only, so one such value would make every page that shows the document a 500.
            return str(_("A number is out of range."))
    return None


# --- validation without network and without backtracking ----------------------------------------------------


def no_retrieve(uri: str) -> Any:
    raise ValueError(f"a schema's references are never fetched ({uri})")


NO_REMOTE = Registry()  # type: ignore[var-annotated]  # resolves nothing outside the schema itself


@functools.lru_cache(maxsize=1024)
def _matcher(pattern: str) -> Callable[[str], bool]:
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern}, retriever=no_retrieve).is_valid


def regex_problem(pattern: str) -> str | None:
    """Why a schema's pattern cannot be used (ECMA-262, as the Rust engine reads it), or None."""
    try:
        _matcher(pattern)
    except Exception as exc:  # noqa: BLE001 - whatever the engine refuses
        return str(exc)[:300]
    return None


def regex_search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches somewhere in `text`, as JSON Schema means it, in the Rust engine: it runs in time
    linear in the text, so no pattern of a schema can make a write backtrack for minutes (Python's `re` does,
    e.g. ^(a+)+$ on "aaa…!")."""
    return _matcher(pattern)(text)


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not regex_search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator: Any, patterns: dict, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if regex_search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _extra_keys(instance: dict, schema: Any) -> list[str]:
    known = schema.get("properties", {}) if isinstance(schema, dict) else {}
    patterns = list(schema.get("patternProperties", {})) if isinstance(schema, dict) else []
    return [key for key in instance if key not in known and not any(regex_search(p, key) for p in patterns)]


def _additional_properties(validator: Any, allowed: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if not validator.is_type(instance, "object"):
        return
    extras = _extra_keys(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, sorted(extras)))})")


# Draft 2020-12 with the keywords that match regular expressions done in Rust (above).
SafeValidator = validators.extend(
    Draft202012Validator,
    {"pattern": _pattern, "patternProperties": _pattern_properties, "additionalProperties": _additional_properties},
)


def safe_validator(schema: Any) -> Any:
    """A validator for a schema people wrote: formats asserted, no reference fetched, no regex backtracking."""
    return SafeValidator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER, registry=NO_REMOTE)


def json_equal(a: Any, b: Any) -> bool:
    """The same JSON: Python's == takes 1 for true and 1.0 for 1, which a stored document must not."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def error_problems(error: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    """(path in the document, translated message) for one error; an unknown property is reported at its own path."""
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        extra = sorted(str(key) for key in _extra_keys(error.instance, error.schema))
        if extra:
            return [((*path, key), _("Unknown property.")) for key in extra]
    return [(path, error_message(error))]


def path_order(path: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    """A sort key for document paths: they mix list indexes and object keys, tagged so they never compare."""
    return tuple((0, part) if isinstance(part, int) else (1, str(part)) for part in path)


_TYPE_NAMES = {
    "integer": lambda: _("an integer"),
    "number": lambda: _("a number"),
    "boolean": lambda: _("true or false"),
    "string": lambda: _("a string"),
    "array": lambda: _("a list"),
    "object": lambda: _("an object"),
    "null": lambda: _("null"),
}


def _kinds(types: str | list[str]) -> list[str]:
    return [_TYPE_NAMES[kind]() for kind in ([types] if isinstance(types, str) else types)]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _either(parts: list[str]) -> str:
    if len(parts) == 1:
        return parts[0]
    return _("%(some)s or %(last)s") % {"some": ", ".join(parts[:-1]), "last": parts[-1]}


def error_message(error: ValidationError) -> str:
    """A translated sentence for one jsonschema error (the keywords our schemas use; jsonschema's English text
    for the rest)."""
    keyword, limit = error.validator, error.validator_value
    if keyword == "type":
        return _("Must be %(kinds)s.") % {"kinds": _either(_kinds(limit))}
    if keyword == "minimum":
        return _("Must be at least %(limit)s.") % {"limit": _json(limit)}
    if keyword == "maximum":
        return _("Must be at most %(limit)s.") % {"limit": _json(limit)}
    if keyword == "exclusiveMinimum":
        return _("Must be greater than %(limit)s.") % {"limit": _json(limit)}
    if keyword == "exclusiveMaximum":
        return _("Must be less than %(limit)s.") % {"limit": _json(limit)}
    if keyword in ("enum", "const"):
        choices = limit if keyword == "enum" else [limit]
        return _("Must be one of %(choices)s.") % {"choices": ", ".join(_json(choice) for choice in choices)}
    if keyword == "minItems":
        return _("Must have at least %(limit)s items.") % {"limit": limit}
    if keyword == "maxItems":
        return _("Must have at most %(limit)s items.") % {"limit": limit}
    if keyword in ("anyOf", "oneOf"):
        # A branch of the value's own type that still failed says the most (e.g. a number out of range).
        specific = [sub for sub in error.context or [] if sub.validator not in ("type", "enum", "const")]
        if specific:
            return error_message(min(specific, key=lambda sub: sub.schema_path[0] if sub.schema_path else 0))
        parts: list[str] = []
        for branch in limit:
            if "enum" in branch:
                parts.extend(_json(value) for value in branch["enum"])
            elif "const" in branch:
                parts.append(_json(branch["const"]))
            elif "type" in branch:
                parts.extend(_kinds(branch["type"]))
        return _("Must be %(kinds)s.") % {"kinds": _either(parts)}
    if keyword == "required":
        missing = [name for name in limit if isinstance(error.instance, dict) and name not in error.instance]
        return _("Missing required property %(name)s.") % {"name": _json(missing[0] if missing else limit[0])}
    if keyword == "additionalProperties":
        return _("Unknown property.")
    if keyword == "minLength":
        return _("Must have at least %(limit)s characters.") % {"limit": limit}
    if keyword == "maxLength":
        return _("Must have at most %(limit)s characters.") % {"limit": limit}
    if keyword == "pattern":
        return _("Must match the pattern %(pattern)s.") % {"pattern": _json(limit)}
    if keyword == "format":
        return _("Must be a valid %(format)s.") % {"format": limit}
    if keyword == "multipleOf":
        return _("Must be a multiple of %(limit)s.") % {"limit": _json(limit)}
    if keyword == "uniqueItems":
        return _("Items must be unique.")
    if keyword == "minProperties":
        return _("Must have at least %(limit)s properties.") % {"limit": limit}
    if keyword == "maxProperties":
        return _("Must have at most %(limit)s properties.") % {"limit": limit}
    return error.message
