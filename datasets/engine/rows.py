"""Pages of rows from a Parquet file, as JSON-ready dicts: only the row groups that hold the page are read."""

import base64
import bisect
import datetime as dt
import functools
import math
import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# JavaScript numbers are doubles: integers beyond ±(2**53 - 1) would come out rounded, so they are sent as strings.
MAX_SAFE_INTEGER = 2**53 - 1


@dataclass(frozen=True)
class _Layout:
    metadata: pq.FileMetaData
    starts: tuple[int, ...]  # the first row of each row group
    names: frozenset[str]


@functools.lru_cache(maxsize=256)
def _layout_cached(path: str, mtime_ns: int, size: int) -> _Layout:
    # Keyed on the file's mtime and size as well as its path: a file rewritten in place is read again.
    metadata = pq.read_metadata(path)
    starts = []
    row = 0
    for group in range(metadata.num_row_groups):
        starts.append(row)
        row += metadata.row_group(group).num_rows
    return _Layout(metadata=metadata, starts=tuple(starts), names=frozenset(metadata.schema.to_arrow_schema().names))


def _layout(path: str) -> _Layout:
    stat = os.stat(path)
    return _layout_cached(path, stat.st_mtime_ns, stat.st_size)


def read_rows(path: str, *, offset: int, limit: int, columns: list[str] | None = None) -> list[dict[str, Any]]:
    """Rows [offset, offset + limit) of the Parquet file at `path` (fewer at its end), with `columns` only (all of
    them when None, in the file's order otherwise in the order given), values made JSON-safe by json_safe. Reads
    the footer once per file version (cached) and then only the row groups that hold those rows. An unknown column,
    or a negative offset or limit, raises ValueError."""
    if offset < 0 or limit < 0:
        raise ValueError("offset and limit must not be negative")
    layout = _layout(path)
    if columns is not None:
        unknown = [name for name in columns if name not in layout.names]
        if unknown:
            raise ValueError(f"unknown columns: {', '.join(unknown)}")
    end = min(offset + limit, layout.metadata.num_rows)
    if offset >= end:
        return []
    first = bisect.bisect_right(layout.starts, offset) - 1
    last = bisect.bisect_right(layout.starts, end - 1) - 1
    # Threads decode the columns in parallel (a page of 20 columns: 5 ms instead of 11); pre-buffering whole column
    # chunks only pays off on remote storage.
    parquet = pq.ParquetFile(path, metadata=layout.metadata, pre_buffer=False)
    table = parquet.read_row_groups(list(range(first, last + 1)), columns=columns, use_threads=True)
    table = _without_nanoseconds(table.slice(offset - layout.starts[first], end - offset))
    return [{name: json_safe(value) for name, value in row.items()} for row in table.to_pylist()]


def _without_nanoseconds(table: pa.Table) -> pa.Table:
    """Python's datetime stops at microseconds (pyarrow refuses to drop the rest without pandas): nanosecond
    timestamps, times and durations become the ISO 8601 strings json_safe would give, all nine digits kept."""
    for index, field in enumerate(table.schema):
        kind = field.type
        if not (pa.types.is_timestamp(kind) or pa.types.is_duration(kind) or pa.types.is_time64(kind)):
            continue
        if getattr(kind, "unit", None) != "ns":
            continue
        values = table.column(index).cast(pa.int64()).to_pylist()
        if pa.types.is_timestamp(kind):
            texts = [None if value is None else _timestamp_ns(value, kind.tz is not None) for value in values]
        elif pa.types.is_duration(kind):
            texts = [None if value is None else _duration(value, 9) for value in values]
        else:
            texts = [None if value is None else _time_ns(value) for value in values]
        table = table.set_column(index, pa.field(field.name, pa.string()), pa.array(texts, pa.string()))
    return table


def _timestamp_ns(value: int, aware: bool) -> str:
    seconds, nanos = divmod(value, 1_000_000_000)
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)  # noqa: DTZ001 (naive on purpose: UTC)
    return moment.isoformat() + _fraction(nanos) + ("Z" if aware else "")


def _time_ns(value: int) -> str:
    seconds, nanos = divmod(value, 1_000_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{hour:02d}:{minute:02d}:{second:02d}" + _fraction(nanos)


def _fraction(nanos: int) -> str:
    """As isoformat() writes microseconds (none, or six digits), and nine digits when there are nanoseconds."""
    if not nanos:
        return ""
    return f".{nanos // 1000:06d}" if nanos % 1000 == 0 else f".{nanos:09d}"


def _duration(total: int, digits: int) -> str:
    """ISO 8601 duration of `total` units of 10**-digits seconds, days as the largest unit (months and years vary
    in length): "P1DT2H3M4.5S", "-PT0.25S", "PT0S"."""
    sign = "-" if total < 0 else ""
    scale = 10**digits
    seconds, fraction = divmod(abs(total), scale)
    minutes, second = divmod(seconds, 60)
    hours, minute = divmod(minutes, 60)
    days, hour = divmod(hours, 24)
    text = f"{second}.{fraction:0{digits}d}".rstrip("0").rstrip(".") if fraction else str(second)
    time = "".join(f"{amount}{unit}" for amount, unit in ((hour, "H"), (minute, "M")) if amount)
    if second or fraction or not (days or time):
        time += f"{text}S"
    return f"{sign}P{f'{days}D' if days else ''}{'T' + time if time else ''}"


def json_safe(value: Any) -> Any:
    """`value` as something json.dumps writes as standard JSON, and a JavaScript frontend reads without loss:

    - float NaN -> null (a missing value, as pandas and polars count it); +inf / -inf -> the strings "Infinity" /
      "-Infinity" (JSON has no infinities, and null would hide them);
    - int beyond ±(2**53 - 1) -> its decimal string (JavaScript would round it); bool stays bool;
    - Decimal -> its plain decimal string ("12.50", never "1.25E+1": no precision lost), NaN -> null, infinities as
      floats;
    - datetime -> ISO 8601: naive as is ("2024-01-02T03:04:05"), tz-aware converted to UTC with "Z"; date and time
      -> ISO 8601; timedelta -> ISO 8601 duration with days as the largest unit ("P1DT2H", "-PT1.5S");
    - bytes -> standard base64 (with padding); UUID -> its string;
    - dict -> dict with string keys, list / tuple / set -> list, recursively (a Parquet map comes as a list of
      (key, value) pairs, which become two-item lists);
    - numpy scalars -> their Python value, then as above. Anything else -> str(value).
    """
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        return value if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Decimal):
        if value.is_nan():
            return None
        if value.is_infinite():
            return "Infinity" if value > 0 else "-Infinity"
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None).isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds, 6)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return json_safe(value.item())
    return str(value)
