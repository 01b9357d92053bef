"""What the engine reads and returns, in a module that imports neither polars nor pyarrow: the formats and their
content types, the column type names, a conversion's result. The web process's views and a Celery worker (which
runs the engine in a process of its own, datasets.engine.isolated) use these without loading the engine."""

import os
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet", "xlsx")

CONTENT_TYPES = {
    "csv": "text/csv",
    "tsv": "text/tab-separated-values",
    "json": "application/json",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# The file name extensions of each format, the usual one first (for naming a download).
EXTENSIONS: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "tsv": (".tsv", ".tab"),
    "json": (".json",),
    "jsonl": (".jsonl", ".ndjson"),
    "parquet": (".parquet", ".pq"),
    "xlsx": (".xlsx", ".xlsm"),
}


def extension_of(file_name: str) -> str:
    return os.path.splitext(file_name)[1].lower()


def format_of_extension(ext: str) -> str | None:
    for fmt, extensions in EXTENSIONS.items():
        if ext in extensions:
            return fmt
    return None


# The type names the API shows for a column (ColumnSerializer's choices).
TYPE_NAMES = (
    "integer",
    "float",
    "decimal",
    "boolean",
    "string",
    "categorical",
    "date",
    "datetime",
    "time",
    "duration",
    "binary",
    "list",
    "struct",
    "null",
)


@dataclass
class Converted:
    """A Parquet file written by the engine: its rows and columns as the API shows them."""

    row_count: int
    columns: list[dict[str, Any]] = field(default_factory=list)  # {"name", "type", "nullable"}
    details: dict[str, Any] = field(default_factory=dict)  # e.g. {"encoding": "gb18030", "delimiter": ","}
