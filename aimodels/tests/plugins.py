"""Algorithms for tests only, registered where settings.AIMODELS_PLUGINS names this module (the real-worker
tests pass it to their worker): one that steps and reports, one that never reports (it cannot be stopped
cooperatively)."""

import time
from typing import Any

from sklearn.linear_model import LogisticRegression

from aimodels.algorithms import base


class Steps(base.Algorithm):
    name = "test_steps"
    title = "Test: steps"
    task = base.CLASSIFICATION
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "steps": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 5},
            "pause": {"type": "number", "minimum": 0, "maximum": 10, "default": 0},
        },
    }

    def train(self, data: base.TrainData, params: dict[str, Any], report: base.Report) -> Any:
        for step in range(1, params["steps"] + 1):
            time.sleep(params["pause"])
            report(step=step, total=params["steps"], metrics={"loss": 1.0 / step})
        return LogisticRegression().fit(data.X_train, data.y_train)


class Sleeps(base.Algorithm):
    """Sleeps in one call and never reports: only a revoke or the process's end stops it."""

    name = "test_sleeps"
    title = "Test: sleeps"
    task = base.CLASSIFICATION
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 600, "default": 60}},
    }

    def train(self, data: base.TrainData, params: dict[str, Any], report: base.Report) -> Any:
        time.sleep(params["seconds"])
        return LogisticRegression().fit(data.X_train, data.y_train)
