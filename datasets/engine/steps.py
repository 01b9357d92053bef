"""The names, choices, limits and fields of preprocessing steps, in a module that imports neither polars nor
pyarrow: datasets.engine.pipeline checks pipelines with them, and the API's OpenAPI description of the steps
(datasets.api.pipeline_schema) is made from them in the web process, which never loads the engine."""

from typing import Any

STEP_TYPES = (
    "select_columns",
    "drop_columns",
    "rename",
    "drop_na",
    "fill_na",
    "filter",
    "cast",
    "normalize",
    "one_hot",
    "label_encode",
    "deduplicate",
    "sample",
    "train_test_split",
)
MAX_STEPS = 50
MAX_CATEGORIES = 100
MAX_LIST_VALUES = 1_000
MAX_NAME_LENGTH = 255
MAX_SEED = 2**64 - 1

FILTER_OPS = (
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "is_null",
    "not_null",
)
CAST_TYPES = ("integer", "float", "string", "boolean", "date", "datetime")
FILL_STRATEGIES = ("mean", "median", "mode", "constant")
NORMALIZE_METHODS = ("min_max", "z_score")

# Fields of each step besides "type": required, and optional with their defaults.
FIELDS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "select_columns": (("columns",), {}),
    "drop_columns": (("columns",), {}),
    "rename": (("mapping",), {}),
    "drop_na": ((), {"columns": None, "how": "any"}),
    "fill_na": (("columns", "strategy"), {"value": None}),
    "filter": (("column", "op"), {"value": None}),
    "cast": (("to",), {"columns": None, "column": None, "strict": True}),
    "normalize": (("columns",), {"method": "min_max"}),
    "one_hot": (("columns",), {"drop_original": True, "max_categories": MAX_CATEGORIES, "categories": None}),
    "label_encode": (("columns",), {}),
    "deduplicate": ((), {"columns": None, "keep": "first"}),
    "sample": ((), {"n": None, "fraction": None, "seed": 0}),
    "train_test_split": (("test_ratio",), {"seed": 0, "stratify": None, "column": "split"}),
}
