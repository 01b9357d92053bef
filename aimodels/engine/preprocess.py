"""The preprocessing half of every model: a scikit-learn Pipeline that takes a polars DataFrame of the feature
columns and returns the float64 matrix the algorithm was trained on.

    Pipeline([
        ("columns", FrameColumns(kinds)),   # picks the features; numbers -> Float64, text -> String,
                                            # dates and datetimes -> epoch seconds (Float64)
        ("encode", ColumnTransformer([
            ("num", Pipeline([SimpleImputer(median), StandardScaler (when the algorithm scales)]), numbers),
            ("cat", Pipeline([SimpleImputer(most_frequent), OneHotEncoder(categories=top values)]), text),
        ])),
    ])

A text column is one-hot encoded on its MAX_CATEGORIES most frequent values in the training rows (ties broken
by value); any other value, seen or not, encodes as all zeros (handle_unknown="ignore"). Fixing the categories
here, rather than with OneHotEncoder's max_categories, keeps an identifier-like column from storing every one of
its values in the artifact. Missing numbers (null, NaN, infinities) take the training median, missing text the
most frequent training value.
"""

import math
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .features import NUMBER, TEMPORAL, TEXT

MAX_CATEGORIES = 50


class FrameColumns(TransformerMixin, BaseEstimator):
    """Selects the feature columns of a polars DataFrame, in order, as Float64 (numbers, booleans as 0/1, dates
    and datetimes as seconds since 1970-01-01 UTC, a naive datetime read as UTC; NaN and infinities become null)
    or String (text). Stateless: `kinds` maps each column to NUMBER, TEXT or TEMPORAL."""

    def __init__(self, kinds: dict[str, str] | None = None) -> None:
        self.kinds = kinds

    def fit(self, X: pl.DataFrame, y: Any = None) -> "FrameColumns":
        return self

    def transform(self, X: pl.DataFrame) -> pl.DataFrame:
        # Eager work on each Series: a lazy select costs ~0.5 ms of planning, much of a one-row prediction's budget.
        columns = []
        for name, kind in (self.kinds or {}).items():
            series = X.get_column(name)
            if kind == TEXT:
                columns.append(as_text(series))
            else:
                columns.append(pl.Series(name, as_numbers(series), dtype=pl.Float64, nan_to_null=True))
        return pl.DataFrame(columns)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.asarray(list(self.kinds or {}), dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True


_SECONDS = {"ns": 1e9, "us": 1e6, "ms": 1e3}


def as_text(series: pl.Series) -> pl.Series:
    return series.cast(pl.String)


def as_numbers(series: pl.Series) -> np.ndarray:
    """A number, boolean, date or datetime column as float64 (dates and datetimes in seconds since 1970-01-01
    UTC), NaN where it is missing or not finite."""
    dtype = series.dtype
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        # The physical value counts from 1970-01-01 UTC: days for a date, the time unit for a datetime.
        ticks = series.to_physical().cast(pl.Float64).to_numpy()
        if dtype == pl.Date:
            return ticks * 86_400
        return ticks / _SECONDS[getattr(dtype, "time_unit", None) or "us"]
    values = np.array(series.cast(pl.Float64).to_numpy(), dtype=np.float64, copy=True)
    values[~np.isfinite(values)] = np.nan
    return values


def top_values(values: pl.Series, limit: int = MAX_CATEGORIES) -> list[str]:
    """The `limit` most frequent non-null values (ties: the smaller value first), sorted."""
    counts = values.drop_nulls().value_counts(name="count")
    column = counts.columns[0]
    top = counts.sort(["count", column], descending=[True, False]).head(limit)[column].to_list()
    return sorted(top)


def build(kinds: dict[str, str], categories: dict[str, list[str]], *, encode: list[str], scale: bool) -> Pipeline:
    """The (unfitted) preprocessing pipeline. FrameColumns selects every column of `kinds` (the model's inputs);
    the columns of `encode` (in the order of `kinds`) become the matrix, a text column one-hot on its
    `categories`. A column left out of `encode` (one with no value in the training rows) is accepted and
    ignored."""
    numbers = [name for name, kind in kinds.items() if name in encode and kind in (NUMBER, TEMPORAL)]
    texts = [name for name, kind in kinds.items() if name in encode and kind == TEXT]
    transformers: list[tuple[str, Any, list[str]]] = []
    if numbers:
        steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
        if scale:
            steps.append(("scale", StandardScaler()))
        transformers.append(("num", Pipeline(steps), numbers))
    if texts:
        encoder = OneHotEncoder(
            categories=[np.asarray(categories[name], dtype=object) for name in texts],
            handle_unknown="ignore",
            sparse_output=False,
            dtype=np.float64,
        )
        impute = SimpleImputer(strategy="most_frequent", missing_values=None)
        transformers.append(("cat", Pipeline([("impute", impute), ("onehot", encoder)]), texts))
    encode = ColumnTransformer(transformers, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("columns", FrameColumns(dict(kinds))), ("encode", encode)])


def encoded_names(preprocess: Pipeline) -> list[str]:
    """The names of the matrix's columns: a number's column name, "<column>_<value>" for a one-hot column."""
    names = preprocess.named_steps["encode"].get_feature_names_out()
    return [str(name).split("__", 1)[1] for name in names]


def finite(value: Any) -> float | None:
    """A plain float, or None for NaN and infinities (not JSON)."""
    number = float(value)
    return number if math.isfinite(number) else None
