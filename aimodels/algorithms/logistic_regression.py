"""Logistic regression: a linear classifier, the first baseline to try."""

from typing import Any

from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_noop as _
from sklearn import linear_model

from . import schema
from ._common import fit_once
from .base import CLASSIFICATION, Algorithm, Report, TrainData


class LogisticRegression(Algorithm):
    name = "logistic_regression"
    title = gettext_lazy("Logistic regression")
    description = gettext_lazy(
        "A linear model of the class probabilities. Fast and easy to read; a good first baseline. Numeric "
        "features are standardised."
    )
    task = CLASSIFICATION
    scale = True
    schema = schema.hyperparameters(
        C=schema.number(
            _("Inverse regularisation strength"),
            _("Smaller values regularise more strongly."),
            default=1.0,
            minimum=1e-6,
            maximum=1e6,
        ),
        l1_ratio=schema.number(
            _("L1 ratio"),
            _("0 is an L2 penalty, 1 an L1 penalty (sparse weights), values between mix them (elastic net)."),
            default=0.0,
            minimum=0.0,
            maximum=1.0,
        ),
        max_iter=schema.integer(
            _("Maximum iterations"), _("Iterations of the solver at most."), default=1000, minimum=1, maximum=10000
        ),
        tol=schema.number(
            _("Tolerance"),
            _("The solver stops when it improves less than this."),
            default=1e-4,
            minimum=1e-10,
            maximum=1.0,
        ),
        class_weight=schema.choice(
            _("Class weights"),
            _('"balanced" weighs classes inversely to their frequency; null weighs every row the same.'),
            default=None,
            choices=[None, "balanced"],
        ),
        fit_intercept=schema.boolean(_("Fit intercept"), _("Whether to learn a constant term."), default=True),
    )

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = linear_model.LogisticRegression(
            C=params["C"],
            l1_ratio=params["l1_ratio"],
            # lbfgs handles the L2 penalty only; saga every mix.
            solver="lbfgs" if params["l1_ratio"] == 0 else "saga",
            max_iter=params["max_iter"],
            tol=params["tol"],
            class_weight=params["class_weight"],
            fit_intercept=params["fit_intercept"],
            random_state=data.seed,
        )
        return fit_once(model, data, report)
