"""Exporting a Parquet file as CSV, streamed."""

import polars as pl

from .formats import atomic_output
from .schema import _is_map as schema_is_map

# ISO 8601, as json_safe shows them in the preview: fractional seconds only when there are some.
DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"
TIME_FORMAT = "%H:%M:%S%.f"


def write_csv(parquet_path: str, dst_path: str) -> None:
    """Writes the Parquet file as CSV at `dst_path`: UTF-8 without a BOM, comma-separated, a header line, "\\n" line
    ends, fields quoted as RFC 4180 says (those holding a comma, a quote, a line end; quotes doubled), null as the
    empty field. Datetimes are ISO 8601 (tz-aware ones in UTC with "Z"), durations ISO 8601 too, lists and structs
    their JSON (maps too, as objects), binary base64. Streamed (polars' sink_csv); the same file always gives the
    same bytes. Written atomically (formats.atomic_output): on any error nothing is left behind."""
    with atomic_output(dst_path) as (part, _workdir):
        frame = pl.scan_parquet(parquet_path)
        schema = frame.collect_schema()
        frame.select([_as_csv_value(name, dtype) for name, dtype in schema.items()]).sink_csv(
            part,
            include_bom=False,
            include_header=True,
            separator=",",
            line_terminator="\n",
            quote_char='"',
            quote_style="necessary",
            null_value="",
            datetime_format=DATETIME_FORMAT,
            time_format=TIME_FORMAT,
            date_format="%Y-%m-%d",
            check_extension=False,
            maintain_order=True,
        )


def _as_csv_value(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return column.dt.convert_time_zone("UTC").dt.to_string(DATETIME_FORMAT + "Z").alias(name)
    if isinstance(dtype, pl.Duration):
        return column.dt.to_string("iso").alias(name)
    if dtype == pl.Binary:
        return column.bin.encode("base64").alias(name)
    if isinstance(dtype, pl.Struct):
        return pl.when(column.is_null()).then(None).otherwise(column.struct.json_encode()).alias(name)
    if isinstance(dtype, pl.List | pl.Array) or schema_is_map(dtype):
        # json_encode is for structs: wrap the list in one, then take it out of the JSON text.
        wrapped = pl.struct(column.alias("v")).struct.json_encode()
        text = wrapped.str.strip_prefix('{"v":').str.strip_suffix("}")
        return pl.when(column.is_null()).then(None).otherwise(text).alias(name)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return column.cast(pl.String).alias(name)
    return column
