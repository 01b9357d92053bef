"""What the two multi-layer perceptrons share: their hyperparameters and the epoch loop."""

import math
from collections.abc import Callable
from typing import Any

from django.utils.translation import gettext as gettext
from django.utils.translation import gettext_noop as _

from . import schema
from .base import Report, TrainData


def properties() -> dict[str, dict[str, Any]]:
    return {
        "hidden_layer_sizes": {
            "type": "array",
            "items": {"type": "integer", "minimum": 1, "maximum": 1024},
            "minItems": 1,
            "maxItems": 5,
            "title": _("Hidden layers"),
            "description": _("Neurons in each hidden layer, from the input side (1 to 5 layers of 1 to 1024)."),
            "default": [100],
        },
        "activation": schema.choice(
            _("Activation"),
            _("The hidden layers' activation function."),
            default="relu",
            choices=["relu", "tanh", "logistic", "identity"],
        ),
        "solver": schema.choice(
            _("Optimiser"),
            _('"adam" adapts the step size; "sgd" is plain stochastic gradient descent.'),
            default="adam",
            choices=["adam", "sgd"],
        ),
        "alpha": schema.number(
            _("L2 penalty"),
            _("Strength of the L2 penalty on the weights."),
            default=1e-4,
            minimum=0.0,
            maximum=10.0,
        ),
        "batch_size": schema.integer(
            _("Batch size"),
            _("Rows per gradient step; null uses min(200, training rows)."),
            default=None,
            minimum=1,
            maximum=4096,
            nullable=True,
        ),
        "learning_rate_init": schema.number(
            _("Learning rate"), _("Step size of the optimiser."), default=1e-3, minimum=1e-6, maximum=1.0
        ),
        "epochs": schema.integer(
            _("Epochs"), _("Passes over the training rows at most."), default=200, minimum=1, maximum=1000
        ),
        "n_iter_no_change": schema.integer(
            _("Patience"),
            _("Stop after this many epochs in a row in which the training loss improved by less than the tolerance."),
            default=10,
            minimum=1,
            maximum=1000,
        ),
        "tol": schema.number(
            _("Tolerance"),
            _("The smallest improvement of the training loss that counts."),
            default=1e-4,
            minimum=0.0,
            maximum=1.0,
        ),
    }


def arguments(params: dict[str, Any], seed: int) -> dict[str, Any]:
    return {
        "hidden_layer_sizes": tuple(params["hidden_layer_sizes"]),
        "activation": params["activation"],
        "solver": params["solver"],
        "alpha": params["alpha"],
        "batch_size": "auto" if params["batch_size"] is None else params["batch_size"],
        "learning_rate_init": params["learning_rate_init"],
        "random_state": seed,
    }


def train_epochs(
    model: Any,
    data: TrainData,
    params: dict[str, Any],
    report: Report,
    validation: Callable[[Any], dict[str, float]],
) -> Any:
    """One partial_fit per epoch, reporting the epoch's training loss and `validation(model)`'s metrics on the
    held-out rows. Stops early by scikit-learn's own rule for fit(): more than `n_iter_no_change` epochs in a row
    whose loss is not `tol` below the best loss so far."""
    epochs, patience, tol = params["epochs"], params["n_iter_no_change"], params["tol"]
    extra = {} if data.classes is None else {"classes": data.classes}
    best, stale = math.inf, 0
    report(step=0, total=epochs)
    for epoch in range(1, epochs + 1):
        model.partial_fit(data.X_train, data.y_train, **extra)
        extra = {}
        loss = float(model.loss_)
        if not math.isfinite(loss):
            raise ValueError(gettext("The training loss is no longer a number; try a smaller learning rate."))
        report(step=epoch, total=epochs, metrics={"loss": loss, **validation(model)})
        stale = stale + 1 if loss > best - tol else 0
        best = min(best, loss)
        if stale > patience:
            break
    return model
