"""Preprocessing pipelines: validate() checks a list of steps against a file's columns before anything runs and
fills in their defaults; run() applies the steps with polars and writes the result as a canonical Parquet file.

A pipeline is a JSON list of steps, each an object with a "type" (one of STEP_TYPES) and that type's fields:

- select_columns {columns}: keeps these columns, in this order.
- drop_columns {columns}: removes them (not all of them).
- rename {mapping: {old: new}}: the new names must not collide with each other or with the columns kept.
- drop_na {columns?: all when omitted or null, how: "any" (default) | "all"}: drops rows with a null in any
  (all) of the columns. Only nulls count as missing: a float NaN is a value.
- fill_na {columns, strategy: mean | median | mode | constant, value (constant only)}: mean and median take
  number columns and turn them into floats, and leave NaN out (as numpy's nanmean and nanmedian); mode takes
  the most frequent value (the smallest of ties); a constant must suit every column's type (a whole number for
  integers, ISO text for dates).
- filter {column, op, value}: keeps the rows where the comparison holds. eq ne lt le gt ge in not_in contains
  starts_with never match a null (as in SQL); is_null and not_null take no value; in and not_in take a list.
  Dates and datetimes are compared with ISO strings (without an offset, read in the column's zone), decimals
  with JSON numbers (as floats), categoricals with their text; contains is literal text, not a pattern.
- cast {columns (or column), to: integer | float | string | boolean | date | datetime, strict: true}: strict
  casts fail on a value that does not convert (reported at run time: PipelineInvalid with this step's index and
  field "to"); non-strict ones make it null. Floats cast to integer are truncated toward zero. Strings become
  booleans from true/false, yes/no, t/f, y/n, 1/0 (any case), dates from YYYY-MM-DD, datetimes from ISO text.
- normalize {columns, method: min_max (default) | z_score}: number columns become floats, scaled to [0, 1] or
  to mean 0 and (population, ddof=0) standard deviation 1; a constant column becomes 0. The range, mean and
  deviation leave NaN out (a NaN stays NaN); a column with an infinite value fails the run (field "columns").
- one_hot {columns, drop_original: true, max_categories: 100, categories?: {column: [values]}}: one UInt8 0/1
  column "<column>_<value>" per value, in place of the column (or after it); a null sets none. Without
  `categories` the values are the column's distinct values, sorted, known only at run time: later steps cannot
  name those columns, and more than max_categories values fail the run (field "max_categories").
- label_encode {columns}: string, categorical or boolean columns become integer codes 0..k-1 in the sorted
  order of the distinct values; nulls stay null.
- deduplicate {columns?: all when omitted or null, keep: "first" (default) | "last"}.
- sample {n | fraction, seed: 0}: n rows (all when fewer), or round-half-up(fraction x rows) rows.
- train_test_split {test_ratio, seed: 0, stratify?: column, column: "split"}: adds a string column of "train"
  and "test": in every stratum (every value of `stratify`, nulls one more; the whole frame without it) exactly
  round-half-up(test_ratio x stratum rows) rows are "test" (so a stratum of one row is "test" from a ratio of
  0.5 up, and "train" below it).

Statistics (means, medians, ranges, modes) are taken over the rows that reach the step. They, a sample's
threshold, a split's "test" rows and one-hot's values are computed first, each by a query of its own over the
columns it needs, and enter the step as literals (or a join on the row number), so these steps stream and the
file is never held whole. deduplicate and label_encode compare or rank across the whole frame, and polars holds
the frame in memory for them.

Every step keeps the order of the rows it keeps. Sampling and splitting rank rows by SplitMix64 of (row number,
seed) computed in polars with plain wrapping integer arithmetic, so the rows chosen depend only on the seed and
the input, not on the polars version or the number of threads; means and deviations come from correctly rounded
sums for the same reason (polars' parallel float sums vary in the last bits with the threads). So run() writes
byte-identical files for the same steps and input (with the same polars, which writes the file).
"""

import contextlib
import math
import os
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from . import schema
from .errors import PipelineInvalid
from .messages import gettext as _
from .steps import (  # re-exported: what a step may say is part of this module's interface
    CAST_TYPES,
    FIELDS,
    FILL_STRATEGIES,
    FILTER_OPS,
    MAX_CATEGORIES,
    MAX_LIST_VALUES,
    MAX_NAME_LENGTH,
    MAX_SEED,
    MAX_STEPS,
    NORMALIZE_METHODS,
    STEP_TYPES,
)

_NUMBERS = ("integer", "float", "decimal")
_SCALARS = (*_NUMBERS, "boolean", "string", "categorical", "date", "datetime")
_ORDERED = (*_NUMBERS, "string", "date", "datetime")
_TEXT = ("string", "categorical")
# What each cast target accepts.
_CAST_SOURCES = {
    "integer": (*_NUMBERS, "boolean", "string"),
    "float": (*_NUMBERS, "boolean", "string"),
    "string": (*_SCALARS, "time"),
    "boolean": ("boolean", "integer", "string"),
    "date": ("date", "datetime", "string"),
    "datetime": ("date", "datetime", "string"),
}
_CAST_DTYPES: dict[str, pl.DataType] = {
    "integer": pl.Int64(),
    "float": pl.Float64(),
    "string": pl.String(),
    "boolean": pl.Boolean(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),
}
_BOOLEAN_TEXT = {
    "true": True,
    "t": True,
    "yes": True,
    "y": True,
    "1": True,
    "false": False,
    "f": False,
    "no": False,
    "n": False,
    "0": False,
}
# SplitMix64 (Steele, Lea and Flood 2014): the increment and the two multipliers of its finaliser.
_GAMMA = 0x9E3779B97F4A7C15
_MIX_1 = 0xBF58476D1CE4E5B9
_MIX_2 = 0x94D049BB133111EB


# --- validation ---------------------------------------------------------------------------------------------


def validate(steps: Any, columns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pipeline `steps` (parsed JSON) normalized, every field present with its default, checked against the
    input `columns` ({"name", "type", "nullable"}, as schema.Converted has them) and against the columns each
    step leaves to the next. Raises PipelineInvalid for the first problem, with `step` (0-based) and `field`;
    its message counts steps from 1."""
    if not isinstance(steps, list):
        raise PipelineInvalid(_("A pipeline is a list of steps."))
    if not steps:
        raise PipelineInvalid(_("A pipeline needs at least one step."))
    if len(steps) > MAX_STEPS:
        raise PipelineInvalid(_("A pipeline has at most %(limit)d steps.") % {"limit": MAX_STEPS})
    current = {column["name"]: column["type"] for column in columns}
    normalized = []
    for index, raw in enumerate(steps):
        step = _Step(index, raw)
        normalized.append(_VALIDATORS[step.type](step, current))
    return normalized


class _Step:
    """One step being validated: its fields, and errors that name it."""

    def __init__(self, index: int, raw: Any) -> None:
        self.index = index
        if not isinstance(raw, dict):
            raise self.error(None, _("a step is an object with a type."))
        kind = raw.get("type")
        if not isinstance(kind, str) or kind not in STEP_TYPES:
            raise self.error("type", _("unknown step type %(type)s.") % {"type": _quoted(kind)})
        self.type = kind
        required, optional = FIELDS[kind]
        for name in raw:
            if name != "type" and name not in required and name not in optional:
                raise self.error(name, _("%(type)s has no field %(field)s.") % {"type": kind, "field": _quoted(name)})
        for name in required:
            if raw.get(name) is None:
                raise self.error(name, _("%(type)s needs %(field)s.") % {"type": kind, "field": _quoted(name)})
        self.fields = {**optional, **{name: value for name, value in raw.items() if value is not None}}

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def error(self, field: str | None, problem: str) -> PipelineInvalid:
        message = _("Step %(number)d: %(problem)s") % {"number": self.index + 1, "problem": problem}
        return PipelineInvalid(message, step=self.index, field=field)

    def choice(self, field: str, choices: tuple[str, ...]) -> str:
        value = self[field]
        if not isinstance(value, str) or value not in choices:
            raise self.error(
                field,
                _("%(field)s must be one of %(choices)s.") % {"field": field, "choices": ", ".join(choices)},
            )
        return value

    def flag(self, field: str) -> bool:
        value = self[field]
        if not isinstance(value, bool):
            raise self.error(field, _("%(field)s must be true or false.") % {"field": field})
        return value

    def integer(self, field: str, low: int, high: int) -> int:
        value = self[field]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(
                field,
                _("%(field)s must be a whole number from %(low)d to %(high)d.")
                % {"field": field, "low": low, "high": high},
            )
        return value

    def name(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME_LENGTH:
            raise self.error(
                field,
                _("a column name is non-blank text of at most %(limit)d characters.") % {"limit": MAX_NAME_LENGTH},
            )
        return value

    def column(self, field: str, value: Any, current: dict[str, str], types: tuple[str, ...] | None = None) -> str:
        name = self.name(field, value)
        if name not in current:
            raise self.error(field, _("there is no column %(column)s at this step.") % {"column": _quoted(name)})
        if types is not None and current[name] not in types:
            raise self.error(
                field,
                _("%(step)s cannot use column %(column)s of type %(type)s.")
                % {"step": self.type, "column": _quoted(name), "type": current[name]},
            )
        return name

    def columns(self, field: str, current: dict[str, str], types: tuple[str, ...] | None = None) -> list[str]:
        value = self[field]
        if not isinstance(value, list) or not value:
            raise self.error(field, _("%(field)s must be a non-empty list of column names.") % {"field": field})
        names = [self.column(field, item, current, types) for item in value]
        if len(set(names)) != len(names):
            raise self.error(field, _("%(field)s names a column twice.") % {"field": field})
        return names

    def optional_columns(self, field: str, current: dict[str, str]) -> list[str] | None:
        return None if self[field] is None else self.columns(field, current)

    def value(self, field: str, value: Any, kind: str) -> Any:
        """`value` checked against a column of type `kind`; returned as JSON (dates stay ISO strings)."""
        if _coerce(value, kind) is _INVALID:
            raise self.error(
                field,
                _("%(value)s is not a valid %(type)s value.") % {"value": _quoted(value), "type": kind},
            )
        return value


def _quoted(value: Any) -> str:
    text = str(value)
    return f'"{text[:60]}…"' if len(text) > 60 else f'"{text}"'


_INVALID = object()


def _coerce(value: Any, kind: str) -> Any:
    """The Python value of JSON `value` for a column of type `kind`, or _INVALID."""
    if kind == "integer":
        whole = isinstance(value, int) and not isinstance(value, bool)
        return value if whole and -(2**63) <= value < 2**63 else _INVALID
    if kind in ("float", "decimal"):
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
        return _INVALID
    if kind == "boolean":
        return value if isinstance(value, bool) else _INVALID
    if kind in _TEXT:
        return value if isinstance(value, str) else _INVALID
    if kind == "date" and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value)
    if kind == "datetime" and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value)
    return _INVALID


def _select_columns(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.columns("columns", current)
    kept = {name: current[name] for name in names}
    current.clear()
    current.update(kept)
    return {"type": step.type, "columns": names}


def _drop_columns(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.columns("columns", current)
    if len(names) == len(current):
        raise step.error("columns", _("dropping every column would leave nothing."))
    for name in names:
        del current[name]
    return {"type": step.type, "columns": names}


def _rename(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    mapping = step["mapping"]
    if not isinstance(mapping, dict) or not mapping:
        raise step.error("mapping", _("mapping must be an object of old names to new names."))
    for old, new in mapping.items():
        step.column("mapping", old, current)
        step.name("mapping", new)
    renamed = [mapping.get(name, name) for name in current]
    if len(set(renamed)) != len(renamed):
        raise step.error("mapping", _("the new names collide with each other or with other columns."))
    kinds = list(current.values())
    current.clear()
    current.update(zip(renamed, kinds, strict=True))
    return {"type": step.type, "mapping": dict(mapping)}


def _drop_na(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.optional_columns("columns", current)
    return {"type": step.type, "columns": names, "how": step.choice("how", ("any", "all"))}


def _fill_na(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    strategy = step.choice("strategy", FILL_STRATEGIES)
    names = step.columns("columns", current, _NUMBERS if strategy in ("mean", "median") else _SCALARS)
    value = step["value"]
    if strategy == "constant":
        if value is None:
            raise step.error("value", _("a constant fill needs a value."))
        for name in names:
            step.value("value", value, current[name])
    elif value is not None:
        raise step.error("value", _("only a constant fill takes a value."))
    if strategy in ("mean", "median"):
        for name in names:
            current[name] = "float"
    return {"type": step.type, "columns": names, "strategy": strategy, "value": value}


def _filter(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    op = step.choice("op", FILTER_OPS)
    types: tuple[str, ...] | None = None  # any column can be null or not
    if op in ("lt", "le", "gt", "ge"):
        types = _ORDERED
    elif op in ("contains", "starts_with"):
        types = _TEXT
    elif op not in ("is_null", "not_null"):
        types = _SCALARS
    name = step.column("column", step["column"], current, types)
    value = step["value"]
    if op in ("is_null", "not_null"):
        if value is not None:
            raise step.error("value", _("%(op)s takes no value.") % {"op": op})
    elif value is None:
        raise step.error("value", _("%(op)s needs a value.") % {"op": op})
    elif op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST_VALUES:
            raise step.error(
                "value", _("%(op)s needs a list of 1 to %(limit)d values.") % {"op": op, "limit": MAX_LIST_VALUES}
            )
        for item in value:
            step.value("value", item, current[name])
    elif op in ("contains", "starts_with"):
        step.value("value", value, "string")
    else:
        kind = current[name]
        # A whole-number column compares with fractions too (age > 17.5).
        step.value("value", value, "float" if kind == "integer" else kind)
    return {"type": step.type, "column": name, "op": op, "value": value}


def _cast(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    if (step["columns"] is None) == (step["column"] is None):
        raise step.error("columns", _("cast needs either columns or column."))
    if step["column"] is not None:
        names = [step.column("column", step["column"], current)]
    else:
        names = step.columns("columns", current)
    to = step.choice("to", CAST_TYPES)
    for name in names:
        if current[name] not in _CAST_SOURCES[to]:
            raise step.error(
                "to",
                _("column %(column)s of type %(type)s cannot become %(to)s.")
                % {"column": _quoted(name), "type": current[name], "to": to},
            )
        current[name] = to
    return {"type": step.type, "columns": names, "to": to, "strict": step.flag("strict")}


def _normalize(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.columns("columns", current, _NUMBERS)
    method = step.choice("method", NORMALIZE_METHODS)
    for name in names:
        current[name] = "float"
    return {"type": step.type, "columns": names, "method": method}


def _one_hot(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.columns("columns", current, ("string", "categorical", "boolean", "integer"))
    drop_original = step.flag("drop_original")
    limit = step.integer("max_categories", 1, MAX_CATEGORIES)
    categories = step["categories"]
    if categories is not None:
        if not isinstance(categories, dict):
            raise step.error("categories", _("categories must be an object of column names to lists of values."))
        for name, values in categories.items():
            if name not in names:
                raise step.error("categories", _("%(column)s is not one of columns.") % {"column": _quoted(name)})
            if not isinstance(values, list) or not values or len(values) > limit:
                raise step.error(
                    "categories", _("categories need a list of 1 to %(limit)d values per column.") % {"limit": limit}
                )
            for value in values:
                step.value("categories", value, current[name])
            if len({_label(value) for value in values}) != len(values):
                raise step.error(
                    "categories", _("categories of %(column)s repeat a value.") % {"column": _quoted(name)}
                )
        categories = {name: list(categories[name]) for name in names if name in categories}
    after: list[tuple[str, str]] = []
    for name, kind in current.items():
        if name not in names or not drop_original:
            after.append((name, kind))
        if name in names and categories and name in categories:
            after.extend((f"{name}_{_label(value)}", "integer") for value in categories[name])
    seen: set[str] = set()
    for name, _kind in after:
        if name in seen:
            raise step.error("categories", _("column %(column)s already exists.") % {"column": _quoted(name)})
        seen.add(name)
    current.clear()
    current.update(after)
    return {
        "type": step.type,
        "columns": names,
        "drop_original": drop_original,
        "max_categories": limit,
        "categories": categories,
    }


def _label(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _label_encode(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.columns("columns", current, ("string", "categorical", "boolean"))
    for name in names:
        current[name] = "integer"
    return {"type": step.type, "columns": names}


def _deduplicate(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    names = step.optional_columns("columns", current)
    return {"type": step.type, "columns": names, "keep": step.choice("keep", ("first", "last"))}


def _sample(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    n, fraction = step["n"], step["fraction"]
    if (n is None) == (fraction is None):
        raise step.error("n", _("sample needs either n or fraction."))
    if n is not None:
        n = step.integer("n", 0, 2**63 - 1)
    elif isinstance(fraction, bool) or not isinstance(fraction, int | float) or not 0 < fraction <= 1:
        raise step.error("fraction", _("fraction must be a number above 0 and at most 1."))
    seed = step.integer("seed", 0, MAX_SEED)
    return {"type": step.type, "n": n, "fraction": fraction, "seed": seed}


def _train_test_split(step: _Step, current: dict[str, str]) -> dict[str, Any]:
    ratio = step["test_ratio"]
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1:
        raise step.error("test_ratio", _("test_ratio must be a number between 0 and 1."))
    seed = step.integer("seed", 0, MAX_SEED)
    stratify = step["stratify"]
    if stratify is not None:
        stratify = step.column("stratify", stratify, current, _SCALARS)
    column = step.name("column", step["column"])
    if column in current:
        raise step.error("column", _("column %(column)s already exists.") % {"column": _quoted(column)})
    current[column] = "string"
    return {"type": step.type, "test_ratio": ratio, "seed": seed, "stratify": stratify, "column": column}


_VALIDATORS: dict[str, Callable[[_Step, dict[str, str]], dict[str, Any]]] = {
    "select_columns": _select_columns,
    "drop_columns": _drop_columns,
    "rename": _rename,
    "drop_na": _drop_na,
    "fill_na": _fill_na,
    "filter": _filter,
    "cast": _cast,
    "normalize": _normalize,
    "one_hot": _one_hot,
    "label_encode": _label_encode,
    "deduplicate": _deduplicate,
    "sample": _sample,
    "train_test_split": _train_test_split,
}


# --- running ------------------------------------------------------------------------------------------------


def run(src_parquet: str, steps: list[dict[str, Any]], dst_parquet: str) -> schema.Converted:
    """Apply `steps` (validated again here against the file's columns, so raw steps work too) to the Parquet file
    `src_parquet` and write the result to `dst_parquet` with schema.parquet_options: first to dst + ".part",
    renamed into place once complete, and removed on any failure. Byte-identical output for the same input and
    steps. Raises PipelineInvalid for an invalid pipeline and for what only the data can show (a strict cast of a
    value that does not convert: field "to"; too many one-hot values: field "max_categories")."""
    normalized = validate(steps, schema.columns_of(src_parquet).columns)
    part = dst_parquet + ".part"
    try:
        try:
            plan = _plan(src_parquet, normalized)
            plan.sink_parquet(part, **schema.parquet_options(len(plan.collect_schema())))
        except pl.exceptions.PolarsError as error:
            _diagnose(src_parquet, normalized)
            raise PipelineInvalid(_("The pipeline could not run: %(error)s") % {"error": str(error)[:500]}) from error
        os.replace(part, dst_parquet)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(part)
        raise
    return schema.columns_of(dst_parquet)


def _plan(src_parquet: str, steps: list[dict[str, Any]], until: int | None = None) -> pl.LazyFrame:
    """The lazy query of the first `until` steps (all of them by default)."""
    frame = pl.scan_parquet(src_parquet)
    for index, step in enumerate(steps[:until]):
        frame = _APPLIERS[step["type"]](frame, step, index)
    return frame


def _diagnose(src_parquet: str, steps: list[dict[str, Any]]) -> None:
    """After a failed run: raise PipelineInvalid naming the first strict cast with a value that does not convert
    (polars only says that some cast failed, not which step's). Checks each one on the rows that reach it."""
    for index, step in enumerate(steps):
        if step["type"] != "cast" or not step["strict"]:
            continue
        frame = _plan(src_parquet, steps, index)
        dtypes = frame.collect_schema()
        for name in step["columns"]:
            converted = _cast_expression(pl.col(name), dtypes[name], step["to"], strict=False)
            failed = frame.filter(converted.is_null() & pl.col(name).is_not_null()).select(pl.col(name)).head(1)
            rows = failed.collect()
            if rows.height:
                raise PipelineInvalid(
                    _("Step %(number)d: value %(value)s of column %(column)s is not a valid %(to)s.")
                    % {"number": index + 1, "value": _quoted(rows.item()), "column": _quoted(name), "to": step["to"]},
                    step=index,
                    field="to",
                )


_Applier = Callable[[pl.LazyFrame, dict[str, Any], int], pl.LazyFrame]


def _apply_select_columns(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    return frame.select(step["columns"])


def _apply_drop_columns(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    return frame.drop(step["columns"])


def _apply_rename(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    return frame.rename(step["mapping"])


def _apply_drop_na(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    columns = pl.col(step["columns"]) if step["columns"] is not None else pl.all()
    if step["how"] == "any":
        return frame.filter(pl.all_horizontal(columns.is_not_null()))
    return frame.filter(pl.any_horizontal(columns.is_not_null()))


def _apply_fill_na(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    dtypes = frame.collect_schema()
    strategy = step["strategy"]
    expressions = []
    for name in step["columns"]:
        column = pl.col(name)
        dtype = dtypes[name]
        if strategy == "mean":
            column = column.cast(pl.Float64)
            fill = pl.lit(_moments(frame, name)[0], dtype=pl.Float64)
        elif strategy == "median":
            column = column.cast(pl.Float64)
            fill = _statistic(frame, column.drop_nans().median())
        elif strategy == "mode":
            text = isinstance(dtype, pl.Categorical | pl.Enum)
            values = column.cast(pl.String) if text else column
            # The smallest of the most frequent values, so that ties resolve the same way every time.
            fill = _statistic(frame, values.drop_nulls().mode().sort().first())
            if text:
                fill = fill.cast(dtype)
        else:
            fill = _literal(step["value"], dtype)
        filled = column.fill_null(fill)
        if strategy in ("mode", "constant") and (dtype.is_decimal() or isinstance(dtype, pl.Categorical | pl.Enum)):
            filled = filled.cast(dtype)  # the literal would otherwise turn the column into floats or strings
        expressions.append(filled.alias(name))
    return frame.with_columns(expressions)


def _apply_filter(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    dtype = frame.collect_schema()[step["column"]]
    column = pl.col(step["column"])
    if isinstance(dtype, pl.Categorical | pl.Enum):
        column, dtype = column.cast(pl.String), pl.String()
    elif dtype.is_decimal():
        # Compared as floats, like the JSON numbers they are compared with.
        column, dtype = column.cast(pl.Float64), pl.Float64()
    op, value = step["op"], step["value"]
    if op == "is_null":
        return frame.filter(column.is_null())
    if op == "not_null":
        return frame.filter(column.is_not_null())
    if op == "contains":
        condition = column.str.contains(value, literal=True)
    elif op == "starts_with":
        condition = column.str.starts_with(value)
    elif op in ("in", "not_in"):
        condition = column.is_in(_literals(value, dtype))
        if op == "not_in":
            condition = ~condition
    else:
        literal = _literal(value, dtype)
        condition = {
            "eq": column == literal,
            "ne": column != literal,
            "lt": column < literal,
            "le": column <= literal,
            "gt": column > literal,
            "ge": column >= literal,
        }[op]
    # Nulls never match a comparison (is_in would otherwise let a null through not_in).
    return frame.filter(column.is_not_null() & condition)


def _apply_cast(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    dtypes = frame.collect_schema()
    return frame.with_columns(
        _cast_expression(pl.col(name), dtypes[name], step["to"], strict=step["strict"]).alias(name)
        for name in step["columns"]
    )


def _cast_expression(column: pl.Expr, dtype: pl.DataType, to: str, *, strict: bool) -> pl.Expr:
    if dtype == pl.String:
        if to == "boolean":
            text = column.str.strip_chars().str.to_lowercase()
            if strict:
                return text.replace_strict(_BOOLEAN_TEXT, return_dtype=pl.Boolean)
            return text.replace_strict(_BOOLEAN_TEXT, default=None, return_dtype=pl.Boolean)
        if to == "date":
            return column.str.to_date("%Y-%m-%d", strict=strict)
        if to == "datetime":
            return column.str.to_datetime(time_unit="us", strict=strict)
    if to == "date" and isinstance(dtype, pl.Datetime):
        return column.dt.date()
    if to == "datetime" and isinstance(dtype, pl.Datetime):
        return column
    return column.cast(_CAST_DTYPES[to], strict=strict)


def _apply_normalize(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    dtypes = frame.collect_schema()
    expressions = []
    for name in step["columns"]:
        column = pl.col(name).cast(pl.Float64)
        # An infinity has no place on a scale: every value would become NaN. Refused, as scikit-learn's scalers
        # refuse it, rather than the column silently lost.
        if dtypes[name].is_float() and _value(frame, column.is_infinite().any()):
            raise PipelineInvalid(
                _("Step %(number)d: column %(column)s has infinite values, which cannot be normalized.")
                % {"number": index + 1, "column": _quoted(name)},
                step=index,
                field="columns",
            )
        if step["method"] == "min_max":
            shift = _statistic(frame, column.min())
            scale = _statistic(frame, column.max()) - shift
        else:
            mean, deviation = _moments(frame, name, deviation=True)
            shift, scale = pl.lit(mean, dtype=pl.Float64), pl.lit(deviation, dtype=pl.Float64)
        # A constant column (no spread) maps to 0 rather than to NaN.
        scaled = pl.when(scale > 0).then((column - shift) / scale).otherwise(column * 0.0)
        expressions.append(scaled.alias(name))
    return frame.with_columns(expressions)


def _statistic(frame: pl.LazyFrame, aggregation: pl.Expr) -> pl.Expr:
    """The value of `aggregation` (one value) over `frame`, computed now by a query of its own, as a literal of
    its type. Inside the step's query, an aggregation broadcast to every row made polars hold the whole frame in
    memory (a median fill or a min-max normalization of 3,000,000 rows: 750 MB more); computed first, the step
    streams."""
    # The one-value Series itself, not found.item(): a Python datetime would cut nanoseconds to microseconds.
    return pl.lit(_found(frame, aggregation)).first()


def _value(frame: pl.LazyFrame, aggregation: pl.Expr) -> Any:
    """The value of `aggregation` (one value) over `frame`, as a Python value."""
    found = _found(frame, aggregation)
    return found.item() if len(found) else None


def _found(frame: pl.LazyFrame, aggregation: pl.Expr) -> pl.Series:
    return frame.select(aggregation.alias("value")).collect(engine="streaming").to_series()


def _moments(frame: pl.LazyFrame, name: str, *, deviation: bool = False) -> tuple[float | None, float | None]:
    """Mean and population standard deviation of a column, from correctly rounded sums (math.fsum). polars adds
    floats in parallel pieces whose bounds depend on threads and chunks, so its mean can differ in the last bits
    from one run to the next; these sums give the same bits on any machine. About 0.1 s a million values."""
    # Over the numbers: a NaN is a value the step keeps, but it has no place in a mean (one NaN made every value of
    # a z-score NaN), as in numpy's nanmean.
    numbers = pl.col(name).cast(pl.Float64).drop_nulls().drop_nans()
    values = frame.select(numbers).collect(engine="streaming").to_series()
    if len(values) == 0:
        return None, None
    try:
        mean = math.fsum(_floats(values)) / len(values)
        if not deviation:
            return mean, None
        return mean, math.sqrt(math.fsum(_floats((values - mean) ** 2)) / len(values))
    except (OverflowError, ValueError):
        # Sums past the float range, or infinities of both signs: no meaningful mean.
        return math.nan, math.nan


def _floats(values: pl.Series, size: int = 65_536) -> Iterator[float]:
    """The values as Python floats, a slice at a time (no list of the whole column)."""
    for offset in range(0, len(values), size):
        yield from values.slice(offset, size).to_list()


def _apply_one_hot(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    dtypes = frame.collect_schema()
    known = step["categories"] or {}
    dummies: dict[str, list[pl.Expr]] = {}
    for name in step["columns"]:
        dtype = dtypes[name]
        column = pl.col(name).cast(pl.String) if isinstance(dtype, pl.Categorical | pl.Enum) else pl.col(name)
        if name in known:
            values = [_python_value(value, dtype) for value in known[name]]
        else:
            found = frame.select(column.drop_nulls().unique().sort()).collect(engine="streaming")
            if found.height > step["max_categories"]:
                raise PipelineInvalid(
                    _("Step %(number)d: column %(column)s has %(count)d values, more than max_categories (%(limit)d).")
                    % {
                        "number": index + 1,
                        "column": _quoted(name),
                        "count": found.height,
                        "limit": step["max_categories"],
                    },
                    step=index,
                    field="max_categories",
                )
            values = found.to_series().to_list()
        dummies[name] = [
            (column == value).fill_null(False).cast(pl.UInt8).alias(f"{name}_{_label(value)}") for value in values
        ]
    expressions: list[pl.Expr] = []
    for name in dtypes:
        if name not in dummies or not step["drop_original"]:
            expressions.append(pl.col(name))
        expressions.extend(dummies.get(name, []))
    output = [expression.meta.output_name() for expression in expressions]
    if len(set(output)) != len(output):
        duplicate = next(name for name in output if output.count(name) > 1)
        raise PipelineInvalid(
            _("Step %(number)d: column %(column)s already exists.")
            % {"number": index + 1, "column": _quoted(duplicate)},
            step=index,
            field="columns",
        )
    return frame.select(expressions)


def _apply_label_encode(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    dtypes = frame.collect_schema()
    expressions = []
    for name in step["columns"]:
        column = pl.col(name)
        if isinstance(dtypes[name], pl.Categorical | pl.Enum):
            column = column.cast(pl.String)
        expressions.append((column.rank("dense") - 1).cast(pl.Int64).alias(name))
    return frame.with_columns(expressions)


def _apply_deduplicate(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    return frame.unique(subset=step["columns"], keep=step["keep"], maintain_order=True)


def _apply_sample(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    row = _unused_name(frame, "__row")
    numbered = frame.with_row_index(row)
    n, fraction = step["n"], step["fraction"]
    key = _random_key(step["seed"], pl.col(row))
    chosen = _smallest_keys(numbered, key, lambda rows: n if n is not None else _share(rows, fraction))
    return numbered.filter(chosen).drop(row)


def _smallest_keys(numbered: pl.LazyFrame, key: pl.Expr, count: Callable[[int], int]) -> pl.Expr:
    """Whether a row's key is among the `count(rows)` smallest. Ranking the keys inside the step's query made polars
    hold the whole frame (a sample of 3,000,000 rows: 940 MB more), so the keys are sorted by a query of their own
    (8 bytes a row), and the step compares with the count-th smallest, which streams. Keys are distinct, so exactly
    that many rows are chosen, the same rows as a rank would choose."""
    keys = numbered.select(key.sort()).collect(engine="streaming").to_series()
    chosen = count(len(keys))
    if chosen <= 0:
        return pl.lit(False)
    if chosen >= len(keys):
        return pl.lit(True)
    return key <= pl.lit(keys[chosen - 1], dtype=pl.UInt64)


def _share(rows: int, ratio: float) -> int:
    """round-half-up(ratio x rows), as _round_half_up computes it."""
    return int(pl.select(_round_half_up(pl.lit(rows) * ratio)).item())


def _unused_name(frame: pl.LazyFrame, name: str, *taken: str) -> str:
    """`name`, with underscores added until no column of `frame` and none of `taken` has it."""
    names = {*frame.collect_schema(), *taken}
    while name in names:
        name += "_"
    return name


def _apply_train_test_split(frame: pl.LazyFrame, step: dict[str, Any], index: int) -> pl.LazyFrame:
    # The "test" rows are found by a query of their own over the row numbers, keys and strata alone, and the step
    # marks them by row number: ranking inside the step's query made polars hold the whole frame (3,000,000 rows:
    # 1 GB more). The key is computed over the whole frame first: inside over() the row numbers would restart per
    # stratum.
    # Neither may be the split's own column, which would overwrite it, then be dropped with it.
    row = _unused_name(frame, "__row", step["column"])
    marker = _unused_name(frame, "__test", step["column"], row)
    numbered = frame.with_row_index(row)
    key = _random_key(step["seed"], pl.col(row))
    stratify = step["stratify"]
    if stratify is None:
        test = _smallest_keys(numbered, key, lambda rows: _share(rows, step["test_ratio"]))
    else:
        rank, size = key.rank("ordinal").over(stratify), pl.len().over(stratify)
        chosen = (
            numbered.select(pl.col(row), pl.col(stratify))
            .filter(rank <= _round_half_up(size * step["test_ratio"]))
            .select(pl.col(row), pl.lit(True).alias(marker))
            .collect(engine="streaming")
        )
        numbered = numbered.join(chosen.lazy(), on=row, how="left", maintain_order="left")
        test = pl.col(marker).is_not_null()
    split = pl.when(test).then(pl.lit("test")).otherwise(pl.lit("train")).alias(step["column"])
    return numbered.with_columns(split).drop(row, marker, strict=False)


def _round_half_up(value: pl.Expr) -> pl.Expr:
    # Rounded to 9 places first, so that 0.1 x 15 = 1.5000000000000002 and 0.15 x 10 = 1.4999999999999998 both
    # count as the 1.5 they mean.
    return (value.round(9) + 0.5).floor()


def _random_key(seed: int, row: pl.Expr | None = None) -> pl.Expr:
    """A pseudo-random, distinct UInt64 per row: SplitMix64 of the row number (`row`, a column of row numbers from
    0, or the row's position in the frame), in wrapping UInt64 arithmetic. The first step is a bijection of the row
    number (the increment is odd), and so is the finaliser, so no two rows get the same key and ranks have no
    ties."""

    def u64(value: int) -> pl.Expr:
        return pl.lit(value, dtype=pl.UInt64)

    number = pl.int_range(pl.len(), dtype=pl.UInt64) if row is None else row.cast(pl.UInt64)
    state = (number + u64(1)) * u64(_GAMMA) + u64(seed)
    state = (state ^ (state // u64(2**30))) * u64(_MIX_1)
    state = (state ^ (state // u64(2**27))) * u64(_MIX_2)
    return state ^ (state // u64(2**31))


def _python_value(value: Any, dtype: pl.DataType) -> Any:
    """JSON `value` as the Python value polars compares with a column of `dtype`. A datetime without an offset
    is read in the column's zone; one with an offset is the same instant in the column's zone (in UTC, without
    zone, for a column without one)."""
    coerced = _coerce(value, schema.type_name(dtype))
    if coerced is _INVALID:
        return value  # a fraction compared with a whole-number column
    if not isinstance(dtype, pl.Datetime):
        return coerced
    if not isinstance(coerced, datetime):
        coerced = datetime.combine(coerced, time())
    if dtype.time_zone is None:
        return coerced.astimezone(UTC).replace(tzinfo=None) if coerced.tzinfo is not None else coerced
    zone = ZoneInfo(dtype.time_zone)
    return coerced.astimezone(zone) if coerced.tzinfo is not None else coerced.replace(tzinfo=zone)


def _literal(value: Any, dtype: pl.DataType) -> pl.Expr:
    """A literal of JSON `value` for a column of `dtype`."""
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return pl.lit(value, dtype=pl.String)
    if dtype.is_temporal():
        return pl.lit(_python_value(value, dtype), dtype=dtype)
    return pl.lit(_python_value(value, dtype))


def _literals(values: list[Any], dtype: pl.DataType) -> pl.Expr:
    """One list literal of JSON `values` for is_in on a column of `dtype`."""
    python = [_python_value(value, dtype) for value in values]
    series = pl.Series(python, dtype=dtype) if dtype.is_temporal() else pl.Series(python)
    return pl.lit(series).implode()


_APPLIERS: dict[str, _Applier] = {
    "select_columns": _apply_select_columns,
    "drop_columns": _apply_drop_columns,
    "rename": _apply_rename,
    "drop_na": _apply_drop_na,
    "fill_na": _apply_fill_na,
    "filter": _apply_filter,
    "cast": _apply_cast,
    "normalize": _apply_normalize,
    "one_hot": _apply_one_hot,
    "label_encode": _apply_label_encode,
    "deduplicate": _apply_deduplicate,
    "sample": _apply_sample,
    "train_test_split": _apply_train_test_split,
}
