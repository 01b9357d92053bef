"""Histogram gradient boosting regressor (LightGBM-style boosted trees)."""

from typing import Any

from django.utils.translation import gettext_lazy
from sklearn import ensemble

from . import schema
from ._common import boost
from ._trees import boosting, boosting_arguments
from .base import REGRESSION, Algorithm, Report, TrainData


class HistGradientBoostingRegressor(Algorithm):
    name = "hist_gradient_boosting_regressor"
    title = gettext_lazy("Gradient boosting regressor")
    description = gettext_lazy(
        "Boosted regression trees on binned features, each correcting the ones before. Usually the most "
        "accurate on tables; fast on many rows. The Poisson loss needs a target of zero or more."
    )
    task = REGRESSION
    schema = schema.hyperparameters(**boosting(losses=["squared_error", "absolute_error", "poisson"]))

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = ensemble.HistGradientBoostingRegressor(**boosting_arguments(params), random_state=data.seed)
        return boost(model, data, report)
