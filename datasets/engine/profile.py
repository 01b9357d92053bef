"""profile(): column statistics of a canonical Parquet copy, in a few streaming passes that never hold the frame.

The result (JSON-serialisable: NaN and infinities become None, dates and times ISO 8601 strings):
    {"rows", "columns", "memory_bytes" (what polars would hold in memory, as DataFrame.estimated_size counts),
     "duplicate_rows" (rows equal to an earlier row), "column_profiles": [{
        "name", "type" (schema.type_name), "null_count", "null_ratio" (0.0 when there are no rows),
        "distinct_count" (non-null values), "distinct_approximate",
        numbers:   "nan_count" (floats), "min", "max", "mean", "std" (sample, ddof=1),
                   "quantiles" {"p5", "p25", "p50", "p75", "p95"} (linear interpolation, as numpy and pandas),
                   "zeros", "negatives", "histogram",
        strings, categoricals, booleans: "top_values" [{"value", "count"}] (ten, by count then value),
        strings:   "length" {"min", "max", "mean"} (characters), "length_histogram",
        booleans:  "true_count", "false_count",
        dates, datetimes, times: "min", "max", "histogram" (edges as ISO strings),
     }]}
A histogram is {"bins": n + 1 edges, "counts": n counts} or None when the column has no values. A bin holds
[edge, next edge) and the last one also its upper edge. Whole numbers, dates, datetimes, times and string
lengths get at most 20 bins of a whole width (one per value when the range is small); floats 20 equal bins over
their finite range, with infinities in the outer bins. The counts add up to the non-null (and non-NaN) count.

The passes, each a streaming polars query reading only the columns it needs:
1. one query for the null counts (only when the footer's statistics lack them), the strings' total bytes and
   estimated distinct counts, and the distinct counts of the types without a pass of their own;
2. a query per HASH_COLUMNS columns hashing every row, for the duplicate count (8 bytes a row);
3. per column: the sorted non-null values of a number, date or string length (min, max, mean, std, exact
   quantiles, histogram by binary search over the edges), or the value counts of a string, categorical or
   boolean column, in hash partitions for high-cardinality columns (the column written once to a scratch file per
   partition, each counted on its own).
So peak memory is about one column (or one partition of its distinct values) at a time.
"""

import contextlib
import math
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from . import schema

# Up to this many rows, distinct counts that no pass gives for free are exact; above, HyperLogLog estimates.
EXACT_DISTINCT_ROWS = 100_000
HISTOGRAM_BINS = 20
# Columns hashed per query when counting duplicate rows (see _duplicate_rows).
HASH_COLUMNS = 100
TOP_VALUES = 10
QUANTILES = {"p5": 0.05, "p25": 0.25, "p50": 0.5, "p75": 0.75, "p95": 0.95}
# Memory one partition of a column's value counts may take (smaller: lower peak, more passes over the column; 16 MB
# kept 1M x 20 under 1.3x its CSV size at no measurable cost in time), and what a distinct value costs on top of
# its bytes (measured with polars 2.1's streaming group-by).
COUNT_PARTITION_BYTES = 16 * 1024 * 1024
_COUNT_BYTES_PER_VALUE = 112
# Rows per row group of a partition's scratch file: the partitioned sink holds one open group per partition (4,096
# kept 3,000,000 distinct ids of 24 partitions in the memory the counting itself takes).
PARTITION_ROW_GROUP_ROWS = 4_096
# A file with more columns than this, whose data takes at most IN_MEMORY_BYTES uncompressed, is profiled in memory
# (see _source).
WIDE_COLUMNS = 200
IN_MEMORY_BYTES = 64 * 1024 * 1024
_DAY_NANOSECONDS = 86_400 * 1_000_000_000

_NUMBER_TYPES = ("integer", "float", "decimal")
_TEMPORAL_TYPES = ("date", "datetime", "time")
_COUNTED_TYPES = ("string", "categorical", "boolean")
# Bytes per value of fixed-width types in memory (validity bitmaps added separately).
_FIXED_WIDTH: dict[type[pl.DataType], int] = {
    pl.Int8: 1, pl.Int16: 2, pl.Int32: 4, pl.Int64: 8, pl.Int128: 16,
    pl.UInt8: 1, pl.UInt16: 2, pl.UInt32: 4, pl.UInt64: 8, pl.UInt128: 16,
    pl.Float32: 4, pl.Float64: 8, pl.Decimal: 16,
    pl.Date: 4, pl.Datetime: 8, pl.Time: 8, pl.Duration: 8, pl.Categorical: 4, pl.Enum: 4,
}  # fmt: skip


def profile(parquet_path: str, *, progress: Callable[[float], None] | None = None) -> dict[str, Any]:
    """Statistics of every column of the Parquet file at `parquet_path`, JSON-serialisable (no NaN or infinity:
    those are None; dates and times are ISO strings). Deterministic for the same file. `progress`, when given,
    is called with a fraction between 0 and 1 a handful of times."""
    reporter = _Progress(progress)
    meta = pq.ParquetFile(parquet_path).metadata
    rows = meta.num_rows
    frame, column_frame = _source(parquet_path, meta)
    columns = frame.collect_schema()
    reporter(0.0)

    first = _first_pass(frame, columns, rows, _footer_nulls(meta, len(columns)))
    reporter(0.1)
    duplicate_rows = _duplicate_rows(frame, columns, rows)
    reporter(0.2)

    column_profiles = []
    memory_bytes = 0
    uncompressed = _uncompressed_sizes(meta)
    for index, (name, dtype) in enumerate(columns.items()):
        kind = schema.type_name(dtype)
        facts = first[name]
        null_count = facts["nulls"]
        column: dict[str, Any] = {
            "name": name,
            "type": kind,
            "null_count": null_count,
            "null_ratio": null_count / rows if rows else 0.0,
        }
        if kind in _NUMBER_TYPES:
            column.update(_number_profile(column_frame(name), name, dtype))
        elif kind in _TEMPORAL_TYPES:
            column.update(_temporal_profile(column_frame(name), name, dtype))
        elif kind in _COUNTED_TYPES:
            column.update(_counted_profile(column_frame(name), name, kind, facts))
        else:
            column["distinct_count"], column["distinct_approximate"] = facts["distinct"], facts["approximate"]
        memory_bytes += _estimated_bytes(dtype, rows, null_count, facts.get("bytes", 0), uncompressed.get(name, 0))
        column_profiles.append(column)
        reporter(0.2 + 0.8 * (index + 1) / len(columns))
    reporter(1.0)
    return {
        "rows": rows,
        "columns": len(columns),
        "memory_bytes": memory_bytes,
        "duplicate_rows": duplicate_rows,
        "column_profiles": column_profiles,
    }


def _source(parquet_path: str, meta: pq.FileMetaData) -> tuple[pl.LazyFrame, Callable[[str], pl.LazyFrame]]:
    """The file to profile as a query, and a function giving the query of one of its columns. Each column's
    statistics are a query of their own, and each query on a Parquet file reads its footer, which describes every
    column; a query on a frame in memory plans over every column too. On a wide file either is a time quadratic in
    the columns (4,000 columns of one row took 11 s; 20,000 did not finish in 4 minutes). A wide file whose data is
    small (IN_MEMORY_BYTES, uncompressed) is read once, and each column profiled from a frame of that column alone;
    any other file is read where it lies, its footer small next to its data."""
    if meta.num_columns > WIDE_COLUMNS and sum(_uncompressed_sizes(meta).values()) <= IN_MEMORY_BYTES:
        data = pl.read_parquet(parquet_path)
        by_name = {series.name: series for series in data.get_columns()}  # a select would scan the names each time
        return data.lazy(), lambda name: by_name[name].to_frame().lazy()
    frame = pl.scan_parquet(parquet_path)
    return frame, lambda name: frame


class _Progress:
    """Passes fractions on, at most about once per tenth, always 0 and 1."""

    def __init__(self, callback: Callable[[float], None] | None) -> None:
        self.callback = callback
        self.last = -1.0

    def __call__(self, fraction: float) -> None:
        if self.callback is None:
            return
        if fraction != self.last and (fraction in (0.0, 1.0) or fraction - self.last >= 0.1):
            self.last = fraction
            self.callback(round(fraction, 4))


def _footer_nulls(meta: pq.FileMetaData, column_count: int) -> list[int] | None:
    """Null counts from the row groups' statistics (the canonical copy has them), or None when any is missing
    or the schema is nested (leaf columns then do not map to columns)."""
    if meta.num_columns != column_count:
        return None
    nulls = [0] * column_count
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for index in range(column_count):
            stats = row_group.column(index).statistics
            if stats is None or not stats.has_null_count:
                return None
            nulls[index] += stats.null_count
    return nulls


def _first_pass(
    frame: pl.LazyFrame, columns: pl.Schema, rows: int, footer_nulls: list[int] | None
) -> dict[str, dict[str, Any]]:
    """One query for what later passes need to know first: null counts (unless the footer had them), the
    strings' total bytes and estimated distinct counts (to size their value counts), and the distinct counts of
    the types with no pass of their own."""
    approximate = rows > EXACT_DISTINCT_ROWS
    facts: dict[str, dict[str, Any]] = {name: {} for name in columns}
    expressions = []
    for position, (name, dtype) in enumerate(columns.items()):
        column = pl.col(name)
        if footer_nulls is None:
            expressions.append(column.null_count().alias(f"nulls|{position}"))
        else:
            facts[name]["nulls"] = footer_nulls[position]
        kind = schema.type_name(dtype)
        if kind in ("string", "categorical"):
            text = column.cast(pl.String)
            expressions.append(text.str.len_bytes().sum().alias(f"bytes|{position}"))
            expressions.append(text.approx_n_unique().alias(f"estimate|{position}"))
        elif kind not in _NUMBER_TYPES + _TEMPORAL_TYPES + _COUNTED_TYPES:
            # Hashing first makes every type countable (lists, structs, binary) at 8 bytes a value.
            values = column.drop_nulls().hash()
            distinct = values.approx_n_unique() if approximate else values.n_unique()
            expressions.append(distinct.alias(f"distinct|{position}"))
            facts[name]["approximate"] = approximate
    if expressions:
        result = frame.select(expressions).collect(engine="streaming").row(0, named=True)
        names = list(columns)
        for key, value in result.items():
            fact, index = key.split("|")
            facts[names[int(index)]][fact] = int(value or 0)
    return facts


def _duplicate_rows(frame: pl.LazyFrame, columns: pl.Schema, rows: int) -> int:
    """Rows equal to an earlier row. Counted on 64-bit row hashes, so two different rows could collide and be
    taken for one: with a million rows the chance is about n^2 / 2^65, under one in ten million. Holding the hashes
    costs 8 bytes a row rather than the whole frame."""
    if rows == 0:
        return 0
    if not columns:
        return rows - 1
    # HASH_COLUMNS columns at a time, each group's hash folded into the rows' hashes so far: a query over every
    # column of a wide file decoded all of it at once (1,500 columns of 20,000 rows: 500 MB).
    names = list(columns)
    hashes: pl.Series | None = None
    for start in range(0, len(names), HASH_COLUMNS):
        group = frame.select(pl.struct(names[start : start + HASH_COLUMNS]).hash().alias("hash"))
        part = group.collect(engine="streaming").to_series()
        if hashes is not None:
            part = pl.DataFrame({"rows": hashes, "group": part}).select(pl.struct("rows", "group").hash()).to_series()
        hashes = part
    assert hashes is not None
    return rows - hashes.n_unique()


def _uncompressed_sizes(meta: pq.FileMetaData) -> dict[str, int]:
    """Uncompressed Parquet bytes of each top-level column: the memory estimate of types with no better one."""
    sizes: dict[str, int] = {}
    for group in range(meta.num_row_groups):
        row_group = meta.row_group(group)
        for index in range(row_group.num_columns):
            chunk = row_group.column(index)
            top = chunk.path_in_schema.split(".")[0]
            sizes[top] = sizes.get(top, 0) + chunk.total_uncompressed_size
    return sizes


def _estimated_bytes(dtype: pl.DataType, rows: int, null_count: int, string_bytes: int, uncompressed: int) -> int:
    """About what polars would hold for the column in memory, counted as DataFrame.estimated_size counts it
    (the strings' bytes, values times their width, validity bitmaps); uncompressed Parquet bytes for the rest."""
    validity = (rows + 7) // 8 if null_count else 0
    width = _FIXED_WIDTH.get(dtype.base_type())
    if width is not None:
        return rows * width + validity
    if dtype == pl.Boolean:
        return (rows + 7) // 8 + validity
    if dtype == pl.String:
        return string_bytes + validity
    if dtype == pl.Null:
        return 0
    return uncompressed


def _number_profile(frame: pl.LazyFrame, name: str, dtype: pl.DataType) -> dict[str, Any]:
    column = pl.col(name)
    if dtype.is_decimal():
        column = column.cast(pl.Float64)
    is_float = dtype.is_float() or dtype.is_decimal()
    values = _sorted_values(frame, column.alias(name))
    nan_count = 0
    if is_float:
        nan_count = int(values.is_nan().sum())
        if nan_count:
            values = values.filter(values.is_not_nan())
    result: dict[str, Any] = {
        # NaN is a value (not a null) but no statistic below can use it: counted apart, and as one distinct value.
        "distinct_count": values.n_unique() + (1 if nan_count else 0),
        "distinct_approximate": False,
    }
    if is_float:
        result["nan_count"] = nan_count
    count = len(values)
    if count == 0:
        empty_quantiles: dict[str, Any] = dict.fromkeys(QUANTILES)
        result.update(min=None, max=None, mean=None, std=None, quantiles=empty_quantiles, zeros=0, negatives=0)
        result["histogram"] = None
        return result
    if is_float:
        result.update(min=_number(values[0]), max=_number(values[-1]))
    else:
        result.update(min=int(values[0]), max=int(values[-1]))
    result.update(
        mean=_number(values.cast(pl.Float64).mean()),
        # Sample standard deviation (ddof=1), as pandas' describe(); None for a single value.
        std=_number(values.cast(pl.Float64).std()) if count > 1 else None,
        quantiles={key: _number(_quantile(values, q)) for key, q in QUANTILES.items()},
        zeros=int((values == 0).sum()),
        negatives=int((values < 0).sum()),
    )
    if is_float:
        finite = values.filter(values.is_finite())
        if len(finite) == 0:
            result["histogram"] = None
        else:
            # Infinities fall in the first or last bin, so the counts still add up to the non-null count.
            low, high = float(finite[0]), float(finite[-1])
            edges = _float_edges(low, high)
            result["histogram"] = {"bins": edges, "counts": _bin_counts(values, edges[1:-1], values.dtype)}
    else:
        edges_int = _integer_edges(int(values[0]), int(values[-1]))
        result["histogram"] = {"bins": edges_int, "counts": _bin_counts(values, edges_int[1:-1], values.dtype)}
    return result


def _temporal_profile(frame: pl.LazyFrame, name: str, dtype: pl.DataType) -> dict[str, Any]:
    values = _sorted_values(frame, pl.col(name))
    result: dict[str, Any] = {"distinct_count": values.n_unique(), "distinct_approximate": False}
    if len(values) == 0:
        result.update(min=None, max=None, histogram=None)
        return result
    physical = values.to_physical().cast(pl.Int64)
    edges = _integer_edges(int(physical[0]), int(physical[-1]))
    labels = edges
    if dtype == pl.Time:
        # The last edge may pass midnight, which no time of day can show: its label stops at the day's end.
        labels = [min(edge, _DAY_NANOSECONDS - 1) for edge in edges]
    result.update(
        min=_iso(values[:1])[0],
        max=_iso(values[-1:])[0],
        histogram={
            # Edges back in the column's own type; a bin holds [edge, next edge), whole days for dates.
            "bins": _iso(pl.Series(labels, dtype=pl.Int64).cast(dtype)),
            "counts": _bin_counts(physical, edges[1:-1], pl.Int64),
        },
    )
    return result


def _counted_profile(frame: pl.LazyFrame, name: str, kind: str, facts: dict[str, Any]) -> dict[str, Any]:
    """Profile of a string, categorical or boolean column from its value counts (nulls left out). Counting a
    column of a million distinct strings holds all of them plus a hash table (about 130 bytes a value), so a
    high-cardinality column is counted in partitions by the hash of the value, each holding about
    COUNT_PARTITION_BYTES: every value lives in exactly one partition, so the distinct counts add up and the top
    values of the whole column are among the partitions' top values (see _partitions)."""
    column = pl.col(name)
    if kind == "categorical":
        # Counted by the category's text, so the order of the top values does not depend on the dictionary.
        column = column.cast(pl.String)
    partitions = 1
    if kind != "boolean" and facts.get("estimate"):
        distinct = facts["estimate"]
        average = facts.get("bytes", 0) / max(distinct, 1)
        partitions = max(1, math.ceil(distinct * (average + _COUNT_BYTES_PER_VALUE) / COUNT_PARTITION_BYTES))
    values = frame.select(column.alias("value")).drop_nulls()
    distinct_count = 0
    tops = []
    true_count = false_count = 0
    with _partitions(values, partitions) as parts:
        for part in parts:
            counts = part.group_by("value").agg(pl.len().cast(pl.Int64).alias("count")).collect(engine="streaming")
            distinct_count += counts.height
            tops.append(counts.top_k(TOP_VALUES, by=["count", "value"], reverse=[False, True]))
            if kind == "boolean":
                by_value = dict(counts.iter_rows())
                true_count, false_count = int(by_value.get(True, 0)), int(by_value.get(False, 0))
            del counts
    top = pl.concat(tops).sort(["count", "value"], descending=[True, False]).head(TOP_VALUES) if tops else None
    result: dict[str, Any] = {
        "distinct_count": distinct_count,
        "distinct_approximate": False,
        "top_values": [] if top is None else [{"value": row[0], "count": row[1]} for row in top.iter_rows()],
    }
    if kind == "boolean":
        result.update(true_count=true_count, false_count=false_count)
    elif kind == "string":
        lengths = _sorted_values(frame, pl.col(name).str.len_chars().cast(pl.Int64))
        if len(lengths) == 0:
            result["length"] = {"min": None, "max": None, "mean": None}
            result["length_histogram"] = None
        else:
            low, high = int(lengths[0]), int(lengths[-1])
            edges = _integer_edges(low, high)
            result["length"] = {"min": low, "max": high, "mean": _number(lengths.mean())}
            result["length_histogram"] = {"bins": edges, "counts": _bin_counts(lengths, edges[1:-1], pl.Int64)}
    return result


@contextlib.contextmanager
def _partitions(values: pl.LazyFrame, partitions: int) -> Iterator[list[pl.LazyFrame]]:
    """`values` as `partitions` frames by the hash of "value", to be read one after the other. More than one: the
    column is written once to a scratch directory, a file per partition (polars' partitioned sink, small row
    groups so its open files hold little), and each partition read back from its file; the directory is removed
    when the block ends. Filtering the column once per partition instead read all of it `partitions` times, and the
    count of partitions grows with the rows: a time quadratic in the rows (3,000,000 distinct ids took 3.1 s to
    count that way, 0.7 s this way, in the same memory)."""
    if partitions == 1:
        yield [values]
        return
    with tempfile.TemporaryDirectory(prefix="incubator-profile-") as directory:
        values.with_columns((pl.col("value").hash() % partitions).alias("partition")).sink_parquet(
            pl.PartitionBy(directory, key="partition", include_key=False),
            compression="lz4",
            row_group_size=PARTITION_ROW_GROUP_ROWS,
            mkdir=True,
            engine="streaming",
        )
        # A directory per partition that has values ("partition=3/"), holding one file or more.
        yield [
            pl.scan_parquet(os.path.join(directory, name, "*.parquet"))
            for name in sorted(os.listdir(directory))
            if os.path.isdir(os.path.join(directory, name))
        ]


def _sorted_values(frame: pl.LazyFrame, column: pl.Expr) -> pl.Series:
    """The column's non-null values, sorted: the only copy held of the column. In one chunk, so that sums over it
    (mean, std) add in the same order on every run, whatever pieces the streaming engine produced."""
    return frame.select(column.drop_nulls().sort()).collect(engine="streaming").to_series().rechunk()


def _quantile(values: pl.Series, q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's and pandas' default) over sorted values."""
    position = q * (len(values) - 1)
    below = math.floor(position)
    above = min(below + 1, len(values) - 1)
    low, high = float(values[below]), float(values[above])
    fraction = position - below
    return low if fraction == 0 or low == high else low + (high - low) * fraction


def _integer_edges(low: int, high: int) -> list[int]:
    """Edges of at most HISTOGRAM_BINS bins of a whole width over low..high: a bin holds [edge, next edge),
    so every bin covers the same number of possible values (one each when the range is small)."""
    span = high - low + 1
    width = -(-span // HISTOGRAM_BINS)
    bins = -(-span // width)
    return [low + index * width for index in range(bins + 1)]


def _float_edges(low: float, high: float) -> list[float]:
    """HISTOGRAM_BINS equal bins over [low, high], [edge, next edge) and the last one closed; one bin when
    the column is constant."""
    if low == high:
        return [low, high]
    step = (high - low) / HISTOGRAM_BINS
    return [low + index * step for index in range(HISTOGRAM_BINS)] + [high]


def _bin_counts(values: pl.Series, inner_edges: list[Any], dtype: pl.DataType | type[pl.DataType]) -> list[int]:
    """Counts per bin of sorted values, by binary search of the inner edges: no per-value bin arithmetic."""
    if not inner_edges:
        return [len(values)]
    positions = values.search_sorted(pl.Series(inner_edges, dtype=dtype), side="left").to_list()
    bounds = [0, *positions, len(values)]
    return [bounds[index + 1] - bounds[index] for index in range(len(bounds) - 1)]


def _number(value: Any) -> int | float | None:
    """A JSON number: NaN and infinities become None."""
    if value is None:
        return None
    if isinstance(value, int):
        return value
    value = float(value)
    return value if math.isfinite(value) else None


def _iso(values: pl.Series) -> list[str | None]:
    """ISO 8601 text of dates, datetimes (with their offset when zoned) and times."""
    try:
        items = values.to_list()
    except (OverflowError, ValueError):
        # Outside Python's datetime range (years past 9999): polars formats those itself.
        return values.dt.to_string("iso").to_list()
    return [item.isoformat() if isinstance(item, date | datetime | time) else None for item in items]
