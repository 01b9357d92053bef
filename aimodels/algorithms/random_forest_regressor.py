"""Random forest regressor: many decorrelated regression trees, averaged."""

from typing import Any

from django.utils.translation import gettext_lazy
from sklearn import ensemble

from . import schema
from ._common import grow_forest
from ._trees import forest, forest_arguments
from .base import REGRESSION, Algorithm, Report, TrainData


class RandomForestRegressor(Algorithm):
    name = "random_forest_regressor"
    title = gettext_lazy("Random forest regressor")
    description = gettext_lazy(
        "Regression trees grown on random samples of the rows and features, averaged. Robust with little "
        "tuning; reports feature importances."
    )
    task = REGRESSION
    # Absolute error and Poisson splits cost far more per split; squared error is the one that scales.
    schema = schema.hyperparameters(**forest(criteria=["squared_error", "friedman_mse"], max_features=1.0))

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = ensemble.RandomForestRegressor(**forest_arguments(params), random_state=data.seed)
        return grow_forest(model, data, report)
