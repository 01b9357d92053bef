"""Linear regression: ordinary least squares."""

from typing import Any

from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_noop as _
from sklearn import linear_model

from . import schema
from ._common import fit_once
from .base import REGRESSION, Algorithm, Report, TrainData


class LinearRegression(Algorithm):
    name = "linear_regression"
    title = gettext_lazy("Linear regression")
    description = gettext_lazy(
        "Ordinary least squares: the simplest regression baseline. Numeric features are standardised, so the "
        "weights are comparable."
    )
    task = REGRESSION
    scale = True
    schema = schema.hyperparameters(
        fit_intercept=schema.boolean(_("Fit intercept"), _("Whether to learn a constant term."), default=True),
        positive=schema.boolean(_("Positive weights"), _("Force every weight to be zero or more."), default=False),
    )

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = linear_model.LinearRegression(
            fit_intercept=params["fit_intercept"], positive=params["positive"], n_jobs=1
        )
        return fit_once(model, data, report)
