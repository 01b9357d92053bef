"""Random forest classifier: many decorrelated decision trees voting."""

from typing import Any

from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_noop as _
from sklearn import ensemble

from . import schema
from ._common import grow_forest
from ._trees import forest, forest_arguments
from .base import CLASSIFICATION, Algorithm, Report, TrainData


class RandomForestClassifier(Algorithm):
    name = "random_forest_classifier"
    title = gettext_lazy("Random forest classifier")
    description = gettext_lazy(
        "Decision trees grown on random samples of the rows and features, voting on the class. Robust with "
        "little tuning; reports feature importances."
    )
    task = CLASSIFICATION
    schema = schema.hyperparameters(
        **forest(criteria=["gini", "entropy", "log_loss"], max_features="sqrt"),
        class_weight=schema.choice(
            _("Class weights"),
            _(
                '"balanced" weighs classes inversely to their frequency ("balanced_subsample": in each tree\'s '
                "sample); null weighs every row the same."
            ),
            default=None,
            choices=[None, "balanced", "balanced_subsample"],
        ),
    )

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = ensemble.RandomForestClassifier(
            **forest_arguments(params), class_weight=params["class_weight"], random_state=data.seed
        )
        return grow_forest(model, data, report)
