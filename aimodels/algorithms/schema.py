"""Hyperparameter schemas: builders for the JSON Schema (draft 2020-12) each algorithm declares, validate() that
checks a job's hyperparameters against it and fills in the defaults, and translate() for showing a schema.

Titles and descriptions are English source strings marked with gettext_noop (so makemessages finds them);
translate() turns them into the active language when a schema is shown.

Numbers in JSON carry no int/float distinction that survives every client, so validate() hands the algorithm
an int for an "integer" property (JSON Schema counts 3.0 as an integer) and a float for a "number" one
(scikit-learn reads max_features=1 as "one feature" but 1.0 as "all of them"). true and false are never
numbers.
"""

import copy
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from datasets.engine.messages import gettext as _
from incubator.schemas import error_message as _message

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ROOT = "hyperparameters"


class HyperparameterError(ValueError):
    """Hyperparameters that do not fit the algorithm's schema. `path` is dotted and starts at "hyperparameters"
    (e.g. "hyperparameters.hidden_layer_sizes.2"); `message` is translated."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


# Builders: every property has a title, a description, a default and bounds (or a list of choices).


def _property(kind: str | list[str], title: str, description: str, default: Any, **bounds: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "title": title,
        "description": description,
        "default": default,
        **{key: value for key, value in bounds.items() if value is not None},
    }


def integer(
    title: str, description: str, *, default: int | None, minimum: int, maximum: int, nullable: bool = False
) -> dict[str, Any]:
    kind: str | list[str] = ["integer", "null"] if nullable else "integer"
    return _property(kind, title, description, default, minimum=minimum, maximum=maximum)


def number(
    title: str,
    description: str,
    *,
    default: float | None,
    minimum: float | None = None,
    maximum: float,
    exclusive_minimum: float | None = None,
    nullable: bool = False,
) -> dict[str, Any]:
    kind: str | list[str] = ["number", "null"] if nullable else "number"
    return _property(
        kind, title, description, default, minimum=minimum, exclusiveMinimum=exclusive_minimum, maximum=maximum
    )


def boolean(title: str, description: str, *, default: bool) -> dict[str, Any]:
    return _property("boolean", title, description, default)


def choice(title: str, description: str, *, default: Any, choices: list[Any]) -> dict[str, Any]:
    return {"enum": list(choices), "title": title, "description": description, "default": default}


def hyperparameters(**properties: dict[str, Any]) -> dict[str, Any]:
    """The schema of an algorithm's hyperparameters: an object of these properties and no others."""
    return {"$schema": DRAFT, "type": "object", "additionalProperties": False, "properties": properties}


# Validation.


def validate(algorithm: Any, params: Any) -> dict[str, Any]:
    """`params` (None means {}) checked against `algorithm.schema` (an Algorithm or the schema itself), returned
    as a new dict with every default filled in. Raises HyperparameterError for the first error, in the order of
    the paths (an error at the top before one inside; object keys alphabetically, list items by index)."""
    schema = algorithm if isinstance(algorithm, dict) else algorithm.schema
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise HyperparameterError(ROOT, _("Hyperparameters must be a JSON object."))
    validator = Draft202012Validator(schema)
    problems: list[tuple[tuple[Any, ...], str]] = []
    for error in validator.iter_errors(params):
        problems.extend(_problems(error, schema))
    if problems:
        path, message = min(problems, key=lambda problem: _order(problem[0]))
        raise HyperparameterError(".".join([ROOT, *(str(part) for part in path)]), message)
    properties = schema.get("properties", {})
    filled = {name: copy.deepcopy(spec.get("default")) for name, spec in properties.items()}
    for name, value in params.items():
        filled[name] = _coerce(value, properties[name])
    return filled


def _order(path: tuple[Any, ...]) -> tuple[tuple[int, Any], ...]:
    # A path mixes list indexes and object keys; tag them so they never compare with each other.
    return tuple((0, part) if isinstance(part, int) else (1, str(part)) for part in path)


def _problems(error: ValidationError, schema: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    path = tuple(error.absolute_path)
    if error.validator == "additionalProperties":
        known = set(error.schema.get("properties", {}))
        extra = sorted(str(key) for key in error.instance if key not in known)
        return [((*path, key), _("Unknown hyperparameter.")) for key in extra]
    return [(path, _message(error))]


def _types(spec: dict[str, Any]) -> set[str]:
    kinds = spec.get("type", ())
    found = {kinds} if isinstance(kinds, str) else set(kinds)
    for branch in [*spec.get("anyOf", ()), *spec.get("oneOf", ())]:
        found |= _types(branch)
    return found


def _coerce(value: Any, spec: dict[str, Any]) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    kinds = _types(spec)
    if isinstance(value, float) and "integer" in kinds and "number" not in kinds and value.is_integer():
        return int(value)
    if isinstance(value, int) and "number" in kinds and "integer" not in kinds:
        return float(value)
    if isinstance(value, list) and isinstance(spec.get("items"), dict):
        return [_coerce(item, spec["items"]) for item in value]
    return copy.deepcopy(value)


def translate(schema: Any) -> Any:
    """A copy of `schema` with every title and description in the active language."""
    if isinstance(schema, list):
        return [translate(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    shown: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "description") and isinstance(value, str):
            shown[key] = _(value) if value else value
        elif key in ("default", "enum", "const"):
            shown[key] = copy.deepcopy(value)
        else:
            shown[key] = translate(value)
    return shown
