"""Small generated frames for the engine's tests, and the preprocessing written out with scikit-learn alone (what
the engine must match)."""

from typing import Any

import numpy as np
import polars as pl
from sklearn.datasets import make_blobs, make_classification, make_regression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from aimodels.engine import training

SEED = 7
CITIES = ["北京", "上海", "广州"]
ANIMALS = ["猫", "狗", "鸟"]
NUMBERS = ["x0", "x1", "x2", "x3"]


def classes_frame(rows: int = 240, seed: int = SEED) -> pl.DataFrame:
    """Four numbers, a Chinese city that says something about the class, and a Chinese animal as the class."""
    X, y = make_classification(
        n_samples=rows,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        n_clusters_per_class=1,
        class_sep=0.8,
        random_state=seed,
    )
    noise = np.random.default_rng(seed).integers(0, 2, rows)
    return pl.DataFrame(
        {
            **{name: X[:, index] for index, name in enumerate(NUMBERS)},
            "城市": np.asarray(CITIES, dtype=object)[(y + noise) % 3].tolist(),
            "动物": np.asarray(ANIMALS, dtype=object)[y].tolist(),
        }
    )


def values_frame(rows: int = 200, seed: int = SEED) -> pl.DataFrame:
    """Four numbers and a Chinese city, with a target that depends on both."""
    X, y = make_regression(n_samples=rows, n_features=4, n_informative=3, noise=5.0, random_state=seed)
    city = np.random.default_rng(seed).integers(0, 3, rows)
    return pl.DataFrame(
        {
            **{name: X[:, index] for index, name in enumerate(NUMBERS)},
            "城市": np.asarray(CITIES, dtype=object)[city].tolist(),
            "价格": y + 40.0 * city,
        }
    )


def blobs_frame(rows: int = 200, seed: int = SEED) -> pl.DataFrame:
    X, _ = make_blobs(n_samples=rows, centers=3, n_features=3, random_state=seed)
    return pl.DataFrame({name: X[:, index] for index, name in enumerate(NUMBERS[:3])})


def spec(algorithm: str, target: str | None, features: list[str], **changes: Any) -> training.Spec:
    from aimodels.algorithms import base

    values = {
        "algorithm": algorithm,
        "hyperparameters": base.validate(base.get(algorithm), changes.pop("hyperparameters", None)),
        "target": target,
        "features": features,
        "validation": 0.25,
        "split_column": None,
        "seed": SEED,
    }
    values.update(changes)
    return training.Spec(**values)


class Reports:
    """A `report` that records its calls, and raises `stop` (an exception) at step `stop_at` when given."""

    def __init__(self, stop_at: int | None = None, stop: Exception | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.stop_at, self.stop = stop_at, stop

    def __call__(self, *, step: int, total: int, metrics: dict[str, float] | None = None, stage: Any = None) -> None:
        self.calls.append({"step": step, "total": total, "metrics": metrics, "stage": stage})
        if self.stop is not None and total and step == self.stop_at:
            raise self.stop

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The plugin's calls (stages come with total 0)."""
        return [call for call in self.calls if call["total"]]

    @property
    def stages(self) -> list[str]:
        return [str(call["stage"]) for call in self.calls if call["stage"] is not None]


def split(rows: int, y: np.ndarray | None, ratio: float = 0.25, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """The engine's split, written out: scikit-learn's train_test_split on the row numbers."""
    train, valid = train_test_split(np.arange(rows), test_size=ratio, random_state=seed, stratify=y)
    return train, valid


def matrices(
    frame: pl.DataFrame, numbers: list[str], texts: list[str], train: np.ndarray, valid: np.ndarray, *, scale: bool
) -> tuple[np.ndarray, np.ndarray]:
    """What the engine's preprocessing must give on frames without missing values: the numbers (standardised
    on the training rows when `scale`), then each text column one-hot on its sorted training values."""
    A = frame.select(numbers).to_numpy().astype(np.float64)
    a_train, a_valid = A[train], A[valid]
    if scale:
        scaler = StandardScaler().fit(a_train)
        a_train, a_valid = scaler.transform(a_train), scaler.transform(a_valid)
    parts_train, parts_valid = [a_train], [a_valid]
    if texts:
        T = np.asarray(frame.select(texts).rows(), dtype=object)
        encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False).fit(T[train])
        parts_train.append(encoder.transform(T[train]))
        parts_valid.append(encoder.transform(T[valid]))
    return np.hstack(parts_train), np.hstack(parts_valid)
