"""Hyperparameters the tree ensembles share (random forests, histogram gradient boosting)."""

from typing import Any

from django.utils.translation import gettext_noop as _

from . import schema


def max_depth() -> dict[str, Any]:
    return schema.integer(
        _("Maximum depth"),
        _("Levels of a tree at most; null grows each tree until its leaves are pure or too small to split."),
        default=None,
        minimum=1,
        maximum=100,
        nullable=True,
    )


def min_samples_leaf(default: int) -> dict[str, Any]:
    return schema.integer(
        _("Minimum rows per leaf"),
        _("A split must leave at least this many training rows on each side."),
        default=default,
        minimum=1,
        maximum=100_000,
    )


def forest(*, criteria: list[str], max_features: Any) -> dict[str, dict[str, Any]]:
    """The properties of a random forest (classifier or regressor)."""
    return {
        "n_estimators": schema.integer(
            _("Number of trees"),
            _("More trees give steadier predictions and take longer."),
            default=100,
            minimum=1,
            maximum=2000,
        ),
        "criterion": schema.choice(
            _("Split criterion"),
            _("How the quality of a split is measured."),
            default=criteria[0],
            choices=criteria,
        ),
        "max_depth": max_depth(),
        "min_samples_split": schema.integer(
            _("Minimum rows to split"),
            _("A node needs at least this many training rows to be split."),
            default=2,
            minimum=2,
            maximum=100_000,
        ),
        "min_samples_leaf": min_samples_leaf(1),
        "max_features": {
            "anyOf": [
                {"enum": ["sqrt", "log2"]},
                {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                {"type": "null"},
            ],
            "title": _("Features per split"),
            "description": _(
                'Features considered at each split: "sqrt" or "log2" of their number, a fraction of them '
                "(0 to 1), or null for all of them."
            ),
            "default": max_features,
        },
        "bootstrap": schema.boolean(
            _("Bootstrap"),
            _("Grow each tree on a bootstrap sample of the rows rather than all of them."),
            default=True,
        ),
        "max_samples": schema.number(
            _("Rows per tree"),
            _(
                "With bootstrap, the fraction of the training rows drawn for each tree; null draws as many as there "
                "are rows."
            ),
            default=None,
            exclusive_minimum=0,
            maximum=1,
            nullable=True,
        ),
    }


def forest_arguments(params: dict[str, Any]) -> dict[str, Any]:
    """scikit-learn arguments of a random forest from its validated hyperparameters."""
    return {
        "n_estimators": params["n_estimators"],
        "criterion": params["criterion"],
        "max_depth": params["max_depth"],
        "min_samples_split": params["min_samples_split"],
        "min_samples_leaf": params["min_samples_leaf"],
        "max_features": params["max_features"],
        "bootstrap": params["bootstrap"],
        # scikit-learn refuses max_samples without bootstrap; it means nothing there.
        "max_samples": params["max_samples"] if params["bootstrap"] else None,
        "n_jobs": 1,
    }


def boosting(*, losses: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The properties of a histogram gradient boosting model (classifier or regressor)."""
    properties: dict[str, dict[str, Any]] = {}
    if losses:
        properties["loss"] = schema.choice(
            _("Loss"), _("What the boosting minimises."), default=losses[0], choices=losses
        )
    properties |= {
        "learning_rate": schema.number(
            _("Learning rate"),
            _("Shrinks each tree's contribution; smaller needs more iterations."),
            default=0.1,
            minimum=1e-4,
            maximum=1.0,
        ),
        "max_iter": schema.integer(
            _("Boosting iterations"),
            _("Trees added at most (one per class and iteration for classifiers)."),
            default=100,
            minimum=1,
            maximum=2000,
        ),
        "max_leaf_nodes": schema.integer(
            _("Maximum leaves"),
            _("Leaves of a tree at most; null for no limit."),
            default=31,
            minimum=2,
            maximum=4096,
            nullable=True,
        ),
        "max_depth": max_depth(),
        "min_samples_leaf": min_samples_leaf(20),
        "l2_regularization": schema.number(
            _("L2 regularisation"), _("Penalty on the leaf values."), default=0.0, minimum=0.0, maximum=1000.0
        ),
        "max_features": schema.number(
            _("Features per split"),
            _("Fraction of the features considered at each split."),
            default=1.0,
            exclusive_minimum=0,
            maximum=1.0,
        ),
        "max_bins": schema.integer(
            _("Bins"), _("Bins per feature for the histograms."), default=255, minimum=2, maximum=255
        ),
        "early_stopping": schema.choice(
            _("Early stopping"),
            _(
                'Stop when the loss on a held-out part of the training rows stops improving; "auto" enables it '
                "above 10,000 rows."
            ),
            default="auto",
            choices=["auto", True, False],
        ),
        "validation_fraction": schema.number(
            _("Early stopping fraction"),
            _("Fraction of the training rows held out for early stopping."),
            default=0.1,
            minimum=0.01,
            maximum=0.5,
        ),
        "n_iter_no_change": schema.integer(
            _("Early stopping patience"),
            _("Iterations without improvement before stopping."),
            default=10,
            minimum=1,
            maximum=1000,
        ),
    }
    return properties


def boosting_arguments(params: dict[str, Any]) -> dict[str, Any]:
    names = (
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "max_depth",
        "min_samples_leaf",
        "l2_regularization",
        "max_features",
        "max_bins",
        "early_stopping",
        "validation_fraction",
        "n_iter_no_change",
    )
    arguments = {name: params[name] for name in names}
    if "loss" in params:
        arguments["loss"] = params["loss"]
    return arguments
