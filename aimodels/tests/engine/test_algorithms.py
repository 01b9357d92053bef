"""The plugins' registry and hyperparameter schemas, and validate(): defaults, coercion, errors by path."""

import json

import pytest
from jsonschema import Draft202012Validator

from aimodels.algorithms import base, schema
from aimodels.algorithms.schema import HyperparameterError

BUILT_IN = {
    "hist_gradient_boosting_classifier": base.CLASSIFICATION,
    "hist_gradient_boosting_regressor": base.REGRESSION,
    "kmeans": base.CLUSTERING,
    "linear_regression": base.REGRESSION,
    "logistic_regression": base.CLASSIFICATION,
    "mlp_classifier": base.CLASSIFICATION,
    "mlp_regressor": base.REGRESSION,
    "random_forest_classifier": base.CLASSIFICATION,
    "random_forest_regressor": base.REGRESSION,
    "ridge": base.REGRESSION,
}


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


def _error(name, params):
    with pytest.raises(HyperparameterError) as caught:
        base.validate(base.get(name), params)
    return caught.value.path, caught.value.message


def test_registry_holds_the_built_in_algorithms_in_name_order():
    found = base.registry()
    assert list(found) == sorted(BUILT_IN)
    assert {name: algorithm.task for name, algorithm in found.items()} == BUILT_IN
    assert base.get("kmeans") is found["kmeans"]
    assert base.get("pytorch") is None


@pytest.mark.parametrize("name", sorted(BUILT_IN))
def test_each_schema_is_a_bounded_draft_2020_12_object_whose_defaults_validate(name):
    algorithm = base.get(name)
    Draft202012Validator.check_schema(algorithm.schema)
    assert algorithm.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert algorithm.schema["type"] == "object" and algorithm.schema["additionalProperties"] is False
    properties = algorithm.schema["properties"]
    assert properties
    for key, spec in properties.items():
        assert {"default", "title", "description"} <= set(spec), key
        assert spec["title"] and spec["description"], key
        bounded = "enum" in spec or "anyOf" in spec or spec.get("type") == "boolean"
        bounded = bounded or ("maximum" in spec and ("minimum" in spec or "exclusiveMinimum" in spec))
        bounded = bounded or ("maxItems" in spec and "maximum" in spec["items"] and "minimum" in spec["items"])
        assert bounded, key
        if "anyOf" in spec:
            numbers = [branch for branch in spec["anyOf"] if branch.get("type") == "number"]
            assert all("maximum" in branch for branch in numbers), key
    defaults = base.validate(algorithm, None)
    assert defaults == {key: spec["default"] for key, spec in properties.items()}
    Draft202012Validator(algorithm.schema).validate(defaults)
    assert isinstance(algorithm.title, object) and str(algorithm.title) and str(algorithm.description)
    assert algorithm.task in base.TASKS


@pytest.mark.parametrize(
    ("name", "key", "limit"),
    [
        ("random_forest_classifier", "n_estimators", 2000),
        ("random_forest_regressor", "max_depth", 100),
        ("hist_gradient_boosting_classifier", "max_iter", 2000),
        ("mlp_classifier", "epochs", 1000),
        ("kmeans", "n_clusters", 100),
    ],
)
def test_sizes_are_capped(name, key, limit):
    assert base.get(name).schema["properties"][key]["maximum"] == limit
    base.validate(base.get(name), {key: limit})
    assert _error(name, {key: limit + 1}) == (f"hyperparameters.{key}", f"Must be at most {limit}.")


def test_mlp_layers_are_capped():
    layers = base.get("mlp_classifier").schema["properties"]["hidden_layer_sizes"]
    assert (layers["minItems"], layers["maxItems"], layers["items"]["minimum"], layers["items"]["maximum"]) == (
        1,
        5,
        1,
        1024,
    )


def test_describe_is_json_with_texts_in_the_active_language():
    from django.utils import translation

    described = base.get("ridge").describe()
    assert described["name"] == "ridge" and described["task"] == "regression"
    assert described["title"] == "Ridge regression"
    assert described["hyperparameters"]["properties"]["alpha"]["title"] == "Regularisation strength"
    json.dumps(described)
    with translation.override("zh-hans"):
        json.dumps(base.get("ridge").describe(), ensure_ascii=False)
    assert described["hyperparameters"] is not base.get("ridge").schema


def test_translate_uses_gettext_on_titles_and_descriptions_only(monkeypatch):
    monkeypatch.setattr(schema, "_", lambda text: f"«{text}»")
    shown = schema.translate(
        {"title": "T", "properties": {"title": {"title": "x", "enum": ["title"], "default": "description"}}}
    )
    assert shown == {
        "title": "«T»",
        "properties": {"title": {"title": "«x»", "enum": ["title"], "default": "description"}},
    }


# --- validate ------------------------------------------------------------------------------------------------


def test_validate_fills_defaults_and_keeps_given_values():
    params = base.validate(base.get("random_forest_classifier"), {"n_estimators": 10, "max_depth": None})
    assert params["n_estimators"] == 10 and params["max_depth"] is None
    assert params["criterion"] == "gini" and params["max_features"] == "sqrt" and params["bootstrap"] is True


def test_validate_returns_copies_of_list_defaults():
    algorithm = base.get("mlp_classifier")
    params = base.validate(algorithm, {})
    params["hidden_layer_sizes"].append(5)
    assert algorithm.schema["properties"]["hidden_layer_sizes"]["default"] == [100]
    given = {"hidden_layer_sizes": [3]}
    base.validate(algorithm, given)["hidden_layer_sizes"].append(4)
    assert given == {"hidden_layer_sizes": [3]}


def test_validate_gives_ints_for_integers_and_floats_for_numbers():
    params = base.validate(base.get("random_forest_regressor"), {"n_estimators": 30.0, "max_features": 1})
    assert params["n_estimators"] == 30 and type(params["n_estimators"]) is int
    assert params["max_features"] == 1.0 and type(params["max_features"]) is float
    layers = base.validate(base.get("mlp_regressor"), {"hidden_layer_sizes": [8.0, 4]})["hidden_layer_sizes"]
    assert layers == [8, 4] and all(type(size) is int for size in layers)
    assert type(base.validate(base.get("ridge"), {"alpha": 2})["alpha"]) is float


@pytest.mark.parametrize("params", [[], "x", 3, True])
def test_non_object_hyperparameters(params):
    assert _error("ridge", params) == ("hyperparameters", "Hyperparameters must be a JSON object.")


@pytest.mark.parametrize(
    ("name", "params", "path", "message"),
    [
        ("ridge", {"alhpa": 1}, "hyperparameters.alhpa", "Unknown hyperparameter."),
        ("random_forest_classifier", {"n_estimators": True}, "hyperparameters.n_estimators", "Must be an integer."),
        ("random_forest_classifier", {"n_estimators": 2.5}, "hyperparameters.n_estimators", "Must be an integer."),
        ("random_forest_classifier", {"n_estimators": "10"}, "hyperparameters.n_estimators", "Must be an integer."),
        ("random_forest_classifier", {"n_estimators": 0}, "hyperparameters.n_estimators", "Must be at least 1."),
        ("random_forest_classifier", {"max_depth": 0}, "hyperparameters.max_depth", "Must be at least 1."),
        ("random_forest_classifier", {"max_depth": "deep"}, "hyperparameters.max_depth", "Must be an integer or null."),
        ("random_forest_classifier", {"bootstrap": 1}, "hyperparameters.bootstrap", "Must be true or false."),
        (
            "random_forest_classifier",
            {"criterion": "mse"},
            "hyperparameters.criterion",
            'Must be one of "gini", "entropy", "log_loss".',
        ),
        (
            "random_forest_classifier",
            {"class_weight": "auto"},
            "hyperparameters.class_weight",
            'Must be one of null, "balanced", "balanced_subsample".',
        ),
        ("random_forest_classifier", {"max_features": 2.0}, "hyperparameters.max_features", "Must be at most 1."),
        ("random_forest_classifier", {"max_features": 0}, "hyperparameters.max_features", "Must be greater than 0."),
        (
            "random_forest_classifier",
            {"max_features": "all"},
            "hyperparameters.max_features",
            'Must be "sqrt", "log2", a number or null.',
        ),
        ("ridge", {"alpha": False}, "hyperparameters.alpha", "Must be a number."),
        ("ridge", {"alpha": -1}, "hyperparameters.alpha", "Must be at least 0.0."),
        ("mlp_classifier", {"hidden_layer_sizes": 100}, "hyperparameters.hidden_layer_sizes", "Must be a list."),
        (
            "mlp_classifier",
            {"hidden_layer_sizes": []},
            "hyperparameters.hidden_layer_sizes",
            "Must have at least 1 items.",
        ),
        (
            "mlp_classifier",
            {"hidden_layer_sizes": [8, 8, 8, 8, 8, 8]},
            "hyperparameters.hidden_layer_sizes",
            "Must have at most 5 items.",
        ),
        (
            "mlp_classifier",
            {"hidden_layer_sizes": [8, 8, 0]},
            "hyperparameters.hidden_layer_sizes.2",
            "Must be at least 1.",
        ),
        (
            "mlp_classifier",
            {"hidden_layer_sizes": [8, False]},
            "hyperparameters.hidden_layer_sizes.1",
            "Must be an integer.",
        ),
        (
            "hist_gradient_boosting_classifier",
            {"early_stopping": "yes"},
            "hyperparameters.early_stopping",
            'Must be one of "auto", true, false.',
        ),
        ("logistic_regression", {"C": 0}, "hyperparameters.C", "Must be at least 1e-06."),
    ],
)
def test_each_kind_of_error_names_its_path(name, params, path, message):
    assert _error(name, params) == (path, message)


def test_the_first_error_is_in_path_order_whatever_the_key_order():
    params = {"n_estimators": 0, "zzz": 1, "max_depth": 0, "criterion": "x"}
    reordered = dict(reversed(list(params.items())))
    assert _error("random_forest_classifier", params)[0] == "hyperparameters.criterion"
    assert _error("random_forest_classifier", reordered)[0] == "hyperparameters.criterion"
    assert _error("mlp_classifier", {"hidden_layer_sizes": [0, 2000], "alpha": -1})[0] == "hyperparameters.alpha"
    assert _error("mlp_classifier", {"hidden_layer_sizes": [10, 0, 2000]})[0] == "hyperparameters.hidden_layer_sizes.1"
    layers = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]
    assert _error("mlp_classifier", {"hidden_layer_sizes": layers}) == (
        "hyperparameters.hidden_layer_sizes",
        "Must have at most 5 items.",
    )


def test_validate_takes_a_schema_too():
    properties = {"k": schema.integer("K", "k", default=3, minimum=1, maximum=5)}
    assert schema.validate(schema.hyperparameters(**properties), {}) == {"k": 3}
