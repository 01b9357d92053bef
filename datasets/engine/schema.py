"""What every engine module shares: the canonical Parquet layout, column type names, and the result of a
conversion or pipeline run."""

from typing import Any

import polars as pl
import pyarrow.parquet as pq

from .terms import Converted

# The canonical copy: zstd, statistics on, row groups small enough that a preview page reads one or two.
ROW_GROUP_ROWS = 16_384
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "statistics": True,
    "row_group_size": ROW_GROUP_ROWS,
}
# A row group holds at most this many values: fewer rows for a wide frame, never fewer than MIN_ROW_GROUP_ROWS. A
# writer holds a whole group, and a preview page decodes one: 16,384 rows of 1,500 columns held 315 MB to write,
# 2,048 rows 115 MB in the same time (512 rows took longer and more memory again, in per-group overhead).
ROW_GROUP_CELLS = 20 * ROW_GROUP_ROWS
MIN_ROW_GROUP_ROWS = 2_048


def parquet_options(columns: int) -> dict[str, Any]:
    """PARQUET_OPTIONS for a frame of `columns` columns (see ROW_GROUP_CELLS)."""
    rows = max(MIN_ROW_GROUP_ROWS, min(ROW_GROUP_ROWS, ROW_GROUP_CELLS // max(columns, 1)))
    return {**PARQUET_OPTIONS, "row_group_size": rows}


def type_name(dtype: pl.DataType) -> str:
    """The API's name for a polars dtype."""
    if dtype.is_integer():
        return "integer"
    if dtype.is_float():
        return "float"
    if dtype.is_decimal():
        return "decimal"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype in (pl.String, pl.Utf8):
        return "string"
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.Time:
        return "time"
    if isinstance(dtype, pl.Duration):
        return "duration"
    if dtype == pl.Binary:
        return "binary"
    if isinstance(dtype, pl.List | pl.Array):
        return "list"
    if isinstance(dtype, pl.Struct) or _is_map(dtype):  # a map reads as a JSON object, as a struct does
        return "struct"
    if dtype == pl.Null:
        return "null"
    return "string"


def _is_map(dtype: pl.DataType) -> bool:
    """A Parquet map column (polars 2 reads it as pl.Map)."""
    kind = getattr(pl, "Map", None)
    return kind is not None and isinstance(dtype, kind)


def columns_of(parquet_path: str) -> Converted:
    """Rows and columns of a Parquet file from its footer alone: `nullable` is whether the column holds a
    null (from the row groups' statistics), not what the schema allows."""
    meta = pq.ParquetFile(parquet_path).metadata
    schema = pl.read_parquet_schema(parquet_path)
    nulls = [0] * meta.num_columns
    unknown = [False] * meta.num_columns
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for index in range(row_group.num_columns):
            stats = row_group.column(index).statistics
            if stats is None or not stats.has_null_count:
                unknown[index] = True
            else:
                nulls[index] += stats.null_count
    # Leaf columns map one-to-one to top-level columns only for flat schemas; nested ones are nullable.
    flat = meta.num_columns == len(schema)
    columns = []
    for index, (name, dtype) in enumerate(schema.items()):
        nullable = (nulls[index] > 0 or unknown[index]) if flat else True
        columns.append({"name": name, "type": type_name(dtype), "nullable": nullable})
    return Converted(row_count=meta.num_rows, columns=columns)
