"""Multi-layer perceptron regressor, trained epoch by epoch."""

from typing import Any

from django.utils.translation import gettext_lazy
from sklearn import metrics, neural_network

from . import _mlp, schema
from .base import REGRESSION, Algorithm, Report, TrainData


class MLPRegressor(Algorithm):
    name = "mlp_regressor"
    title = gettext_lazy("Neural network regressor")
    description = gettext_lazy(
        "A multi-layer perceptron trained epoch by epoch, reporting the loss and the held-out error after each "
        "one. Numeric features are standardised."
    )
    task = REGRESSION
    scale = True
    schema = schema.hyperparameters(**_mlp.properties())

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = neural_network.MLPRegressor(**_mlp.arguments(params, data.seed))

        def validation(model: Any) -> dict[str, float]:
            predicted = model.predict(data.X_valid)
            return {
                "val_rmse": float(metrics.root_mean_squared_error(data.y_valid, predicted)),
                "val_mae": float(metrics.mean_absolute_error(data.y_valid, predicted)),
            }

        return _mlp.train_epochs(model, data, params, report, validation)
