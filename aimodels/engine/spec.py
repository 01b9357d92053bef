"""What a training job asks for, checked before it is queued: the spec, the limits, and check() against a dataset
version's columns. Light on purpose (no scikit-learn): the API's job creation runs it in the web process, which
loads the training engine (aimodels.engine.training) only when it trains or predicts."""

from dataclasses import dataclass
from typing import Any

from aimodels.algorithms import base as algorithms
from datasets.engine.messages import gettext as _

from . import features as feature_kinds

MAX_FEATURES = 1000
MAX_CLASSES = 200
MAX_SEED = 2**32 - 1  # numpy's RandomState takes seeds below 2**32

REGRESSION_TARGET_TYPES = ("integer", "float", "decimal")
CLASSIFICATION_TARGET_TYPES = ("string", "categorical", "integer", "boolean")


@dataclass
class Spec:
    algorithm: str
    hyperparameters: dict[str, Any]  # already validated, defaults filled
    target: str | None  # None for clustering
    features: list[str]  # non-empty
    validation: float | None  # held-out ratio in (0, 1); None = use split_column
    split_column: str | None  # a column of "train" / "test" (datasets' train_test_split step)
    seed: int  # 0 .. MAX_SEED


# --- check ----------------------------------------------------------------------------------------------------


def check(
    columns: list[dict[str, Any]],
    *,
    task: str,
    target: str | None,
    features: list[str] | None,
    split_column: str | None,
    validation: float | None,
) -> tuple[list[str], dict[str, str]]:
    """A spec against a version's columns ([{"name", "type", "nullable"}]) before queueing. Returns the features
    (by default every column but the target and the split column whose type can be a feature, in column order)
    and the errors by field ("target", "features", "features.<index>", "validation", "split_column"), each a
    translated message; the features are returned as given when they are in error."""
    if task not in algorithms.TASKS:
        raise ValueError(f"unknown task {task!r}")
    types = {str(column["name"]): str(column["type"]) for column in columns}
    found: dict[str, str] = {}

    if validation is None:
        if not split_column:
            found["validation"] = _('Give a held-out ratio, or a split column of "train" and "test" rows.')
    elif isinstance(validation, bool) or not isinstance(validation, int | float) or not 0 < validation < 1:
        found["validation"] = _("The held-out ratio must be between 0 and 1 (both excluded).")
    if split_column:
        if split_column not in types:
            found["split_column"] = _("There is no column %(name)s.") % {"name": split_column}
        elif validation is None and types[split_column] not in feature_kinds.TEXT_TYPES:
            found["split_column"] = _('The split column must hold text ("train" and "test"), not %(type)s.') % {
                "type": types[split_column]
            }

    if task == algorithms.CLUSTERING:
        if target is not None:
            found["target"] = _("Clustering has no target; leave it empty.")
    elif not target:
        found["target"] = _("Choose the target column.")
    elif target not in types:
        found["target"] = _("There is no column %(name)s.") % {"name": target}
    elif target == split_column:
        found["target"] = _("The target cannot be the split column.")
    elif task == algorithms.REGRESSION and types[target] not in REGRESSION_TARGET_TYPES:
        found["target"] = _(
            "A regression target must be numeric; %(name)s is %(type)s. Train a classification model instead?"
        ) % {"name": target, "type": types[target]}
    elif task == algorithms.CLASSIFICATION and types[target] not in CLASSIFICATION_TARGET_TYPES:
        if types[target] in ("float", "decimal"):
            found["target"] = _(
                "%(name)s holds fractional numbers, not classes: train a regression model instead (or cast the "
                "column to integers or text)."
            ) % {"name": target}
        else:
            found["target"] = _(
                "A classification target must be text, whole numbers or true/false; %(name)s is %(type)s."
            ) % {"name": target, "type": types[target]}

    if features is None:
        features = [
            name
            for name, type_ in types.items()
            if name != target and name != split_column and feature_kinds.kind_of(type_) is not None
        ]
        if not features:
            found["features"] = _("No column can be a feature: features must be numbers, text, dates or times.")
        elif len(features) > MAX_FEATURES:
            found["features"] = _("At most %(n)d features; choose them.") % {"n": MAX_FEATURES}
        return features, found
    if not isinstance(features, list) or not features:
        found["features"] = _("Choose at least one feature.")
        return features, found
    if len(features) > MAX_FEATURES:
        found["features"] = _("At most %(n)d features.") % {"n": MAX_FEATURES}
        return features, found
    seen: set[str] = set()
    for index, name in enumerate(features):
        field = f"features.{index}"
        if not isinstance(name, str) or name not in types:
            found[field] = _("There is no column %(name)s.") % {"name": name}
        elif name in seen:
            found[field] = _("%(name)s is already a feature.") % {"name": name}
        elif name == target:
            found[field] = _("The target cannot also be a feature.")
        elif name == split_column:
            found[field] = _("The split column cannot be a feature.")
        elif feature_kinds.kind_of(types[name]) is None:
            found[field] = _(
                "%(name)s is %(type)s: a feature must be a number, true/false, text, a date or a datetime."
            ) % {"name": name, "type": types[name]}
        if isinstance(name, str):
            seen.add(name)
    return features, found
