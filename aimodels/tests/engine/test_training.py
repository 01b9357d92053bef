"""train(): every built-in algorithm against scikit-learn computed directly on the same split, progress and
stopping, the two ways of splitting, and the engine's errors."""

import math
from datetime import date, datetime

import numpy as np
import polars as pl
import pytest
from sklearn import metrics as sk
from sklearn.cluster import KMeans
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from aimodels.algorithms import base
from aimodels.engine import errors, training
from aimodels.engine import spec as spec_module
from aimodels.engine.errors import EngineError

from .frames import CITIES, NUMBERS, SEED, Reports, blobs_frame, classes_frame, matrices, spec, split, values_frame


@pytest.fixture(autouse=True)
def _english():
    """Messages are checked in English (the default language is zh-hans)."""
    from django.utils import translation

    with translation.override("en"):
        yield


def _epochs(model, X, y, *, epochs, classes=None, tol=1e-4, patience=10):
    """The MLP plugins' loop written out: one partial_fit per epoch, scikit-learn's no-improvement rule."""
    best, stale = math.inf, 0
    for _ in range(epochs):
        if classes is None:
            model.partial_fit(X, y)
        else:
            model.partial_fit(X, y, classes=classes)
        stale = stale + 1 if model.loss_ > best - tol else 0
        best = min(best, model.loss_)
        if stale > patience:
            break
    return model


MLP = {"hidden_layer_sizes": [16], "epochs": 30, "learning_rate_init": 0.01}

# name: (hyperparameters, the same estimator built and fitted directly: fit(X, y, classes) -> estimator)
CASES = {
    "logistic_regression": ({}, lambda X, y, c: LogisticRegression(max_iter=1000, random_state=SEED).fit(X, y)),
    "random_forest_classifier": (
        {"n_estimators": 30},
        lambda X, y, c: RandomForestClassifier(n_estimators=30, n_jobs=1, random_state=SEED).fit(X, y),
    ),
    "hist_gradient_boosting_classifier": (
        {"max_iter": 30},
        lambda X, y, c: HistGradientBoostingClassifier(max_iter=30, random_state=SEED).fit(X, y),
    ),
    "mlp_classifier": (
        MLP,
        lambda X, y, c: _epochs(
            MLPClassifier((16,), learning_rate_init=0.01, random_state=SEED), X, y, epochs=30, classes=c
        ),
    ),
    "random_forest_regressor": (
        {"n_estimators": 30},
        lambda X, y, c: RandomForestRegressor(n_estimators=30, n_jobs=1, random_state=SEED).fit(X, y),
    ),
    "hist_gradient_boosting_regressor": (
        {"max_iter": 30},
        lambda X, y, c: HistGradientBoostingRegressor(max_iter=30, random_state=SEED).fit(X, y),
    ),
    "ridge": ({}, lambda X, y, c: Ridge(random_state=SEED).fit(X, y)),
    "linear_regression": ({}, lambda X, y, c: LinearRegression().fit(X, y)),
    "mlp_regressor": (
        MLP,
        lambda X, y, c: _epochs(
            MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=SEED), X, y, epochs=30
        ),
    ),
    "kmeans": ({"n_clusters": 3}, lambda X, y, c: KMeans(n_clusters=3, n_init=1, random_state=SEED).fit(X)),
}


def test_every_built_in_algorithm_has_a_case():
    assert set(CASES) == set(base.registry())


@pytest.mark.parametrize("name", sorted(CASES))
def test_metrics_equal_scikit_learn_on_the_same_split(name):
    algorithm = base.get(name)
    params, fit = CASES[name]
    task = algorithm.task
    if task == base.CLASSIFICATION:
        frame, target, texts = classes_frame(), "动物", ["城市"]
        y = np.asarray(frame[target].to_list(), dtype=object)
        train, valid = split(frame.height, y)
    elif task == base.REGRESSION:
        frame, target, texts = values_frame(), "价格", ["城市"]
        y = frame[target].to_numpy()
        train, valid = split(frame.height, None)
    else:
        frame, target, texts, y = blobs_frame(), None, [], None
        train, valid = split(frame.height, None)
    numbers = [name for name in NUMBERS if name in frame.columns]
    features = [*numbers, *texts]

    trained = training.train(frame, spec(name, target, features, hyperparameters=params), Reports())

    X_train, X_valid = matrices(frame, numbers, texts, train, valid, scale=algorithm.scale)
    classes = None if y is None or task != base.CLASSIFICATION else np.unique(y)
    with threadpool_limits(limits=1):
        direct = fit(X_train, None if y is None else y[train], classes)
    assert (trained.train_rows, trained.valid_rows) == (len(train), len(valid))
    got = trained.metrics
    predicted = direct.predict(X_valid)
    assert list(trained.model.predict(frame[valid])) == pytest.approx(list(predicted))

    if task == base.CLASSIFICATION:
        y_valid = y[valid]
        proba = direct.predict_proba(X_valid)
        assert got["accuracy"] == pytest.approx(sk.accuracy_score(y_valid, predicted))
        for average in ("macro", "weighted"):
            p, r, f, _ = sk.precision_recall_fscore_support(y_valid, predicted, average=average, zero_division=0)
            assert got[f"precision_{average}"] == pytest.approx(p)
            assert got[f"recall_{average}"] == pytest.approx(r)
            assert got[f"f1_{average}"] == pytest.approx(f)
        assert got["roc_auc"] == pytest.approx(
            sk.roc_auc_score(y_valid, proba, multi_class="ovr", average="macro", labels=classes)
        )
        assert got["log_loss"] == pytest.approx(sk.log_loss(y_valid, proba, labels=classes))
        assert got["confusion_matrix"] == {
            "labels": ["狗", "猫", "鸟"],
            "matrix": sk.confusion_matrix(y_valid, predicted, labels=classes).tolist(),
        }
        assert trained.signature["classes"] == ["狗", "猫", "鸟"]
    elif task == base.REGRESSION:
        y_valid = y[valid]
        assert got == pytest.approx(
            {
                "rmse": math.sqrt(sk.mean_squared_error(y_valid, predicted)),
                "mae": sk.mean_absolute_error(y_valid, predicted),
                "r2": sk.r2_score(y_valid, predicted),
            }
        )
    else:
        assert got["silhouette"] == pytest.approx(sk.silhouette_score(X_valid, predicted))
        assert got["inertia"] == pytest.approx(-direct.score(X_valid))
        assert got["cluster_sizes"] == np.bincount(predicted, minlength=3).tolist()

    names = [*numbers, *(f"城市_{city}" for city in sorted(CITIES) if texts)]
    if hasattr(direct, "feature_importances_") or hasattr(direct, "coef_"):
        values = getattr(direct, "feature_importances_", None)
        if values is None:
            coef = np.abs(direct.coef_)
            values = coef.mean(axis=0) if coef.ndim == 2 else coef
        importances = trained.feature_importances
        assert [item["importance"] for item in importances] == sorted(
            (item["importance"] for item in importances), reverse=True
        )
        assert {item["feature"]: item["importance"] for item in importances} == pytest.approx(
            dict(zip(names, values, strict=True))
        )
    else:
        assert trained.feature_importances is None
    assert trained.model.named_steps["model"].get_params().get("n_jobs") in (None, 1)


def test_json_ready_metrics_and_signature():
    import json

    trained = training.train(classes_frame(), spec("logistic_regression", "动物", [*NUMBERS, "城市"]), Reports())
    assert json.loads(json.dumps(trained.metrics, ensure_ascii=False)) == trained.metrics
    assert trained.signature == {
        "inputs": [*({"name": name, "type": "float"} for name in NUMBERS), {"name": "城市", "type": "string"}],
        "target": {"name": "动物", "type": "string"},
        "task": "classification",
        "classes": ["狗", "猫", "鸟"],
    }


# --- progress and stopping -------------------------------------------------------------------------------------


def test_mlp_reports_each_epoch_with_its_loss_and_validation_metrics():
    reports = Reports()
    params = {"hidden_layer_sizes": [8], "epochs": 6, "tol": 0.0, "n_iter_no_change": 1000}
    training.train(classes_frame(), spec("mlp_classifier", "动物", NUMBERS, hyperparameters=params), reports)

    assert [call["step"] for call in reports.steps] == [0, 1, 2, 3, 4, 5, 6]
    assert {call["total"] for call in reports.steps} == {6}
    epochs = reports.steps[1:]
    assert all(set(call["metrics"]) == {"loss", "val_accuracy", "val_loss"} for call in epochs)
    assert all(0 <= call["metrics"]["val_accuracy"] <= 1 for call in epochs)
    losses = [call["metrics"]["loss"] for call in epochs]
    assert losses[-1] < losses[0]
    assert reports.stages == [
        "Splitting the rows",
        "Preparing the features",
        "Training",
        "Evaluating on the held-out rows",
    ]


def test_mlp_regressor_reports_validation_errors_and_stops_when_the_loss_stalls():
    reports = Reports()
    params = {"hidden_layer_sizes": [4], "epochs": 500, "tol": 1.0, "n_iter_no_change": 2, "learning_rate_init": 1e-6}
    training.train(values_frame(), spec("mlp_regressor", "价格", NUMBERS, hyperparameters=params), reports)
    # Steps too small to gain 1.0 of loss: the first epoch sets the best loss, three more without improvement stop.
    assert [call["step"] for call in reports.steps] == [0, 1, 2, 3, 4]
    assert set(reports.steps[-1]["metrics"]) == {"loss", "val_rmse", "val_mae"}


def test_stop_raised_by_report_propagates_and_ends_training():
    reports = Reports(stop_at=3, stop=base.Stop("cancelled"))
    params = {"hidden_layer_sizes": [8], "epochs": 50}
    with pytest.raises(base.Stop):
        training.train(classes_frame(), spec("mlp_classifier", "动物", NUMBERS, hyperparameters=params), reports)
    assert [call["step"] for call in reports.steps] == [0, 1, 2, 3]


def test_stop_at_a_stage_propagates():
    class StopAtTraining(Reports):
        def __call__(self, **kwargs):
            super().__call__(**kwargs)
            if kwargs.get("stage") == "Training":
                raise base.Stop("time_limit")

    reports = StopAtTraining()
    with pytest.raises(base.Stop):
        training.train(classes_frame(), spec("logistic_regression", "动物", NUMBERS), reports)
    assert reports.steps == []


def test_random_forest_grows_in_chunks_with_the_trees_of_a_single_fit():
    reports = Reports()
    trained = training.train(
        classes_frame(),
        spec("random_forest_classifier", "动物", NUMBERS, hyperparameters={"n_estimators": 45}),
        reports,
    )
    assert [call["step"] for call in reports.steps] == [0, *range(3, 45, 3), 45]
    forest = trained.model.named_steps["model"]
    assert len(forest.estimators_) == 45 and not forest.warm_start


def test_boosting_reports_each_iteration_and_early_stopping_matches_a_single_fit():
    frame = classes_frame(rows=400)
    params = {"max_iter": 200, "early_stopping": True, "n_iter_no_change": 2, "learning_rate": 0.5}
    reports = Reports()
    trained = training.train(
        frame, spec("hist_gradient_boosting_classifier", "动物", NUMBERS, hyperparameters=params), reports
    )
    model = trained.model.named_steps["model"]
    y = np.asarray(frame["动物"].to_list(), dtype=object)
    train, _ = split(frame.height, y)
    X_train, _ = matrices(frame, NUMBERS, [], train, train, scale=False)
    with threadpool_limits(limits=1):
        direct = HistGradientBoostingClassifier(
            max_iter=200, early_stopping=True, n_iter_no_change=2, learning_rate=0.5, random_state=SEED
        ).fit(X_train, y[train])
    assert model.n_iter_ == direct.n_iter_ < 200
    assert model.verbose == 0
    assert np.array_equal(model.predict_proba(X_train), direct.predict_proba(X_train))
    steps = [call["step"] for call in reports.steps if not call["metrics"]]
    assert steps == [*range(direct.n_iter_), direct.n_iter_]
    assert {call["total"] for call in reports.steps} == {200}
    losses = [call for call in reports.steps if call["metrics"]]
    assert [call["step"] for call in losses] == list(range(1, direct.n_iter_ + 1))
    assert [call["metrics"]["loss"] for call in losses] == pytest.approx(-direct.train_score_[1:], abs=1e-5)
    assert [call["metrics"]["early_stopping_loss"] for call in losses] == pytest.approx(
        -direct.validation_score_[1:], abs=1e-5
    )


def test_stop_during_boosting_propagates():
    reports = Reports(stop_at=5, stop=base.Stop("cancelled"))
    with pytest.raises(base.Stop):
        training.train(classes_frame(), spec("hist_gradient_boosting_classifier", "动物", NUMBERS), reports)
    assert [call["step"] for call in reports.steps] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("name", ["logistic_regression", "ridge", "linear_regression", "kmeans"])
def test_one_step_algorithms_report_start_and_end(name):
    task = base.get(name).task
    frame = {base.CLASSIFICATION: classes_frame, base.REGRESSION: values_frame}.get(task, blobs_frame)()
    target = {base.CLASSIFICATION: "动物", base.REGRESSION: "价格"}.get(task)
    reports = Reports()
    training.train(frame, spec(name, target, NUMBERS[:3]), reports)
    assert [(call["step"], call["total"]) for call in reports.steps] == [(0, 1), (1, 1)]


# --- rows ------------------------------------------------------------------------------------------------------


def test_split_column_picks_train_and_test_rows_and_ignores_others():
    frame = values_frame(rows=120)
    labels = np.asarray(["train", "test", "train", "other"] * 30, dtype=object)
    labels[5] = None
    frame = frame.with_columns(split=pl.Series(labels.tolist(), dtype=pl.String))
    trained = training.train(frame, spec("ridge", "价格", NUMBERS, validation=None, split_column="split"), Reports())
    train = np.flatnonzero(labels == "train")
    valid = np.flatnonzero(labels == "test")
    assert (trained.train_rows, trained.valid_rows) == (len(train), len(valid)) == (60, 29)
    X_train, X_valid = matrices(frame, NUMBERS, [], train, valid, scale=True)
    y = frame["价格"].to_numpy()
    predicted = Ridge(random_state=SEED).fit(X_train, y[train]).predict(X_valid)
    assert trained.metrics["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(y[valid], predicted)))
    assert [entry["name"] for entry in trained.signature["inputs"]] == NUMBERS


def test_split_column_may_be_categorical():
    frame = values_frame(rows=40).with_columns(
        split=pl.Series(["train", "train", "train", "test"] * 10, dtype=pl.Categorical)
    )
    trained = training.train(frame, spec("ridge", "价格", NUMBERS, validation=None, split_column="split"), Reports())
    assert (trained.train_rows, trained.valid_rows) == (30, 10)


def test_rows_without_a_target_are_dropped():
    frame = classes_frame(rows=120)
    animals = frame["动物"].to_list()
    for row in range(0, 120, 7):
        animals[row] = None
    frame = frame.with_columns(动物=pl.Series(animals, dtype=pl.String))
    trained = training.train(frame, spec("logistic_regression", "动物", NUMBERS), Reports())
    kept = 120 - len(range(0, 120, 7))
    assert trained.train_rows + trained.valid_rows == kept
    assert trained.valid_rows == math.ceil(0.25 * kept)
    assert trained.signature["classes"] == ["狗", "猫", "鸟"]


def test_float_targets_drop_null_nan_and_infinite_rows():
    frame = values_frame(rows=100)
    prices = frame["价格"].to_list()
    prices[0], prices[1], prices[2] = None, float("nan"), float("inf")
    frame = frame.with_columns(价格=pl.Series(prices, dtype=pl.Float64))
    trained = training.train(frame, spec("ridge", "价格", NUMBERS), Reports())
    assert trained.train_rows + trained.valid_rows == 97
    assert math.isfinite(trained.metrics["rmse"])


def test_integer_and_boolean_classes_stay_as_they_are():
    frame = classes_frame(rows=90)
    codes = frame.with_columns(
        code=pl.col("动物").replace_strict({"猫": 10, "狗": 20, "鸟": 30}, return_dtype=pl.Int64),
        is_cat=pl.col("动物") == "猫",
    )
    by_code = training.train(codes, spec("logistic_regression", "code", NUMBERS), Reports())
    assert by_code.signature["classes"] == [10, 20, 30]
    assert by_code.metrics["confusion_matrix"]["labels"] == [10, 20, 30]
    assert by_code.signature["target"] == {"name": "code", "type": "integer"}
    by_flag = training.train(codes, spec("logistic_regression", "is_cat", NUMBERS), Reports())
    assert by_flag.signature["classes"] == [False, True]
    assert isinstance(by_flag.metrics["roc_auc"], float)


def test_small_classes_split_without_stratifying():
    # One row of "鸟": stratifying is impossible, the split is a plain shuffled one.
    frame = classes_frame(rows=60).with_columns(动物=pl.Series(["猫", "狗"] * 29 + ["鸟", "猫"], dtype=pl.String))
    trained = training.train(frame, spec("logistic_regression", "动物", NUMBERS), Reports())
    train, valid = split(60, None)
    assert (trained.train_rows, trained.valid_rows) == (len(train), len(valid))


def test_dates_and_datetimes_are_seconds_since_the_epoch():
    frame = pl.DataFrame(
        {
            "day": [date(1970, 1, 2), date(2024, 1, 1), date(2024, 1, 3)] * 10,
            "at": pl.Series(
                [datetime.fromisoformat(text) for text in ("2024-01-01T08:00", "1970-01-01T00:00", "2024-01-01")] * 10,
                dtype=pl.Datetime("ms"),
            ).dt.replace_time_zone("Asia/Shanghai"),
            "y": [float(i) for i in range(30)],
        }
    )
    params = {"n_estimators": 2}
    trained = training.train(
        frame, spec("random_forest_regressor", "y", ["day", "at"], hyperparameters=params), Reports()
    )
    X = trained.model.named_steps["preprocess"].transform(frame.head(3))
    assert X[:, 0].tolist() == [86400.0, 1704067200.0, 1704240000.0]
    # 2024-01-01 08:00 in Shanghai is midnight UTC; 1970-01-01 00:00 in Shanghai is 8 hours before the epoch.
    assert X[:, 1].tolist() == [1704067200.0, -8 * 3600.0, 1704067200.0 - 8 * 3600]
    assert trained.signature["inputs"] == [
        {"name": "day", "type": "date"},
        {"name": "at", "type": "datetime", "time_zone": "Asia/Shanghai"},
    ]


def test_missing_numbers_take_the_training_median_and_missing_text_the_most_frequent_value():
    frame = pl.DataFrame(
        {
            "n": [1.0, 2.0, 10.0, None, float("nan"), float("inf")] * 5,
            "t": ["a", "b", "b", None, "a", "b"] * 5,
            "y": [float(i) for i in range(30)],
        }
    )
    trained = training.train(
        frame, spec("random_forest_regressor", "y", ["n", "t"], hyperparameters={"n_estimators": 2}), Reports()
    )
    X = trained.model.named_steps["preprocess"].transform(frame.head(6))
    train, _ = split(30, None)
    seen = [value for value in np.asarray(frame["n"].to_list(), dtype=float)[train] if math.isfinite(value)]
    median = float(np.median(seen))
    assert X[:, 0].tolist() == [1.0, 2.0, 10.0, median, median, median]
    assert X[:, 1:].tolist() == [[1, 0], [0, 1], [0, 1], [0, 1], [1, 0], [0, 1]]


def test_a_feature_without_values_in_training_is_accepted_and_ignored():
    frame = classes_frame(rows=80).with_columns(空=pl.lit(None, dtype=pl.Float64), 无=pl.lit(None, dtype=pl.String))
    trained = training.train(frame, spec("logistic_regression", "动物", ["x0", "空", "无", "x1"]), Reports())
    assert [entry["name"] for entry in trained.signature["inputs"]] == ["x0", "空", "无", "x1"]
    assert trained.model.named_steps["model"].n_features_in_ == 2
    filled = frame.head(3).with_columns(空=pl.lit(5.0), 无=pl.lit("有"))
    assert list(trained.model.predict(filled)) == list(trained.model.predict(frame.head(3)))


def test_text_features_keep_their_most_frequent_values():
    from aimodels.engine import preprocess

    values = pl.Series(["a"] * 5 + ["b"] * 5 + ["c"] * 3 + ["d"] * 3 + ["e"] + [None] * 9)
    assert preprocess.top_values(values, limit=3) == ["a", "b", "c"]  # "c" beats "d" on the tie
    frame = pl.DataFrame({"code": [f"id{i % 70}" for i in range(280)], "y": [float(i % 70) for i in range(280)]})
    trained = training.train(frame, spec("ridge", "y", ["code"]), Reports())
    encoder = trained.model.named_steps["preprocess"].named_steps["encode"].named_transformers_["cat"]["onehot"]
    assert len(encoder.categories_[0]) == preprocess.MAX_CATEGORIES == 50


# --- errors ----------------------------------------------------------------------------------------------------


def _fails(frame, spec_, code):
    with pytest.raises(EngineError) as caught:
        training.train(frame, spec_, Reports())
    assert caught.value.code == code
    return caught.value


def test_not_enough_rows():
    error = _fails(values_frame(rows=2), spec("ridge", "价格", NUMBERS), errors.NOT_ENOUGH_ROWS)
    assert error.details == {"train_rows": 1, "valid_rows": 1}
    frame = values_frame(rows=6).with_columns(split=pl.lit("train"))
    error = _fails(frame, spec("ridge", "价格", NUMBERS, validation=None, split_column="split"), errors.NOT_ENOUGH_ROWS)
    assert error.details == {"train_rows": 6, "valid_rows": 0}
    error = _fails(values_frame(rows=1), spec("ridge", "价格", NUMBERS), errors.NOT_ENOUGH_ROWS)
    assert error.details == {"train_rows": 0, "valid_rows": 1}  # 0.2 of one row, rounded up, is held out
    # Nearly all held out: the short side is the training one, not the held-out one.
    error = _fails(values_frame(rows=200), spec("ridge", "价格", NUMBERS, validation=0.999999), errors.NOT_ENOUGH_ROWS)
    assert error.details == {"train_rows": 0, "valid_rows": 200}
    error = _fails(values_frame(rows=200), spec("ridge", "价格", NUMBERS, validation=0.999), errors.NOT_ENOUGH_ROWS)
    assert error.details == {"train_rows": 0, "valid_rows": 200}
    # A classifier's stratified split fails first, then the plain one: the same sides.
    frame = classes_frame(rows=200)
    error = _fails(frame, spec("logistic_regression", "动物", NUMBERS, validation=0.999999), errors.NOT_ENOUGH_ROWS)
    assert error.details == {"train_rows": 0, "valid_rows": 200}
    empty = values_frame(rows=5).with_columns(价格=pl.lit(None, dtype=pl.Float64))
    _fails(empty, spec("ridge", "价格", NUMBERS), errors.NOT_ENOUGH_ROWS)


def test_single_class():
    frame = classes_frame(rows=30).with_columns(动物=pl.lit("猫"))
    error = _fails(frame, spec("logistic_regression", "动物", NUMBERS), errors.SINGLE_CLASS)
    assert error.details == {"classes": ["猫"]}
    split_rows = classes_frame(rows=30).with_columns(
        动物=pl.Series(["猫"] * 20 + ["狗"] * 10), split=pl.Series(["train"] * 20 + ["test"] * 10)
    )
    spec_ = spec("logistic_regression", "动物", NUMBERS, validation=None, split_column="split")
    assert "training rows" in _fails(split_rows, spec_, errors.SINGLE_CLASS).message


def test_too_many_classes():
    frame = pl.DataFrame({"x": [float(i) for i in range(500)], "id": list(range(500))})
    error = _fails(frame, spec("logistic_regression", "id", ["x"]), errors.TOO_MANY_CLASSES)
    assert error.details == {"classes": 500, "limit": training.MAX_CLASSES}


def test_no_usable_feature():
    frame = classes_frame(rows=30).with_columns(空=pl.lit(None, dtype=pl.Float64))
    _fails(frame, spec("logistic_regression", "动物", ["空"]), errors.NO_FEATURES)


def test_algorithm_failure_is_training_failed():
    error = _fails(
        blobs_frame(rows=8),
        spec("kmeans", None, NUMBERS[:3], hyperparameters={"n_clusters": 20}),
        errors.TRAINING_FAILED,
    )
    assert error.details == {"error": "ValueError"}
    assert error.message.startswith("Training failed: ")


def test_a_spec_that_does_not_fit_the_frame():
    error = _fails(classes_frame(rows=30), spec("logistic_regression", "没有", NUMBERS), errors.INVALID_SPEC)
    assert error.details == {"field": "target"}
    _fails(classes_frame(rows=30), spec("logistic_regression", "动物", NUMBERS, seed=2**32), errors.INVALID_SPEC)
    unknown = spec("logistic_regression", "动物", NUMBERS)
    unknown.algorithm = "nope"
    _fails(classes_frame(rows=30), unknown, errors.INVALID_SPEC)


# --- check -----------------------------------------------------------------------------------------------------

COLUMNS = [
    {"name": "age", "type": "integer", "nullable": True},
    {"name": "income", "type": "float", "nullable": True},
    {"name": "city", "type": "string", "nullable": True},
    {"name": "tier", "type": "categorical", "nullable": False},
    {"name": "joined", "type": "date", "nullable": True},
    {"name": "seen", "type": "datetime", "nullable": True},
    {"name": "vip", "type": "boolean", "nullable": True},
    {"name": "price", "type": "decimal", "nullable": True},
    {"name": "tags", "type": "list", "nullable": True},
    {"name": "blob", "type": "binary", "nullable": True},
    {"name": "at", "type": "time", "nullable": True},
    {"name": "split", "type": "string", "nullable": False},
]


def _check(task="classification", target="city", features=None, split_column=None, validation=0.2):
    return training.check(
        COLUMNS, task=task, target=target, features=features, split_column=split_column, validation=validation
    )


def test_check_default_features_are_the_usable_columns_but_target_and_split():
    features, found = _check(target="vip", split_column="split", validation=None)
    assert found == {}
    assert features == ["age", "income", "city", "tier", "joined", "seen", "price"]
    features, found = _check(task="clustering", target=None)
    assert found == {}
    assert features == ["age", "income", "city", "tier", "joined", "seen", "vip", "price", "split"]


def test_check_targets():
    assert _check(target=None)[1] == {"target": "Choose the target column."}
    assert _check(target="nope")[1] == {"target": "There is no column nope."}
    assert "Clustering has no target" in _check(task="clustering", target="city")[1]["target"]
    assert "regression model instead" in _check(target="income")[1]["target"]
    assert "regression model instead" in _check(target="price")[1]["target"]
    assert "must be text, whole numbers or true/false" in _check(target="joined")[1]["target"]
    assert "must be numeric" in _check(task="regression", target="city")[1]["target"]
    assert "must be numeric" in _check(task="regression", target="vip")[1]["target"]
    assert "split column" in _check(target="split", split_column="split", validation=None)[1]["target"]
    for task, target in [
        ("classification", "age"),
        ("classification", "tier"),
        ("classification", "vip"),
        ("regression", "age"),
        ("regression", "income"),
        ("regression", "price"),
    ]:
        assert "target" not in _check(task=task, target=target)[1]


def test_check_features():
    features, found = _check(
        target="vip",
        features=["age", "nope", "age", "vip", "tags", "blob", "at", "split", "joined"],
        split_column="split",
    )
    assert features == ["age", "nope", "age", "vip", "tags", "blob", "at", "split", "joined"]
    assert found == {
        "features.1": "There is no column nope.",
        "features.2": "age is already a feature.",
        "features.3": "The target cannot also be a feature.",
        "features.4": "tags is list: a feature must be a number, true/false, text, a date or a datetime.",
        "features.5": "blob is binary: a feature must be a number, true/false, text, a date or a datetime.",
        "features.6": "at is time: a feature must be a number, true/false, text, a date or a datetime.",
        "features.7": "The split column cannot be a feature.",
    }
    assert _check(features=[])[1] == {"features": "Choose at least one feature."}
    many = [f"c{i}" for i in range(spec_module.MAX_FEATURES + 1)]
    assert "At most" in _check(features=many)[1]["features"]
    only_lists = [{"name": "t", "type": "list", "nullable": True}, {"name": "y", "type": "string", "nullable": True}]
    features, found = training.check(
        only_lists, task="classification", target="y", features=None, split_column=None, validation=0.2
    )
    assert features == [] and "No column can be a feature" in found["features"]


def test_check_validation_and_split_column():
    assert "held-out ratio, or a split column" in _check(validation=None)[1]["validation"]
    for ratio in (0, 1, 1.5, -0.1, True, "0.2"):
        assert "between 0 and 1" in _check(validation=ratio)[1]["validation"]
    assert _check(validation=None, split_column="nope")[1] == {"split_column": "There is no column nope."}
    assert "must hold text" in _check(validation=None, split_column="age")[1]["split_column"]
    assert _check(target="vip", validation=None, split_column="split")[1] == {}
    with pytest.raises(ValueError):
        _check(task="ranking")


def test_boosting_reads_only_its_own_threads_prints(capsys):
    import sys
    import threading

    before = sys.stdout
    paused, resume = threading.Event(), threading.Event()
    reports = Reports()

    def report(**kwargs):
        reports(**kwargs)
        if kwargs.get("step") == 3 and kwargs.get("total"):
            paused.set()
            resume.wait(10)

    worker = threading.Thread(
        target=training.train,
        args=(classes_frame(), spec("hist_gradient_boosting_classifier", "动物", NUMBERS), report),
    )
    worker.start()
    assert paused.wait(10)
    print("请求日志")  # another thread (a request) printing meanwhile
    resume.set()
    worker.join(10)
    assert capsys.readouterr().out == "请求日志\n"
    assert sys.stdout is before
    assert [call["step"] for call in reports.steps if not call["metrics"]][-1] == 100


@pytest.mark.parametrize(
    "labels",
    [
        np.asarray(["是", "否", "b", "B", "", "否", "a b", "是", "Z", "ä"], dtype=object),
        np.asarray([3, -1, 3, 7, 0, -1]),
        np.asarray([True, False, False, True]),
    ],
)
def test_class_codes_are_np_unique_with_its_inverse(labels):
    classes, codes = training.class_codes(labels)
    expected_classes, expected_codes = np.unique(labels, return_inverse=True)
    assert classes.dtype == expected_classes.dtype and classes.tolist() == expected_classes.tolist()
    assert codes.tolist() == expected_codes.tolist() and (classes[codes] == labels).all()
