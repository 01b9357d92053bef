"""Multi-layer perceptron classifier, trained epoch by epoch."""

from typing import Any

from django.utils.translation import gettext_lazy
from sklearn import metrics, neural_network

from . import _mlp, schema
from .base import CLASSIFICATION, Algorithm, Report, TrainData


class MLPClassifier(Algorithm):
    name = "mlp_classifier"
    title = gettext_lazy("Neural network classifier")
    description = gettext_lazy(
        "A multi-layer perceptron trained epoch by epoch, reporting the loss and the held-out accuracy after "
        "each one. Numeric features are standardised."
    )
    task = CLASSIFICATION
    scale = True
    schema = schema.hyperparameters(**_mlp.properties())

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = neural_network.MLPClassifier(**_mlp.arguments(params, data.seed))

        def validation(model: Any) -> dict[str, float]:
            proba = model.predict_proba(data.X_valid)
            predicted = model.classes_[proba.argmax(axis=1)]
            return {
                "val_accuracy": float(metrics.accuracy_score(data.y_valid, predicted)),
                "val_loss": float(metrics.log_loss(data.y_valid, proba, labels=model.classes_)),
            }

        return _mlp.train_epochs(model, data, params, report, validation)
