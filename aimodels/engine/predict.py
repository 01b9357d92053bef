"""Predictions from a trained pipeline: frame_of() turns JSON rows into a frame of the model's inputs, predict()
answers with JSON-ready predictions (and class probabilities for a classifier).

Rows: each is a JSON object with exactly the signature's inputs: a missing input and a key that is not an input
are both errors (a typo would otherwise pass as a missing value), and null is always allowed (the model imputes
it). Values by column type: integer a whole number (3.0 is 3; true is not a number), float and decimal any
number, boolean true/false, string and categorical text, date "YYYY-MM-DD", datetime ISO 8601 text (with an
offset it is converted; without, read in the column's time zone, UTC for a column without one). A row that does
not fit raises RowError(row index from 0, column, message).

predict() runs a compiled copy of the pipeline when it recognises every step (the engine's own pipelines): the
same arithmetic as scikit-learn's transform and predict, without their per-call validation, which costs
milliseconds for one row (a random forest's predict_proba spends ~0.1 ms per tree on it). Anything else goes
through the pipeline's own predict. tests/engine/test_predict.py holds the two to the same results.
"""

import json
import math
import threading
import weakref
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import ThreadpoolController

from datasets.engine.messages import gettext as _

from .evaluate import align_proba
from .preprocess import TEXT, FrameColumns, as_numbers, as_text, finite

INT64 = (-(2**63), 2**63 - 1)


class RowError(Exception):
    """A row that does not fit the signature: `row` (index from 0), `column` ("" when the row itself is not an
    object) and a translated `message`."""

    def __init__(self, row: int, column: str, message: str) -> None:
        super().__init__(f"row {row}, {column}: {message}")
        self.row = row
        self.column = column
        self.message = message


# --- rows -----------------------------------------------------------------------------------------------------


def _integer(value: Any, zone: ZoneInfo | None) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(_("Must be a whole number."))
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(_("Out of range for a whole number."))
    return value


def _number(value: Any, zone: ZoneInfo | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(_("Must be a number."))
    try:
        return float(value)
    except OverflowError as exc:  # an int beyond a float's range
        raise ValueError(_("Out of range for a number.")) from exc


def _boolean(value: Any, zone: ZoneInfo | None) -> bool:
    if not isinstance(value, bool):
        raise ValueError(_("Must be true or false."))
    return value


def _text(value: Any, zone: ZoneInfo | None) -> str:
    if not isinstance(value, str):
        raise ValueError(_("Must be text."))
    return value


def _date(value: Any, zone: ZoneInfo | None) -> date:
    message = _("Must be a date as text, YYYY-MM-DD.")
    if not isinstance(value, str):
        raise ValueError(message)
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(message) from exc


def _datetime(value: Any, zone: ZoneInfo | None) -> datetime:
    """A naive datetime in UTC (the frame puts the column's zone back)."""
    message = _("Must be a date and time as ISO 8601 text, e.g. 2024-05-01T08:30:00+08:00.")
    if not isinstance(value, str):
        raise ValueError(message)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(message) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone or UTC)
    return moment.astimezone(UTC).replace(tzinfo=None)


_COERCE = {
    "integer": (_integer, pl.Int64),
    "float": (_number, pl.Float64),
    "decimal": (_number, pl.Float64),
    "boolean": (_boolean, pl.Boolean),
    "string": (_text, pl.String),
    "categorical": (_text, pl.String),
    "date": (_date, pl.Date),
    "datetime": (_datetime, pl.Datetime("us")),
}


def frame_of(rows: list[Any], signature: dict[str, Any]) -> pl.DataFrame:
    """The rows as a frame of the signature's inputs, typed as the model was trained (see the module's text)."""
    inputs = signature["inputs"]
    known = {entry["name"] for entry in inputs}
    plan = []
    for entry in inputs:
        coerce, _dtype = _COERCE[entry["type"]]
        zone = ZoneInfo(entry["time_zone"]) if entry.get("time_zone") else None
        plan.append((entry["name"], coerce, zone))
    values: dict[str, list[Any]] = {name: [] for name, _coerce, _zone in plan}
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowError(index, "", _("A row must be a JSON object of the model's inputs."))
        if not known.issuperset(row):
            unknown = sorted(str(key) for key in row if key not in known)
            raise RowError(index, unknown[0], _("Not an input of this model."))
        for name, coerce, zone in plan:
            if name not in row:
                raise RowError(index, name, _("Missing: give a value, or null."))
            value = row[name]
            if value is None:
                values[name].append(None)
                continue
            try:
                values[name].append(coerce(value, zone))
            except ValueError as exc:
                raise RowError(index, name, str(exc)) from exc
    columns = []
    for entry in inputs:
        name = entry["name"]
        dtype: Any = _COERCE[entry["type"]][1]
        series = pl.Series(name, values[name], dtype=dtype)
        if entry["type"] == "datetime" and entry.get("time_zone"):
            # The values are UTC: the column's own zone back, as the model saw it in training.
            series = series.dt.replace_time_zone("UTC").dt.convert_time_zone(entry["time_zone"])
        columns.append(series)
    return pl.DataFrame(columns)


# --- predictions ----------------------------------------------------------------------------------------------


def predict(model: Any, frame: pl.DataFrame, signature: dict[str, Any]) -> dict[str, Any]:
    """{"predictions": [...]} and, for a classifier, "probabilities": [{class: p}] with one key per class of the
    signature (the class as text: a JSON string as it is, a number or true/false as JSON writes it)."""
    task = signature.get("task")
    classifier = task == "classification"
    if frame.height == 0:
        return {"predictions": [], "probabilities": []} if classifier else {"predictions": []}
    compiled = _compiled(model)
    if compiled is not None:
        labels, proba, model_classes = compiled.predict(frame, classifier)
    else:
        estimator = model[-1]
        labels = model.predict(frame)
        proba = model.predict_proba(frame) if classifier and hasattr(estimator, "predict_proba") else None
        model_classes = getattr(estimator, "classes_", None)
    if task == "regression":
        return {"predictions": [finite(value) for value in np.asarray(labels, dtype=np.float64)]}
    result: dict[str, Any] = {"predictions": np.asarray(labels).tolist()}
    if classifier and proba is not None:
        classes = signature.get("classes") or np.asarray(model_classes).tolist()
        aligned = align_proba(proba, np.asarray(model_classes, dtype=object), np.asarray(classes, dtype=object))
        keys = [label if isinstance(label, str) else json.dumps(label) for label in classes]
        result["probabilities"] = [dict(zip(keys, row, strict=True)) for row in aligned.tolist()]
    return result


_cache: "weakref.WeakKeyDictionary[Any, _Compiled | None]" = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def _compiled(model: Any) -> "_Compiled | None":
    try:
        return _cache[model]
    except (KeyError, TypeError):
        pass
    try:
        compiled: _Compiled | None = _Compiled(model)
    except (_Unsupported, AttributeError):  # not the engine's pipeline: its own predict
        compiled = None
    with _cache_lock:
        try:
            _cache[model] = compiled
        except TypeError:  # not weakly referenceable: compile each time
            pass
    return compiled


class _Unsupported(Exception):
    pass


def _require(condition: bool) -> None:
    if not condition:
        raise _Unsupported


class _Compiled:
    """The engine's pipeline as plain numpy over its fitted attributes."""

    def __init__(self, model: Any) -> None:
        _require(type(model) is Pipeline and len(model.steps) == 2)
        prepare, self.estimator = model.steps[0][1], model.steps[1][1]
        _require(type(prepare) is Pipeline and [name for name, _step in prepare.steps] == ["columns", "encode"])
        self.columns, encode = prepare.steps[0][1], prepare.steps[1][1]
        _require(type(self.columns) is FrameColumns and type(encode) is ColumnTransformer)
        _require(getattr(encode, "sparse_output_", False) is False)
        self.blocks: list[tuple[str, list[str], Any]] = []
        for name, pipeline, columns in encode.transformers_:
            if name == "remainder":
                _require(pipeline == "drop")
                continue
            _require(type(pipeline) is Pipeline and isinstance(columns, list))
            steps = dict(pipeline.steps)
            kinds = [(self.columns.kinds or {}).get(column) for column in columns]
            _require(None not in kinds and all((kind == TEXT) == (name == "cat") for kind in kinds))
            if name == "num":
                self.blocks.append(("num", columns, self._numbers(steps)))
            elif name == "cat":
                self.blocks.append(("cat", columns, self._texts(steps, len(columns))))
            else:
                raise _Unsupported
        self.forest = type(self.estimator) in (RandomForestClassifier, RandomForestRegressor)

    @staticmethod
    def _numbers(steps: dict[str, Any]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        impute: Any = steps.get("impute")
        scale: Any = steps.get("scale")
        _require(set(steps) <= {"impute", "scale"} and type(impute) is SimpleImputer)
        _require(impute.strategy == "median" and _is_nan(impute.missing_values) and impute.indicator_ is None)
        _require(not np.isnan(impute.statistics_).any())
        if scale is None:
            return impute.statistics_, None, None
        _require(type(scale) is StandardScaler and scale.with_mean and scale.with_std)
        return impute.statistics_, scale.mean_, scale.scale_

    @staticmethod
    def _texts(steps: dict[str, Any], count: int) -> tuple[list[Any], list[dict[Any, int]]]:
        impute: Any = steps.get("impute")
        onehot: Any = steps.get("onehot")
        _require(set(steps) == {"impute", "onehot"} and type(impute) is SimpleImputer)
        _require(impute.strategy == "most_frequent" and impute.missing_values is None and impute.indicator_ is None)
        _require(type(onehot) is OneHotEncoder and onehot.handle_unknown == "ignore" and onehot.drop_idx_ is None)
        _require(not onehot._infrequent_enabled and len(onehot.categories_) == count)
        lookups, offset = [], 0
        for categories in onehot.categories_:
            lookups.append({value: offset + index for index, value in enumerate(categories.tolist())})
            offset += len(categories)
        return list(impute.statistics_), lookups

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """FrameColumns, then each block's imputing, scaling and one-hot encoding, as scikit-learn computes them."""
        parts = []
        for kind, columns, plan in self.blocks:
            if kind == "num":
                statistics, mean, scale = plan
                block = np.column_stack([as_numbers(frame.get_column(name)) for name in columns])
                missing = np.isnan(block)
                if missing.any():
                    block[missing] = np.broadcast_to(statistics, block.shape)[missing]
                if mean is not None:
                    block -= mean
                    block /= scale
                parts.append(block)
            else:
                fills, lookups = plan
                block = np.zeros((frame.height, sum(len(lookup) for lookup in lookups)), dtype=np.float64)
                for name, fill, lookup in zip(columns, fills, lookups, strict=True):
                    for row, value in enumerate(as_text(frame.get_column(name)).to_list()):
                        index = lookup.get(fill if value is None else value)
                        if index is not None:
                            block[row, index] = 1.0
                parts.append(block)
        return np.hstack(parts) if len(parts) > 1 else parts[0]

    def predict(self, frame: pl.DataFrame, classifier: bool) -> tuple[np.ndarray, np.ndarray | None, Any]:
        X = self.transform(frame)
        estimator = self.estimator
        classes: Any = getattr(estimator, "classes_", None)
        proba: Any
        if self.forest:
            X32 = np.ascontiguousarray(X, dtype=np.float32)
            if type(estimator) is RandomForestClassifier and estimator.n_outputs_ == 1:
                proba = np.zeros((X.shape[0], estimator.n_classes_), dtype=np.float64)
                for tree in estimator.estimators_:
                    proba += tree.tree_.predict(X32)[:, : estimator.n_classes_]
                proba /= len(estimator.estimators_)
                return classes.take(np.argmax(proba, axis=1), axis=0), proba, classes
            if type(estimator) is RandomForestRegressor and estimator.n_outputs_ == 1:
                values = np.zeros(X.shape[0], dtype=np.float64)
                for tree in estimator.estimators_:
                    values += tree.tree_.predict(X32)[:, 0]
                values /= len(estimator.estimators_)
                return values, None, None
        with _one_thread():
            if classifier and type(estimator) in PREDICT_IS_ARGMAX:
                proba = estimator.predict_proba(X)
                return argmax_labels(estimator, X, proba), proba, classes
            labels = estimator.predict(X)
            proba = estimator.predict_proba(X) if classifier and hasattr(estimator, "predict_proba") else None
        return labels, proba, classes


# Classifiers whose predict() is the class of the largest predict_proba() (the probabilities are a monotone
# function of the scores predict() compares), except where two classes tie at the top.
PREDICT_IS_ARGMAX = (HistGradientBoostingClassifier, LogisticRegression, MLPClassifier)


def argmax_labels(estimator: Any, X: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """predict() from predict_proba() without a second pass over the trees; a tie at the top asks predict()."""
    top = np.sort(proba, axis=1)[:, -2:]
    if (top[:, 0] == top[:, 1]).any():
        return estimator.predict(X)
    return estimator.classes_.take(np.argmax(proba, axis=1), axis=0)


_controller: list[ThreadpoolController] = []


def _one_thread() -> Any:
    """OpenMP limited to this thread for one prediction: gradient boosting and k-means open a parallel region
    per tree or chunk, and waking a team of threads for one row costs more than the work (10x on a busy host).
    The limit is per calling thread (omp_set_num_threads), so concurrent requests do not see it."""
    if not _controller:
        _controller.append(ThreadpoolController())  # scans the loaded libraries once per process
    return _controller[0].limit(limits=1, user_api="openmp")


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
