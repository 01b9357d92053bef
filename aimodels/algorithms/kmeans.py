"""k-means clustering."""

from typing import Any

from django.utils.translation import gettext_lazy
from django.utils.translation import gettext_noop as _
from sklearn import cluster

from . import schema
from ._common import fit_once
from .base import CLUSTERING, Algorithm, Report, TrainData


class KMeans(Algorithm):
    name = "kmeans"
    title = gettext_lazy("k-means")
    description = gettext_lazy(
        "Splits the rows into k clusters around their means. Numeric features are standardised; predictions "
        "are cluster numbers from 0."
    )
    task = CLUSTERING
    scale = True
    schema = schema.hyperparameters(
        n_clusters=schema.integer(
            _("Number of clusters"), _("How many clusters (k) to find."), default=8, minimum=2, maximum=100
        ),
        init=schema.choice(
            _("Initialisation"),
            _('"k-means++" spreads the first centres apart; "random" picks random rows.'),
            default="k-means++",
            choices=["k-means++", "random"],
        ),
        n_init=schema.integer(
            _("Runs"),
            _("Runs from different starting centres; the best one is kept."),
            default=1,
            minimum=1,
            maximum=100,
        ),
        max_iter=schema.integer(
            _("Maximum iterations"), _("Iterations of one run at most."), default=300, minimum=1, maximum=10000
        ),
        tol=schema.number(
            _("Tolerance"),
            _("A run stops when the centres move less than this."),
            default=1e-4,
            minimum=0.0,
            maximum=1.0,
        ),
    )

    def train(self, data: TrainData, params: dict[str, Any], report: Report) -> Any:
        model = cluster.KMeans(
            n_clusters=params["n_clusters"],
            init=params["init"],
            n_init=params["n_init"],
            max_iter=params["max_iter"],
            tol=params["tol"],
            random_state=data.seed,
        )
        return fit_once(model, data, report)
