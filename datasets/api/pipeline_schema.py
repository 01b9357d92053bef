"""The OpenAPI description of a preprocessing pipeline's steps: one component per step type, chosen by `type`
(a discriminator), so a client generated from the document knows each step's fields, their types, choices and
defaults. datasets.engine.pipeline is what checks them, with the fields of datasets.engine.steps; test_pipeline_schema
holds the two together. (The engine itself, and polars, never load in the web process.)"""

from typing import Any

from ..engine import steps as pipeline

COMPONENT = "PipelineStep"

_NAME = {"type": "string", "minLength": 1, "maxLength": pipeline.MAX_NAME_LENGTH}
_COLUMNS = {"type": "array", "items": _NAME, "minItems": 1, "description": "Column names."}
_ALL_COLUMNS = {**_COLUMNS, "nullable": True, "description": "Column names; all of them when left out or null."}
_SEED = {"type": "integer", "minimum": 0, "maximum": pipeline.MAX_SEED, "default": 0}
_ANY = {"nullable": True, "description": "A JSON value that suits the column's type (ISO text for dates)."}

# Each step: (description, {field: schema}); the required fields are the engine's (pipeline._FIELDS).
_STEPS: dict[str, tuple[str, dict[str, Any]]] = {
    "select_columns": ("Keeps these columns, in this order.", {"columns": _COLUMNS}),
    "drop_columns": ("Removes these columns (not all of them).", {"columns": _COLUMNS}),
    "rename": (
        "Renames columns; the new names must not collide with each other or with the columns kept.",
        {
            "mapping": {
                "type": "object",
                "additionalProperties": _NAME,
                "minProperties": 1,
                "description": "Old name: new name.",
            }
        },
    ),
    "drop_na": (
        "Drops the rows with a null in any (or all) of the columns. Only nulls count: a float NaN is a value.",
        {"columns": _ALL_COLUMNS, "how": {"type": "string", "enum": ["any", "all"], "default": "any"}},
    ),
    "fill_na": (
        "Fills nulls: mean and median take number columns (the result is a float), mode the most frequent value "
        "(the smallest of ties), constant the value given, which must suit every column's type.",
        {
            "columns": _COLUMNS,
            "strategy": {"type": "string", "enum": list(pipeline.FILL_STRATEGIES)},
            "value": {**_ANY, "description": "The constant (strategy constant only)."},
        },
    ),
    "filter": (
        "Keeps the rows where the comparison holds; a null never matches (as in SQL) but for is_null. Dates are "
        "compared with ISO text; contains and starts_with are literal text.",
        {
            "column": _NAME,
            "op": {"type": "string", "enum": list(pipeline.FILTER_OPS)},
            "value": {
                **_ANY,
                "description": "Compared with the column; a list for in and not_in; none for is_null and not_null.",
            },
        },
    ),
    "cast": (
        "Converts columns to another type. A strict cast fails the run on a value that does not convert; a "
        "non-strict one makes it null.",
        {
            "to": {"type": "string", "enum": list(pipeline.CAST_TYPES)},
            "columns": {**_COLUMNS, "nullable": True, "description": "Column names (or `column`)."},
            "column": {**_NAME, "nullable": True, "description": "One column name (or `columns`)."},
            "strict": {"type": "boolean", "default": True},
        },
    ),
    "normalize": (
        "Scales number columns to [0, 1] (min_max) or to mean 0 and standard deviation 1 (z_score); a constant "
        "column becomes 0.",
        {
            "columns": _COLUMNS,
            "method": {"type": "string", "enum": list(pipeline.NORMALIZE_METHODS), "default": "min_max"},
        },
    ),
    "one_hot": (
        'One 0/1 column "<column>_<value>" per value of each column. Without `categories` the values are the '
        "column's own, known only when the step runs.",
        {
            "columns": _COLUMNS,
            "drop_original": {"type": "boolean", "default": True},
            "max_categories": {
                "type": "integer",
                "minimum": 1,
                "maximum": pipeline.MAX_CATEGORIES,
                "default": pipeline.MAX_CATEGORIES,
            },
            "categories": {
                "type": "object",
                "nullable": True,
                "additionalProperties": {"type": "array", "items": {}, "minItems": 1},
                "description": "Column name: its values, in the order of the new columns.",
            },
        },
    ),
    "label_encode": (
        "Replaces text, categorical or boolean values by integer codes 0..k-1, in the sorted order of the values.",
        {"columns": _COLUMNS},
    ),
    "deduplicate": (
        "Drops repeated rows (compared on the columns), keeping the first or last of each.",
        {"columns": _ALL_COLUMNS, "keep": {"type": "string", "enum": ["first", "last"], "default": "first"}},
    ),
    "sample": (
        "A random sample of the rows, in their order: `n` rows (all when fewer) or a `fraction` of them.",
        {
            "n": {"type": "integer", "minimum": 0, "nullable": True, "description": "Rows to keep (or `fraction`)."},
            "fraction": {
                "type": "number",
                "exclusiveMinimum": True,
                "minimum": 0,
                "maximum": 1,
                "nullable": True,
                "description": "Share of the rows to keep (or `n`).",
            },
            "seed": _SEED,
        },
    ),
    "train_test_split": (
        'Adds a column of "train" and "test": in every stratum, round(test_ratio x rows) rows are "test".',
        {
            "test_ratio": {
                "type": "number",
                "exclusiveMinimum": True,
                "exclusiveMaximum": True,
                "minimum": 0,
                "maximum": 1,
            },
            "seed": _SEED,
            "stratify": {**_NAME, "nullable": True, "description": "A column whose values keep their proportions."},
            "column": {**_NAME, "default": "split"},
        },
    ),
}


def _component_name(step_type: str) -> str:
    return COMPONENT + "".join(part.capitalize() for part in step_type.split("_"))


def step_components() -> dict[str, dict[str, Any]]:
    """{component name: schema}: PipelineStep (one of the steps, by `type`) and one component per step type."""
    components: dict[str, dict[str, Any]] = {}
    for step_type, (description, fields) in _STEPS.items():
        required, _optional = pipeline.FIELDS[step_type]
        components[_component_name(step_type)] = {
            "type": "object",
            "description": description,
            "properties": {"type": {"type": "string", "enum": [step_type]}, **fields},
            "required": ["type", *required],
        }
    components[COMPONENT] = {
        "description": "One step of a preprocessing pipeline; `type` says which, and so which fields it takes.",
        "oneOf": [{"$ref": f"#/components/schemas/{name}"} for name in components],
        "discriminator": {
            "propertyName": "type",
            "mapping": {step: f"#/components/schemas/{_component_name(step)}" for step in _STEPS},
        },
    }
    return components


def add_step_components(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the components that `{"$ref": PipelineStep}` fields point to."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(step_components())
    return result
