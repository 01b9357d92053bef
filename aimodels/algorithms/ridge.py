"""Ridge regression: least squares with an L2 penalty on the weights."""

from typing import Any

from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_noop as _
from sklearn import linear_model

from . import schema
from ._common import fit_once
from .base import REGRESSION, Algorithm, Report, TrainData


class Ridge(Algorithm):
    name = "ridge"
    title = gettext_lazy("Ridge regression")
    description = gettext_lazy(
        "A linear model with an L2 penalty that keeps the weights small; steadier than plain least squares when "
        "features are correlated. Numeric features are standardised."
    )
    task = REGRESSION
    scale = True
    schema = schema.hyperparameters(
        alpha=schema.number(
            _("Regularisation strength"),
            _("Larger values shrink the weights more."),
            default=1.0,
            minimum=0.0,
            maximum=1e6,
        ),
        fit_intercept=schema.boolean(_("Fit intercept"), _("Whether to learn a constant term."), default=True),
    )

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = linear_model.Ridge(alpha=params["alpha"], fit_intercept=params["fit_intercept"], random_state=data.seed)
        return fit_once(model, data, report)
