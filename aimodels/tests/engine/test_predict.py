"""frame_of(): rows checked and typed against the signature; predict(): JSON-ready answers, the compiled path
held to the pipeline's own predictions."""

import json
import math
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline

from aimodels.algorithms import base
from aimodels.engine import predict, training
from aimodels.engine.predict import RowError
from aimodels.engine.preprocess import FrameColumns

from .frames import NUMBERS, Reports, blobs_frame, classes_frame, spec, values_frame

SIGNATURE = {
    "inputs": [
        {"name": "age", "type": "integer"},
        {"name": "income", "type": "float"},
        {"name": "price", "type": "decimal"},
        {"name": "vip", "type": "boolean"},
        {"name": "城市", "type": "string"},
        {"name": "tier", "type": "categorical"},
        {"name": "joined", "type": "date"},
        {"name": "seen", "type": "datetime", "time_zone": "Asia/Shanghai"},
        {"name": "at", "type": "datetime"},
    ],
    "target": {"name": "y", "type": "string"},
    "task": "classification",
    "classes": ["a", "b"],
}
ROW = {
    "age": 30,
    "income": 1.5,
    "price": 2,
    "vip": True,
    "城市": "北京",
    "tier": "金",
    "joined": "2024-02-29",
    "seen": "2024-01-01T08:00:00",
    "at": "2024-01-01T08:00:00+08:00",
}


def _naive(text: str) -> datetime:
    """A datetime without a zone, as a naive datetime column holds."""
    return datetime.fromisoformat(text)


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


def test_frame_of_types_each_column_as_in_training():
    frame = predict.frame_of([ROW, dict.fromkeys(ROW)], SIGNATURE)
    assert frame.schema == pl.Schema(
        {
            "age": pl.Int64,
            "income": pl.Float64,
            "price": pl.Float64,
            "vip": pl.Boolean,
            "城市": pl.String,
            "tier": pl.String,
            "joined": pl.Date,
            "seen": pl.Datetime("us", "Asia/Shanghai"),
            "at": pl.Datetime("us"),
        }
    )
    first = frame.row(0, named=True)
    assert {key: first[key] for key in ("age", "income", "price", "vip", "城市", "tier", "joined")} == {
        "age": 30,
        "income": 1.5,
        "price": 2.0,
        "vip": True,
        "城市": "北京",
        "tier": "金",
        "joined": date(2024, 2, 29),
    }
    # Without an offset a datetime is read in its column's zone; with one it is converted (to UTC if naive).
    assert frame["seen"].dt.epoch("s").to_list()[0] == 1704067200
    assert first["at"] == _naive("2024-01-01T00:00")
    assert frame.row(1) == (None,) * 9


def test_frame_of_accepts_whole_floats_and_offsets():
    frame = predict.frame_of(
        [{**ROW, "age": 31.0, "seen": "2024-01-01T00:00:00Z", "at": "2024-01-01T08:00:00"}], SIGNATURE
    )
    assert frame["age"].to_list() == [31]
    assert frame["seen"].dt.epoch("s").to_list() == [1704067200]
    assert frame["at"].to_list() == [_naive("2024-01-01T08:00")]


@pytest.mark.parametrize(
    ("change", "column", "message"),
    [
        ({"age": True}, "age", "Must be a whole number."),
        ({"age": 2.5}, "age", "Must be a whole number."),
        ({"age": "30"}, "age", "Must be a whole number."),
        ({"age": 2**63}, "age", "Out of range for a whole number."),
        ({"income": "1.5"}, "income", "Must be a number."),
        ({"income": False}, "income", "Must be a number."),
        ({"price": 10**400}, "price", "Out of range for a number."),
        ({"vip": 1}, "vip", "Must be true or false."),
        ({"城市": 3}, "城市", "Must be text."),
        ({"tier": ["金"]}, "tier", "Must be text."),
        ({"joined": "2024-02-30"}, "joined", "Must be a date as text, YYYY-MM-DD."),
        ({"joined": 20240229}, "joined", "Must be a date as text, YYYY-MM-DD."),
        ({"seen": "yesterday"}, "seen", "Must be a date and time as ISO 8601 text, e.g. 2024-05-01T08:30:00+08:00."),
        ({"at": 1704067200}, "at", "Must be a date and time as ISO 8601 text, e.g. 2024-05-01T08:30:00+08:00."),
        ({"agee": 30}, "agee", "Not an input of this model."),
    ],
)
def test_frame_of_errors_name_the_row_and_column(change, column, message):
    rows = [ROW, ROW, {**ROW, **change}]
    with pytest.raises(RowError) as caught:
        predict.frame_of(rows, SIGNATURE)
    assert (caught.value.row, caught.value.column, caught.value.message) == (2, column, message)


def test_frame_of_rejects_missing_inputs_and_rows_that_are_not_objects():
    partial = {key: value for key, value in ROW.items() if key != "vip"}
    with pytest.raises(RowError) as caught:
        predict.frame_of([partial], SIGNATURE)
    assert (caught.value.row, caught.value.column, caught.value.message) == (
        0,
        "vip",
        "Missing: give a value, or null.",
    )
    with pytest.raises(RowError) as caught:
        predict.frame_of([ROW, ["not", "a", "row"]], SIGNATURE)
    assert (caught.value.row, caught.value.column) == (1, "")
    # An unknown key is named before a missing one: it is usually the misspelt input.
    with pytest.raises(RowError) as caught:
        predict.frame_of([{**partial, "vipp": True}], SIGNATURE)
    assert caught.value.column == "vipp"


# --- predict ---------------------------------------------------------------------------------------------------


def _with_gaps(frame: pl.DataFrame) -> pl.DataFrame:
    """Nulls in a number and in the text column, at different rows."""
    x1 = frame["x1"].to_list()
    cities = frame["城市"].to_list() if "城市" in frame.columns else None
    for row in range(0, frame.height, 9):
        x1[row] = None
    if cities is not None:
        for row in range(4, frame.height, 11):
            cities[row] = None
        frame = frame.with_columns(城市=pl.Series(cities, dtype=pl.String))
    return frame.with_columns(x1=pl.Series(x1, dtype=pl.Float64))


CASES = [
    ("random_forest_classifier", classes_frame, "动物", {"n_estimators": 12}),
    ("hist_gradient_boosting_classifier", classes_frame, "动物", {"max_iter": 15}),
    ("logistic_regression", classes_frame, "动物", {}),
    ("mlp_classifier", classes_frame, "动物", {"hidden_layer_sizes": [8], "epochs": 5}),
    ("random_forest_regressor", values_frame, "价格", {"n_estimators": 12}),
    ("hist_gradient_boosting_regressor", values_frame, "价格", {"max_iter": 15}),
    ("ridge", values_frame, "价格", {}),
    ("linear_regression", values_frame, "价格", {}),
    ("mlp_regressor", values_frame, "价格", {"hidden_layer_sizes": [8], "epochs": 5}),
    ("kmeans", blobs_frame, None, {"n_clusters": 3}),
]


def test_every_built_in_algorithm_has_a_case():
    assert {case[0] for case in CASES} == set(base.registry())


@pytest.mark.parametrize(("name", "make", "target", "params"), CASES)
def test_compiled_predictions_equal_the_pipelines_own(name, make, target, params):
    frame = _with_gaps(make())
    features = [column for column in frame.columns if column != target]
    trained = training.train(frame, spec(name, target, features, hyperparameters=params), Reports())
    model, signature = trained.model, trained.signature
    assert predict._compiled(model) is not None

    rows = frame.select(features).head(40).to_dicts()
    rows[0] = dict.fromkeys(features)  # every input missing
    if "城市" in features:
        rows[1]["城市"] = "深圳"  # never seen in training
    rows[2]["x0"] = 1e6
    got = predict.predict(model, predict.frame_of(rows, signature), signature)
    typed = predict.frame_of(rows, signature)
    expected = model.predict(typed)
    if signature["task"] == "regression":
        assert got["predictions"] == pytest.approx(expected.tolist(), rel=1e-12, abs=1e-12)
    else:
        assert got["predictions"] == expected.tolist()
    assert json.loads(json.dumps(got, ensure_ascii=False)) == got
    if signature["task"] == "classification":
        proba = model.predict_proba(typed)
        np.testing.assert_allclose([list(row.values()) for row in got["probabilities"]], proba, rtol=0, atol=1e-12)
        assert all(list(row) == ["狗", "猫", "鸟"] for row in got["probabilities"])
        assert all(math.isclose(sum(row.values()), 1.0) for row in got["probabilities"])
        assert set(got["predictions"]) <= {"狗", "猫", "鸟"}
        best = [max(row, key=row.get) for row in got["probabilities"]]
        assert best == got["predictions"]
    else:
        assert "probabilities" not in got
        kind = float if signature["task"] == "regression" else int
        assert all(type(value) is kind for value in got["predictions"])


def test_classes_the_model_never_saw_get_probability_zero():
    frame = classes_frame(rows=60).with_columns(
        动物=pl.Series(["猫", "狗"] * 25 + ["鸟"] * 10),
        split=pl.Series(["train"] * 50 + ["test"] * 10),
    )
    trained = training.train(
        frame, spec("logistic_regression", "动物", NUMBERS, validation=None, split_column="split"), Reports()
    )
    assert trained.signature["classes"] == ["狗", "猫", "鸟"]
    rows = frame.select(NUMBERS).head(3).to_dicts()
    got = predict.predict(trained.model, predict.frame_of(rows, trained.signature), trained.signature)
    assert [row["鸟"] for row in got["probabilities"]] == [0.0, 0.0, 0.0]
    assert all(math.isclose(row["猫"] + row["狗"], 1.0) for row in got["probabilities"])
    assert trained.metrics["roc_auc"] is None  # the held-out rows hold only 鸟


def test_integer_and_boolean_classes_are_json_keys():
    frame = classes_frame(rows=90).with_columns(
        code=pl.col("动物").replace_strict({"猫": 10, "狗": 20, "鸟": 30}, return_dtype=pl.Int64),
        is_cat=pl.col("动物") == "猫",
    )
    for target, keys, kind in [("code", ["10", "20", "30"], int), ("is_cat", ["false", "true"], bool)]:
        trained = training.train(frame, spec("random_forest_classifier", target, NUMBERS), Reports())
        rows = frame.select(NUMBERS).head(4).to_dicts()
        got = predict.predict(trained.model, predict.frame_of(rows, trained.signature), trained.signature)
        assert all(list(row) == keys for row in got["probabilities"])
        assert all(type(value) is kind for value in got["predictions"])


def test_no_rows():
    signature = {"inputs": [{"name": "x0", "type": "float"}], "task": "classification", "classes": ["a", "b"]}
    assert predict.predict(None, predict.frame_of([], signature), signature) == {
        "predictions": [],
        "probabilities": [],
    }
    assert predict.predict(None, pl.DataFrame({"x0": []}), {**signature, "task": "regression"}) == {"predictions": []}


def test_other_pipelines_use_their_own_predict():
    frame = values_frame(rows=30)
    model = Pipeline([("columns", FrameColumns({"x0": "number", "x1": "number"})), ("model", LinearRegression())])
    model.fit(frame, frame["价格"].to_numpy())
    signature = {"inputs": [{"name": "x0", "type": "float"}, {"name": "x1", "type": "float"}], "task": "regression"}
    assert predict._compiled(model) is None
    rows = frame.select("x0", "x1").head(5).to_dicts()
    got = predict.predict(model, predict.frame_of(rows, signature), signature)
    assert got["predictions"] == pytest.approx(model.predict(frame.head(5)).tolist())


def test_a_tie_at_the_top_asks_predict():
    class Tied:
        classes_ = np.asarray(["a", "b"], dtype=object)

        def predict(self, X):
            return np.asarray(["b"] * len(X), dtype=object)

    proba = np.asarray([[0.5, 0.5], [0.9, 0.1]])
    assert predict.argmax_labels(Tied(), np.zeros((2, 1)), proba).tolist() == ["b", "b"]
    assert predict.argmax_labels(Tied(), np.zeros((2, 1)), np.asarray([[0.4, 0.6], [0.9, 0.1]])).tolist() == ["b", "a"]
