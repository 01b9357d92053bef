"""Artifacts: a skops round trip predicts the same; anything outside the allowlist is refused before it is built."""

import io
import os
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from aimodels.engine import artifacts, errors, training

from .frames import Reports, blobs_frame, classes_frame, spec, values_frame

BUILT = []


class Payload:
    """Not in the allowlist; records it if skops ever builds it."""

    def __setstate__(self, state):
        BUILT.append(state)
        self.__dict__.update(state)


@pytest.mark.parametrize(
    ("name", "frame", "target", "params"),
    [
        ("random_forest_classifier", classes_frame, "动物", {"n_estimators": 5}),
        ("hist_gradient_boosting_classifier", classes_frame, "动物", {"max_iter": 10}),
        ("mlp_classifier", classes_frame, "动物", {"hidden_layer_sizes": [4], "epochs": 3}),
        ("logistic_regression", classes_frame, "动物", {}),
        ("random_forest_regressor", values_frame, "价格", {"n_estimators": 5}),
        ("hist_gradient_boosting_regressor", values_frame, "价格", {"max_iter": 10}),
        ("mlp_regressor", values_frame, "价格", {"hidden_layer_sizes": [4], "epochs": 3}),
        ("ridge", values_frame, "价格", {}),
        ("linear_regression", values_frame, "价格", {}),
        ("kmeans", blobs_frame, None, {"n_clusters": 3}),
    ],
)
def test_round_trip_predicts_the_same(name, frame, target, params):
    data = frame()
    features = [column for column in data.columns if column != target]
    trained = training.train(data, spec(name, target, features, hyperparameters=params), Reports())
    blob = artifacts.dumps(trained.model)
    assert {info.compress_type for info in zipfile.ZipFile(io.BytesIO(blob)).infolist()} == {zipfile.ZIP_DEFLATED}
    loaded = artifacts.loads(blob)
    assert loaded is not trained.model
    assert np.array_equal(loaded.predict(data), trained.model.predict(data))
    if hasattr(trained.model, "predict_proba"):
        assert np.array_equal(loaded.predict_proba(data), trained.model.predict_proba(data))


def test_a_function_outside_the_allowlist_is_refused():
    blob = sio.dumps(Pipeline([("scale", StandardScaler()), ("run", FunctionTransformer(func=os.system))]))
    with pytest.raises(artifacts.ArtifactUntrusted) as caught:
        artifacts.loads(blob)
    assert caught.value.code == errors.ARTIFACT_UNTRUSTED
    assert caught.value.details == {"types": [f"{os.system.__module__}.system"]}


def test_a_class_outside_the_allowlist_is_refused_before_it_is_built():
    payload = Payload()
    payload.__dict__["command"] = "rm -rf /"
    blob = sio.dumps({"model": StandardScaler(), "extra": payload})
    with pytest.raises(artifacts.ArtifactUntrusted) as caught:
        artifacts.loads(blob)
    assert caught.value.details["types"] == [f"{__name__}.Payload"]
    assert BUILT == []
    assert artifacts.loads(blob, allow=(__name__,))["extra"].command == "rm -rf /"
    assert BUILT == [{"command": "rm -rf /"}]


def test_bytes_that_are_not_an_artifact_are_refused():
    with pytest.raises(artifacts.ArtifactUntrusted) as caught:
        artifacts.loads(b"not a zip file")
    assert caught.value.details == {"types": []}


@pytest.mark.parametrize(
    ("name", "allowed"),
    [
        ("sklearn.tree._tree.Tree", True),
        ("numpy.dtype", True),
        ("scipy.sparse._csr.csr_matrix", True),
        ("aimodels.engine.preprocess.FrameColumns", True),
        ("sklearnx.Tree", False),
        ("numpyevil.load", False),
        ("aimodels.engine.training.Spec", False),
        ("builtins.eval", False),
        ("posix.system", False),
    ],
)
def test_allowlist(name, allowed):
    assert artifacts.allowed(name) is allowed
