"""Training one model on a frame: check() a spec against a version's columns before queueing, train() it.

train() steps, announced to `report` as stages (translated text, with step=0 and total=0):
1. Rows: for a supervised task, rows without a target (null; NaN or an infinity in a float target) are dropped.
   The held-out rows are a `validation` share drawn by scikit-learn's train_test_split(random_state=seed),
   stratified on the class when every class has at least 2 rows (and the split can hold each class on both
   sides); or, when `validation` is None, the rows whose `split_column` is "train" and "test" (other values are
   left out). At least 2 training rows and 1 held-out row, and for classification 2 classes among the training
   rows, or an EngineError.
2. Features: aimodels.engine.preprocess, fitted on the training rows; a feature with no value in the training rows
   is accepted at prediction and ignored (NO_FEATURES when none is left).
3. Training: the algorithm's plugin, on float64 matrices, with one BLAS/OpenMP thread (workers are one process
   per core). Its ValueError, ArithmeticError or MemoryError becomes TRAINING_FAILED; Stop from `report`
   propagates.
4. Evaluation on the held-out rows (aimodels.engine.evaluate), feature importances, the input signature.
"""

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from aimodels.algorithms import base as algorithms
from datasets.engine.messages import gettext as _
from datasets.engine.schema import type_name

from . import errors, evaluate, predict, preprocess
from . import features as feature_kinds
from .errors import EngineError
from .spec import MAX_CLASSES, MAX_SEED, Spec, check


@dataclass
class Trained:
    model: Any  # Pipeline([("preprocess", ...), ("model", estimator)]); predict(pl.DataFrame of the features)
    metrics: dict[str, Any]  # held-out metrics, JSON-ready (aimodels.engine.evaluate)
    feature_importances: list[dict[str, Any]] | None  # [{"feature", "importance"}] largest first
    signature: dict[str, Any]  # {"inputs": [{"name", "type"(, "time_zone")}], "target", "task", "classes"}
    train_rows: int
    valid_rows: int


# --- train ----------------------------------------------------------------------------------------------------


def train(frame: pl.DataFrame, spec: Spec, report: algorithms.Report) -> Trained:
    """Train `spec` on `frame` (holding at least the features, the target and the split column)."""
    algorithm = algorithms.get(spec.algorithm)
    if algorithm is None:
        raise EngineError(errors.INVALID_SPEC, _("No such algorithm: %(name)s.") % {"name": spec.algorithm})
    task = algorithm.task
    columns = [{"name": name, "type": type_name(dtype), "nullable": True} for name, dtype in frame.schema.items()]
    features, problems = check(
        columns,
        task=task,
        target=spec.target,
        features=list(spec.features) if spec.features else None,
        split_column=spec.split_column,
        validation=spec.validation,
    )
    if problems:
        field, message = next(iter(problems.items()))
        raise EngineError(errors.INVALID_SPEC, message, field=field)
    if isinstance(spec.seed, bool) or not isinstance(spec.seed, int) or not 0 <= spec.seed <= MAX_SEED:
        raise EngineError(errors.INVALID_SPEC, _("The seed must be between 0 and %(max)d.") % {"max": MAX_SEED})
    types: dict[str, str] = {str(column["name"]): str(column["type"]) for column in columns}

    report(step=0, total=0, stage=_("Splitting the rows"))
    if spec.target is not None:
        frame = frame.filter(_has_target(spec.target, frame.schema[spec.target]))
    y: Any = None if spec.target is None else target_values(frame[spec.target], task)
    classes = codes = None
    if task == algorithms.CLASSIFICATION:
        classes, codes = class_codes(y)
        _check_classes(classes)
    train_rows, valid_rows = _split(frame, codes, spec)
    if len(train_rows) < 2 or len(valid_rows) < 1:
        raise EngineError(
            errors.NOT_ENOUGH_ROWS,
            _("Not enough rows: %(train)d to train on (2 at least) and %(valid)d held out (1 at least).")
            % {"train": len(train_rows), "valid": len(valid_rows)},
            train_rows=len(train_rows),
            valid_rows=len(valid_rows),
        )
    y_train: Any = None if y is None else y[train_rows]
    y_valid = None if y is None else y[valid_rows]
    if codes is not None and len(np.unique(codes[train_rows])) < 2:
        raise EngineError(
            errors.SINGLE_CLASS,
            _("The training rows hold a single class of %(target)s; a classifier needs two at least.")
            % {"target": spec.target},
            classes=evaluate.json_values(np.unique(y_train)),
        )
    train_frame, valid_frame = frame[train_rows], frame[valid_rows]

    report(step=0, total=0, stage=_("Preparing the features"))
    kinds = {name: feature_kinds.kind_of(types[name]) or feature_kinds.NUMBER for name in features}
    cast = preprocess.FrameColumns(kinds).transform(train_frame)
    encode = [name for name in features if cast[name].null_count() < cast.height]
    if not encode:
        raise EngineError(errors.NO_FEATURES, _("Every feature is empty in the training rows."), dropped=list(features))
    categories = {name: preprocess.top_values(cast[name]) for name in encode if kinds[name] == feature_kinds.TEXT}
    prepare = preprocess.build(kinds, categories, encode=encode, scale=algorithm.scale)

    with threadpool_limits(limits=1):
        X_train = prepare.fit_transform(train_frame)
        with warnings.catch_warnings():
            # By design: a text value outside the training rows' top values encodes as all zeros.
            warnings.filterwarnings("ignore", message="Found unknown categories", category=UserWarning)
            X_valid = prepare.transform(valid_frame)
        names = preprocess.encoded_names(prepare)
        data = algorithms.TrainData(
            X_train=X_train,
            y_train=y_train,
            X_valid=X_valid,
            y_valid=y_valid,
            feature_names=names,
            classes=classes,
            seed=spec.seed,
        )
        report(step=0, total=0, stage=_("Training"))
        try:
            estimator = algorithm.train(data, spec.hyperparameters, report)
        except (ValueError, ArithmeticError, MemoryError) as exc:
            raise EngineError(
                errors.TRAINING_FAILED,
                _("Training failed: %(error)s") % {"error": str(exc)[:1000] or type(exc).__name__},
                error=type(exc).__name__,
            ) from exc
        report(step=0, total=0, stage=_("Evaluating on the held-out rows"))
        metrics = _evaluate(estimator, data, task)

    return Trained(
        model=Pipeline([("preprocess", prepare), ("model", estimator)]),
        metrics=metrics,
        feature_importances=evaluate.feature_importances(estimator, names),
        signature=signature(frame, features, spec.target, task, classes),
        train_rows=len(train_rows),
        valid_rows=len(valid_rows),
    )


def _has_target(target: str, dtype: pl.DataType) -> pl.Expr:
    present = pl.col(target).is_not_null()
    if dtype.is_float():
        present = present & pl.col(target).is_finite()
    return present


def target_values(values: pl.Series, task: str) -> np.ndarray:
    """The target as scikit-learn takes it: float64 for regression; for classification the labels as they are
    (int64, bool, or Python str in an object array; a categorical column as its text)."""
    if task == algorithms.REGRESSION:
        return values.cast(pl.Float64).to_numpy()
    if values.dtype == pl.Boolean or values.dtype.is_integer():
        return values.to_numpy()
    return np.asarray(values.cast(pl.String).to_list(), dtype=object)


def class_codes(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(y, return_inverse=True): the classes in order and each row's index among them. For text labels
    (an object array) without np.unique's sort of every row, which compares Python strings all the way: a
    tenth of a second per pass over 100,000 rows, and a job made several (bench/training.py)."""
    if y.dtype != object:
        classes, codes = np.unique(y, return_inverse=True)
        return classes, codes.reshape(-1)
    labels = y.tolist()
    found = sorted(set(labels))
    classes = np.empty(len(found), dtype=object)
    classes[:] = found
    index = {label: code for code, label in enumerate(found)}
    return classes, np.fromiter((index[label] for label in labels), dtype=np.intp, count=len(labels))


def _check_classes(classes: np.ndarray) -> None:
    if len(classes) < 2:
        raise EngineError(
            errors.SINGLE_CLASS,
            _("The target has a single class; a classifier needs two at least."),
            classes=evaluate.json_values(classes),
        )
    if len(classes) > MAX_CLASSES:
        raise EngineError(
            errors.TOO_MANY_CLASSES,
            _("The target has %(n)d classes; a classifier takes %(max)d at most.")
            % {"n": len(classes), "max": MAX_CLASSES},
            classes=len(classes),
            limit=MAX_CLASSES,
        )


def _split(frame: pl.DataFrame, codes: np.ndarray | None, spec: Spec) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers of the training rows and of the held-out rows (train_test_split's order for a ratio). A
    classifier's rows (`codes`, None for other tasks) are stratified by their class codes (class_codes): the split
    scikit-learn makes from the labels themselves, which it turns into the same codes first."""
    if spec.validation is None:
        assert spec.split_column is not None  # check() made sure
        split = frame[spec.split_column].cast(pl.String)
        return (
            np.flatnonzero((split == "train").fill_null(False).to_numpy()),
            np.flatnonzero((split == "test").fill_null(False).to_numpy()),
        )
    rows = np.arange(frame.height)
    stratify = None
    if codes is not None and np.bincount(codes).min() >= 2:
        stratify = codes
    try:
        return _ratio_split(rows, spec, stratify)
    except ValueError:
        if stratify is None:
            return _too_few(rows, spec.validation)
    try:
        # Too few rows on one side to hold every class: a plain shuffled split.
        return _ratio_split(rows, spec, None)
    except ValueError:
        return _too_few(rows, spec.validation)


def _too_few(rows: np.ndarray, validation: float) -> tuple[np.ndarray, np.ndarray]:
    """The sides the ratio asks for when one of them is empty (as train_test_split counts them: the held-out side
    rounded up), so that the caller's refusal says which side is short: 0.999999 of 200 rows leaves none to train
    on, not none held out."""
    held_out = min(len(rows), math.ceil(validation * len(rows)))
    return rows[: len(rows) - held_out], rows[len(rows) - held_out :]


def _ratio_split(rows: np.ndarray, spec: Spec, stratify: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    train_rows, valid_rows = train_test_split(
        rows, test_size=spec.validation, random_state=spec.seed, shuffle=True, stratify=stratify
    )
    return train_rows, valid_rows


def _evaluate(estimator: Any, data: algorithms.TrainData, task: str) -> dict[str, Any]:
    if task == algorithms.CLASSIFICATION:
        assert data.classes is not None and data.y_valid is not None
        proba = raw = None
        if hasattr(estimator, "predict_proba"):
            raw = estimator.predict_proba(data.X_valid)
            proba = evaluate.align_proba(raw, estimator.classes_, data.classes)
        if raw is not None and type(estimator) in predict.PREDICT_IS_ARGMAX:
            labels = predict.argmax_labels(estimator, data.X_valid, raw)  # one pass over the model, not two
        else:
            labels = estimator.predict(data.X_valid)
        return evaluate.classification(data.y_valid, labels, proba, data.classes)
    if task == algorithms.REGRESSION:
        assert data.y_valid is not None
        return evaluate.regression(data.y_valid, estimator.predict(data.X_valid))
    labels = np.asarray(estimator.predict(data.X_valid))
    return evaluate.clustering(data.X_valid, labels, getattr(estimator, "cluster_centers_", None), data.seed)


def signature(
    frame: pl.DataFrame, features: list[str], target: str | None, task: str, classes: np.ndarray | None
) -> dict[str, Any]:
    """What a prediction takes and gives: the inputs (name, datasets' type name, and the time zone of a datetime
    column that has one), the target, the task and the classes (JSON values, sorted)."""
    inputs = []
    for name in features:
        dtype = frame.schema[name]
        entry: dict[str, Any] = {"name": name, "type": type_name(dtype)}
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            entry["time_zone"] = dtype.time_zone
        inputs.append(entry)
    return {
        "inputs": inputs,
        "target": None if target is None else {"name": target, "type": type_name(frame.schema[target])},
        "task": task,
        "classes": None if classes is None else evaluate.json_values(classes),
    }
