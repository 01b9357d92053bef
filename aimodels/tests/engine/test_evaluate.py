"""The metric functions on their own, against scikit-learn, and their undefined cases."""

import json
import warnings

import numpy as np
import pytest
from sklearn import metrics as sk
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.linear_model import LogisticRegression

from aimodels.engine import evaluate

LABELS = np.asarray(["否", "是"], dtype=object)


def test_binary_classification_uses_the_probability_of_the_second_class():
    y_true = np.asarray(["是", "否", "是", "是", "否", "否"], dtype=object)
    y_pred = np.asarray(["是", "是", "是", "否", "否", "否"], dtype=object)
    proba = np.asarray([[0.2, 0.8], [0.4, 0.6], [0.1, 0.9], [0.7, 0.3], [0.8, 0.2], [0.6, 0.4]])
    got = evaluate.classification(y_true, y_pred, proba, LABELS)
    assert got["roc_auc"] == pytest.approx(sk.roc_auc_score(y_true == "是", proba[:, 1]))
    assert got["roc_auc"] != pytest.approx(sk.roc_auc_score(y_true == "是", proba[:, 0]))
    assert got["log_loss"] == pytest.approx(sk.log_loss(y_true, proba, labels=LABELS))
    assert got["accuracy"] == pytest.approx(4 / 6)
    assert got["precision_macro"] == pytest.approx(sk.precision_score(y_true, y_pred, average="macro"))
    assert got["recall_weighted"] == pytest.approx(sk.recall_score(y_true, y_pred, average="weighted"))
    assert got["confusion_matrix"] == {"labels": ["否", "是"], "matrix": [[2, 1], [1, 2]]}
    assert json.loads(json.dumps(got)) == got
    assert all(type(value) is float for key, value in got.items() if key != "confusion_matrix")


def test_roc_auc_and_log_loss_are_none_when_undefined():
    classes = np.asarray([1, 2, 3])
    y_true = np.asarray([1, 2, 1, 2])  # no 3 among the held-out rows
    proba = np.asarray([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4]])
    got = evaluate.classification(y_true, np.asarray([1, 2, 1, 3]), proba, classes)
    assert got["roc_auc"] is None
    assert got["log_loss"] == pytest.approx(sk.log_loss(y_true, proba, labels=classes))
    assert got["confusion_matrix"]["labels"] == [1, 2, 3]
    assert got["confusion_matrix"]["matrix"] == [[2, 0, 0], [0, 1, 1], [0, 0, 0]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # undefined, not computed: no UndefinedMetricWarning in the job's log
        binary = evaluate.classification(
            np.asarray(["是", "是"], dtype=object),
            np.asarray(["是", "否"], dtype=object),
            np.asarray([[0.2, 0.8], [0.6, 0.4]]),
            LABELS,
        )
        assert binary["roc_auc"] is None
        assert evaluate.roc_auc(y_true, proba, classes) is None
    without = evaluate.classification(y_true, np.asarray([1, 2, 1, 3]), None, classes)
    assert without["roc_auc"] is None and without["log_loss"] is None


def test_multiclass_roc_auc_is_one_vs_rest_macro():
    classes = np.asarray(["a", "b", "c"], dtype=object)
    rng = np.random.default_rng(0)
    y_true = classes[rng.integers(0, 3, 60)]
    proba = rng.dirichlet([1, 1, 1], 60)
    got = evaluate.roc_auc(y_true, proba, classes)
    assert got == pytest.approx(sk.roc_auc_score(y_true, proba, multi_class="ovr", average="macro", labels=classes))
    assert got != pytest.approx(sk.roc_auc_score(y_true, proba, multi_class="ovo", average="macro", labels=classes))


def test_precision_counts_zero_for_a_class_never_predicted():
    y_true = np.asarray(["a", "b", "b"], dtype=object)
    y_pred = np.asarray(["b", "b", "b"], dtype=object)
    got = evaluate.classification(y_true, y_pred, None, np.asarray(["a", "b"], dtype=object))
    assert got["precision_macro"] == pytest.approx((0 + 2 / 3) / 2)


def test_align_proba_adds_zero_columns_for_classes_the_model_never_saw():
    proba = np.asarray([[0.25, 0.75]])
    aligned = evaluate.align_proba(
        proba, np.asarray(["b", "d"], dtype=object), np.asarray(["a", "b", "c", "d"], dtype=object)
    )
    assert aligned.tolist() == [[0.0, 0.25, 0.0, 0.75]]
    same = np.asarray(["a", "b"], dtype=object)
    assert evaluate.align_proba(proba, same, same) is proba


def test_regression_metrics():
    y_true, y_pred = np.asarray([1.0, 2.0, 4.0]), np.asarray([1.5, 2.0, 3.0])
    assert evaluate.regression(y_true, y_pred) == pytest.approx(
        {
            "rmse": sk.root_mean_squared_error(y_true, y_pred),
            "mae": sk.mean_absolute_error(y_true, y_pred),
            "r2": sk.r2_score(y_true, y_pred),
        }
    )
    assert evaluate.regression(np.asarray([1.0]), np.asarray([2.0])) == {"rmse": 1.0, "mae": 1.0, "r2": None}


def test_clustering_metrics_match_kmeans():
    X, _ = make_blobs(n_samples=90, centers=3, random_state=1)
    model = KMeans(n_clusters=3, n_init=1, random_state=1).fit(X[:60])
    labels = model.predict(X[60:])
    got = evaluate.clustering(X[60:], labels, model.cluster_centers_, seed=1)
    assert got["silhouette"] == pytest.approx(sk.silhouette_score(X[60:], labels))
    assert got["inertia"] == pytest.approx(-model.score(X[60:]))
    assert got["cluster_sizes"] == np.bincount(labels, minlength=3).tolist() and sum(got["cluster_sizes"]) == 30


def test_silhouette_is_none_without_two_clusters_and_sampled_on_many_rows(monkeypatch):
    X, labels = make_blobs(n_samples=120, centers=4, random_state=2)
    assert evaluate.silhouette(X, np.zeros(120, dtype=int), seed=0) is None
    assert evaluate.silhouette(X[:3], np.asarray([0, 1, 2]), seed=0) is None
    assert evaluate.clustering(X[:3], np.asarray([0, 0, 0]), None, seed=0) == {
        "silhouette": None,
        "inertia": None,
        "cluster_sizes": [3],
    }
    monkeypatch.setattr(evaluate, "SILHOUETTE_SAMPLE", 50)
    sampled = evaluate.silhouette(X, labels, seed=5)
    assert sampled == pytest.approx(sk.silhouette_score(X, labels, sample_size=50, random_state=5))
    assert sampled != pytest.approx(sk.silhouette_score(X, labels))


def test_feature_importances_from_coefficients_largest_first():
    class Linear:
        coef_ = np.asarray([[1.0, -3.0, 0.5], [-1.0, 1.0, 0.5]])

    assert evaluate.feature_importances(Linear(), ["a", "b", "c"]) == [
        {"feature": "b", "importance": 2.0},
        {"feature": "a", "importance": 1.0},
        {"feature": "c", "importance": 0.5},
    ]

    class Flat:
        coef_ = np.asarray([0.5, -2.0])

    assert evaluate.feature_importances(Flat(), ["城市_北京", "x"]) == [
        {"feature": "x", "importance": 2.0},
        {"feature": "城市_北京", "importance": 0.5},
    ]
    assert evaluate.feature_importances(Flat(), ["one"]) is None
    assert evaluate.feature_importances(object(), ["a"]) is None
    model = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    found = evaluate.feature_importances(model, list("abcd"))
    assert {item["feature"]: item["importance"] for item in found} == pytest.approx(
        dict(zip("abcd", np.abs(model.coef_[0]), strict=True))
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_imbalanced_multiclass_metrics_equal_scikit_learns(seed):
    """Unequal supports (weighted differs from macro), a class never predicted, one in neither y_true nor
    y_pred (out of the averages, as scikit-learn leaves it), labels as text."""
    rng = np.random.default_rng(seed)
    classes = np.asarray(["上海", "北京", "广州", "深圳", "西安"], dtype=object)
    y_true = rng.choice(classes[:3], size=300, p=[0.7, 0.2, 0.1])
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.choice(classes[[0, 1, 3]], size=300))
    got = evaluate.classification(y_true, y_pred, None, classes)
    for average in ("macro", "weighted"):
        precision, recall, f1, _ = sk.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
        assert got[f"precision_{average}"] == pytest.approx(precision)
        assert got[f"recall_{average}"] == pytest.approx(recall)
        assert got[f"f1_{average}"] == pytest.approx(f1)
    assert got["f1_weighted"] != pytest.approx(got["f1_macro"])
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(y_true, y_pred))
    assert got["confusion_matrix"]["matrix"] == sk.confusion_matrix(y_true, y_pred, labels=classes).tolist()
