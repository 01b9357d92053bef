"""Histogram gradient boosting classifier (LightGBM-style boosted trees)."""

from typing import Any

from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_noop as _
from sklearn import ensemble

from . import schema
from ._common import boost
from ._trees import boosting, boosting_arguments
from .base import CLASSIFICATION, Algorithm, Report, TrainData


class HistGradientBoostingClassifier(Algorithm):
    name = "hist_gradient_boosting_classifier"
    title = gettext_lazy("Gradient boosting classifier")
    description = gettext_lazy(
        "Boosted decision trees on binned features, each correcting the ones before. Usually the most accurate "
        "on tables; fast on many rows."
    )
    task = CLASSIFICATION
    schema = schema.hyperparameters(
        **boosting(),
        class_weight=schema.choice(
            _("Class weights"),
            _('"balanced" weighs classes inversely to their frequency; null weighs every row the same.'),
            default=None,
            choices=[None, "balanced"],
        ),
    )

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = ensemble.HistGradientBoostingClassifier(
            **boosting_arguments(params), class_weight=params["class_weight"], random_state=data.seed
        )
        return boost(model, data, report)
