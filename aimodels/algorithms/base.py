"""The interface every training algorithm implements, and the registry that finds them.

An algorithm is one module in `aimodels/algorithms/` defining one subclass of `Algorithm` (see
docs/algorithms.md). The registry imports every module of the package once (but this one, `schema` and modules
whose name starts with "_", which hold shared helpers); a module whose optional dependency is missing raises
`Unavailable` on import and is skipped.

The training engine (aimodels.engine.training) does everything that is the same for all algorithms: it
selects and splits the rows, fits a preprocessor (imputing, one-hot encoding, scaling when the algorithm asks),
calls `train` on plain numeric matrices, evaluates the result on the held-out rows and packs the
preprocessor and the fitted estimator into one scikit-learn Pipeline. A plugin only fits.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from .schema import HyperparameterError, translate, validate

__all__ = [
    "CLASSIFICATION",
    "CLUSTERING",
    "REGRESSION",
    "TASKS",
    "Algorithm",
    "HyperparameterError",
    "Report",
    "Stop",
    "TrainData",
    "Unavailable",
    "get",
    "registry",
    "validate",
]

if TYPE_CHECKING:  # numpy is loaded by the training engine that fills these, not by every process that lists algorithms
    import numpy as np

CLASSIFICATION = "classification"
REGRESSION = "regression"
CLUSTERING = "clustering"
TASKS = (CLASSIFICATION, REGRESSION, CLUSTERING)


class Unavailable(ImportError):
    """Raised by a plugin module whose optional dependency is not installed: the registry skips it."""


class Stop(Exception):  # noqa: N818 - a signal, not an error of the plugin
    """Raised by `report` when the job must stop (cancelled, out of time); a plugin lets it propagate."""


class Report(Protocol):
    def __call__(
        self, *, step: int, total: int, metrics: dict[str, float] | None = None, stage: str | None = None
    ) -> None:
        """Progress (`step` of `total`), optional per-step metrics (e.g. {"loss": 0.31, "val_accuracy": 0.9})
        and stage text. Cheap to call often (the caller throttles); raises `Stop` when the job must stop.
        The engine announces its stages (translated text) with step=0, total=0: no progress information; a
        plugin reports its steps (0..total) within the engine's training stage."""


@dataclass
class TrainData:
    """Preprocessed, numeric data: float64 matrices, one row per record, one column per encoded feature."""

    X_train: np.ndarray
    y_train: np.ndarray | None  # None for clustering
    X_valid: np.ndarray
    y_valid: np.ndarray | None
    feature_names: list[str]  # names of the encoded columns (X_*.shape[1] of them)
    classes: np.ndarray | None  # every class of the target (classification), sorted
    seed: int


class Algorithm:
    """One training algorithm. Subclasses set the class attributes and implement `train`."""

    name: ClassVar[str]  # the API's identifier, e.g. "random_forest_classifier"
    title: ClassVar[Any]  # gettext_lazy text for people
    description: ClassVar[Any] = ""
    task: ClassVar[str]  # one of TASKS
    # Whether the engine standardises numeric features before `train` (linear models, k-means, MLP).
    scale: ClassVar[bool] = False
    # JSON Schema (draft 2020-12) of the hyperparameters: an object whose properties each have a title, a
    # description (English, marked with gettext_noop), a default, and bounds or an enum; additionalProperties is
    # false. Built with the helpers of aimodels.algorithms.schema; validate() there checks a job's values.
    schema: ClassVar[dict[str, Any]]

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        """Fit and return a scikit-learn-compatible estimator (predict, and predict_proba for classifiers).
        `params` is validated with the defaults filled in. Call `report` between steps."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": str(self.title),
            "description": str(self.description),
            "task": self.task,
            "hyperparameters": translate(self.schema),
        }


_registry: dict[str, Algorithm] | None = None


def registry() -> dict[str, Algorithm]:
    """Every available algorithm by name, in name order: the modules of this package, then those named in
    settings.AIMODELS_PLUGINS (dotted module paths)."""
    global _registry
    if _registry is None:
        from django.conf import settings

        from aimodels import algorithms as package

        names = [
            f"{package.__name__}.{module_info.name}"
            for module_info in pkgutil.iter_modules(package.__path__)
            if not module_info.name.startswith("_") and module_info.name not in ("base", "schema")
        ]
        names.extend(getattr(settings, "AIMODELS_PLUGINS", None) or [])
        found: dict[str, Algorithm] = {}
        for name in names:
            try:
                module = importlib.import_module(name)
            except Unavailable:
                continue
            for value in vars(module).values():
                if isinstance(value, type) and issubclass(value, Algorithm) and value is not Algorithm:
                    if value.__module__ == module.__name__ and "name" in vars(value):
                        found[value.name] = value()
        _registry = dict(sorted(found.items()))
    return _registry


def get(name: str) -> Algorithm | None:
    return registry().get(name)


def registry_reset() -> None:
    """Forget the registry, so the next call finds the modules again (tests that change AIMODELS_PLUGINS)."""
    global _registry
    _registry = None
