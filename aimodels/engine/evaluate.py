"""Held-out metrics and feature importances, as plain JSON-ready values (floats, ints, strings, lists; None for
a metric that is undefined here). Each function stands on its own, so a test can compare it with scikit-learn.

- classification(y_true, y_pred, proba, classes): accuracy; precision, recall and f1, macro and weighted over the
  labels present in y_true or y_pred (zero_division=0); roc_auc (binary: on the probability of classes[1];
  multiclass: one-vs-rest, macro) when every class is in y_true and there are probabilities, else None;
  log_loss over every class (None without probabilities); confusion_matrix {"labels": classes, "matrix"} with
  rows the true class and columns the predicted one.
- regression(y_true, y_pred): rmse, mae, r2 (None with fewer than 2 rows).
- clustering(X, labels, centers, seed): silhouette (None with fewer than 2 clusters among the rows or no more
  clusters than rows; over a sample of SILHOUETTE_SAMPLE rows drawn with the seed when there are more),
  inertia (sum of squared distances to the assigned centre), cluster_sizes.
- feature_importances(estimator, names): from feature_importances_ or |coef_| (averaged over classes).
"""

from typing import Any

import numpy as np
from sklearn import metrics as sk

from .preprocess import finite

SILHOUETTE_SAMPLE = 10_000


def json_values(values: Any) -> list[Any]:
    """Labels or predictions as JSON values (Python str, int, float, bool), as they are in the data."""
    return np.asarray(values).tolist()


def align_proba(proba: np.ndarray, model_classes: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Probabilities with one column per class of `classes` (0 for a class the model never saw in training)."""
    if len(model_classes) == len(classes) and np.array_equal(model_classes, classes):
        return proba
    aligned = np.zeros((proba.shape[0], len(classes)), dtype=np.float64)
    where = {label: index for index, label in enumerate(classes.tolist())}
    for column, label in enumerate(model_classes.tolist()):
        aligned[:, where[label]] = proba[:, column]
    return aligned


def _codes(values: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Each value's index in `classes`: scikit-learn's metrics on small integers instead of (text) labels."""
    index = {label: code for code, label in enumerate(classes.tolist())}
    return np.fromiter((index[value] for value in np.asarray(values).tolist()), dtype=np.int64, count=len(values))


def classification(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray
) -> dict[str, Any]:
    """From one confusion matrix: what precision_recall_fscore_support computes (zero_division=0, over the labels
    present in y_true or y_pred), without its passes over (text) labels; the tests compare with it."""
    k = len(classes)
    true, pred = _codes(y_true, classes), _codes(y_pred, classes)
    matrix = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    hits = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    present = (support + predicted) > 0
    zeros = np.zeros(k, dtype=np.float64)
    precision = np.divide(hits, predicted, out=zeros.copy(), where=predicted > 0)
    recall = np.divide(hits, support, out=zeros.copy(), where=support > 0)
    f1 = np.divide(2 * hits, support + predicted, out=zeros.copy(), where=(support + predicted) > 0)
    result: dict[str, Any] = {"accuracy": finite(hits.sum() / max(1, len(true)))}
    weights = support[present].astype(np.float64)
    for name, values in (("precision", precision), ("recall", recall), ("f1", f1)):
        result[f"{name}_macro"] = finite(values[present].mean())
        result[f"{name}_weighted"] = finite(np.average(values[present], weights=weights) if weights.sum() else 0.0)
    ordered = {f"{n}_{a}": result[f"{n}_{a}"] for a in ("macro", "weighted") for n in ("precision", "recall", "f1")}
    result = {"accuracy": result["accuracy"], **ordered}
    result["roc_auc"] = roc_auc(true, proba, np.arange(k))
    result["log_loss"] = None if proba is None else finite(sk.log_loss(true, proba, labels=np.arange(k)))
    result["confusion_matrix"] = {"labels": json_values(classes), "matrix": matrix.tolist()}
    return result


def roc_auc(y_true: np.ndarray, proba: np.ndarray | None, classes: np.ndarray) -> float | None:
    if proba is None or len(np.unique(y_true)) != len(classes):
        return None
    if len(classes) == 2:
        return finite(sk.roc_auc_score(y_true, proba[:, 1]))
    return finite(sk.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))


def regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    return {
        "rmse": finite(sk.root_mean_squared_error(y_true, y_pred)),
        "mae": finite(sk.mean_absolute_error(y_true, y_pred)),
        "r2": finite(sk.r2_score(y_true, y_pred)) if len(y_true) >= 2 else None,
    }


def clustering(X: np.ndarray, labels: np.ndarray, centers: np.ndarray | None, seed: int) -> dict[str, Any]:
    return {
        "silhouette": silhouette(X, labels, seed),
        "inertia": None if centers is None else finite(((X - centers[labels]) ** 2).sum()),
        "cluster_sizes": np.bincount(labels, minlength=0 if centers is None else len(centers)).tolist(),
    }


def silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    found = len(np.unique(labels))
    if not 2 <= found <= len(labels) - 1:
        return None
    sample = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
    try:
        return finite(sk.silhouette_score(X, labels, sample_size=sample, random_state=seed))
    except ValueError:  # the sample drew fewer than 2 clusters
        return None


def feature_importances(estimator: Any, names: list[str]) -> list[dict[str, Any]] | None:
    """[{"feature": encoded name, "importance": float}] from the largest, or None when the model has none."""
    values = getattr(estimator, "feature_importances_", None)
    if values is None and getattr(estimator, "coef_", None) is not None:
        coef = np.abs(np.asarray(estimator.coef_, dtype=np.float64))
        values = coef.mean(axis=0) if coef.ndim == 2 else coef
    if values is None or len(values) != len(names):
        return None
    found = [{"feature": name, "importance": finite(value) or 0.0} for name, value in zip(names, values, strict=True)]
    return sorted(found, key=lambda item: -item["importance"])
