"""The model registry API: models and versions as jobs make them, stages (one version in production, promoted
in one transaction), deletes, names, and predictions checked row by row against a version's signature."""

import hashlib

import pytest

from aimodels import services
from aimodels.api.serializers import ModelSerializer, ModelVersionSerializer
from aimodels.models import Model, ModelVersion, TrainingJob
from aimodels.tests.factories import ready_version, run
from datasets import storage
from incubator.events.models import Event
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/models"
ROW = {"城市": "北京", "x1": 1.5, "x2": 3, "amount": 2.0}
REGRESSION_ROW = {"城市": "上海", "x1": 0.5, "x2": 10, "标签": "是"}


def train(client, project, version, **spec) -> TrainingJob:
    """A job through the API, run as the worker runs it."""
    data = {"project": project.id, "dataset": version.dataset_id, "algorithm": "logistic_regression", "target": "标签"}
    response = client.post("/api/v1/jobs", {**data, "seed": 3, **spec}, format="json")
    assert response.status_code == 201, response.content[:500]
    job = run(TrainingJob.objects.get(pk=response.json()["id"]))
    assert job.status == "succeeded", (job.error_code, job.error_message)
    return job


@pytest.fixture
def trained(owner_client, project, version):
    """The model 情感 with two versions (two logistic regressions)."""
    first = train(owner_client, project, version, model_name="情感")
    second = train(owner_client, project, version, model_name="情感", seed=4)
    model = first.model_version.model
    return {"model": model, "jobs": [first, second], "base": f"{MODELS}/{model.id}"}


def assert_error(response, status, code):
    assert response.status_code == status, response.content[:500]
    error = response.json()
    assert (error["status_code"], error["error_code"]) == (status, code), error
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["details"], dict), error
    return error


def assert_invalid(response, field):
    error = assert_error(response, 400, "INVALID_INPUT")
    assert error["details"]["field"] == field, error["details"]
    assert error["details"]["message"] and field in error["details"]["errors"], error["details"]
    return error


def stage(client, trained, number, to):
    return client.patch(f"{trained['base']}/versions/{number}", {"stage": to}, format="json")


# --- shapes ----------------------------------------------------------------------------------------------------


def test_a_trained_model_and_its_versions(owner_client, project, version, owner):
    job = train(owner_client, project, version, model_name="情感")
    listed = owner_client.get(MODELS).json()
    assert listed["pagination"]["total"] == 1
    (model,) = listed["models"]
    assert set(model) == set(ModelSerializer().fields)
    assert (model["project"], model["name"], model["task"], model["description"]) == (
        project.id,
        "情感",
        "classification",
        "",
    )
    assert (model["version_count"], model["created_by"]) == (1, owner.id)
    assert set(model["latest_version"]) == {"number", "stage", "algorithm", "created_at"}
    assert (model["latest_version"]["number"], model["latest_version"]["stage"]) == (1, "none")
    assert model["latest_version"]["algorithm"] == "logistic_regression"
    assert owner_client.get(f"{MODELS}/{model['id']}").json() == model

    versions = owner_client.get(f"{MODELS}/{model['id']}/versions").json()
    assert versions["pagination"]["total"] == 1
    (entry,) = versions["versions"]
    assert set(entry) == set(ModelVersionSerializer().fields)
    assert (entry["model"], entry["number"], entry["stage"], entry["job"]) == (model["id"], 1, "none", job.id)
    assert entry["dataset"] == {"id": version.dataset_id, "name": "训练数据", "version": version.number}
    assert entry["algorithm"] == "logistic_regression" and entry["hyperparameters"] == job.hyperparameters
    assert entry["metrics"] == job.metrics
    signature = entry["signature"]
    assert [column["name"] for column in signature["inputs"]] == job.features == ["城市", "x1", "x2", "amount"]
    assert all(set(column) >= {"name", "type"} for column in signature["inputs"])
    assert signature["task"] == "classification" and signature["target"]["name"] == "标签"
    assert sorted(signature["classes"]) == ["否", "是"]
    stored = ModelVersion.objects.get(model_id=model["id"], number=1)
    with open(storage.local_copy(stored.artifact), "rb") as handle:
        content = handle.read()
    assert (entry["artifact_size"], entry["artifact_sha256"]) == (len(content), hashlib.sha256(content).hexdigest())
    assert (entry["created_by"], entry["stage_changed_at"]) == (owner.id, None)
    assert owner_client.get(f"{MODELS}/{model['id']}/versions/1").json() == entry
    assert_error(owner_client.get(f"{MODELS}/{model['id']}/versions/2"), 404, "NOT_FOUND")


def test_a_model_made_empty_then_trained(owner_client, project, version):
    created = owner_client.post(
        MODELS, {"project": project.id, "name": "Churn", "description": "说明", "task": "classification"}, format="json"
    )
    assert created.status_code == 201
    model = created.json()
    assert (model["version_count"], model["latest_version"], model["description"]) == (0, None, "说明")
    assert owner_client.get(f"{MODELS}/{model['id']}/versions").json()["versions"] == []
    # A job naming it (in another case) adds its version 1.
    job = train(owner_client, project, version, model_name="churn")
    assert job.model_version.model_id == model["id"]
    assert owner_client.get(f"{MODELS}/{model['id']}").json()["version_count"] == 1


def test_the_model_list_filters(owner_client, project, version):
    train(owner_client, project, version, model_name="情感")
    train(owner_client, project, version, model_name="金额", algorithm="ridge", target="amount")
    owner_client.post(MODELS, {"project": project.id, "name": "空的", "task": "clustering"}, format="json")

    def names(**params):
        body = owner_client.get(MODELS, params).json()
        assert body["pagination"]["total"] == len(body["models"]), params
        return sorted(model["name"] for model in body["models"])

    assert names() == ["情感", "空的", "金额"]
    assert names(task="regression") == ["金额"]
    assert names(task="classification,clustering") == ["情感", "空的"]
    assert names(stage="none") == ["情感", "金额"]
    assert names(stage="production") == []
    assert names(search="情") == ["情感"]
    assert_invalid(owner_client.get(MODELS, {"task": "nope"}), "task.0")
    assert_invalid(owner_client.get(MODELS, {"stage": "live"}), "stage.0")
    assert_invalid(owner_client.get(MODELS, {"ordering": "artifact"}), "ordering")


def test_the_stage_filter_sees_a_new_version_of_an_existing_model(owner_client, project, version):
    owner_client.post(MODELS, {"project": project.id, "name": "客户流失", "task": "classification"}, format="json")
    before = owner_client.get(MODELS, {"stage": "none"}).json()
    assert (before["models"], before["pagination"]["total"]) == ([], 0)
    train(owner_client, project, version, model_name="客户流失")
    after = owner_client.get(MODELS, {"stage": "none"}).json()
    assert [m["name"] for m in after["models"]] == ["客户流失"] and after["pagination"]["total"] == 1


# --- stages ----------------------------------------------------------------------------------------------------


def test_promoting_a_version_archives_the_one_in_production(owner_client, trained):
    model = trained["model"]
    first = stage(owner_client, trained, 1, "production")
    assert first.status_code == 200, first.content[:500]
    assert (first.json()["number"], first.json()["stage"]) == (1, "production") and first.json()["stage_changed_at"]
    events = Event.objects.filter(type="model.version.stage").count()

    second = stage(owner_client, trained, 2, "production")
    assert second.status_code == 200 and second.json()["stage"] == "production"
    assert list(model.versions.order_by("number").values_list("number", "stage")) == [
        (1, "archived"),
        (2, "production"),
    ]
    moves = Event.objects.filter(type="model.version.stage").order_by("id")[events:]
    assert [(e.payload["number"], e.payload["stage"], e.payload["previous"]) for e in moves] == [
        (1, "archived", "production"),
        (2, "production", "none"),
    ]
    listed = {v["number"]: v["stage"] for v in owner_client.get(f"{trained['base']}/versions").json()["versions"]}
    assert listed == {1: "archived", 2: "production"}
    assert owner_client.get(MODELS, {"stage": "production"}).json()["pagination"]["total"] == 1
    assert owner_client.get(MODELS, {"stage": "archived"}).json()["pagination"]["total"] == 1


def test_a_promotion_that_fails_midway_changes_nothing(owner_client, trained, monkeypatch):
    stage(owner_client, trained, 1, "production")
    v2 = ModelVersion.objects.get(model=trained["model"], number=2)
    original = services._model_version_event

    def failing(type_, version, model, **extra):
        original(type_, version, model, **extra)
        if version.pk == v2.pk:  # after version 1 was archived, before the transaction ends
            raise RuntimeError("the database went away")

    monkeypatch.setattr(services, "_model_version_event", failing)
    try:
        response = stage(owner_client, trained, 2, "production")
    except RuntimeError:
        pass
    else:
        assert response.status_code == 500
    stages = list(trained["model"].versions.order_by("number").values_list("number", "stage"))
    assert stages == [(1, "production"), (2, "none")]  # one transaction: the archive went back with it


def test_the_same_stage_again_is_a_409(owner_client, trained):
    assert stage(owner_client, trained, 1, "staging").status_code == 200
    error = assert_error(stage(owner_client, trained, 1, "staging"), 409, "STAGE_UNCHANGED")
    assert error["details"] == {"stage": "staging"}
    assert stage(owner_client, trained, 2, "production").status_code == 200
    assert_error(stage(owner_client, trained, 2, "production"), 409, "STAGE_UNCHANGED")
    assert_error(stage(owner_client, trained, 1, "staging"), 409, "STAGE_UNCHANGED")
    assert_invalid(stage(owner_client, trained, 1, "live"), "stage")
    assert_invalid(owner_client.patch(f"{trained['base']}/versions/1", {}, format="json"), "stage")


# --- deletes ---------------------------------------------------------------------------------------------------


def test_a_version_in_production_cannot_be_deleted(owner_client, trained, django_capture_on_commit_callbacks):
    model, base = trained["model"], trained["base"]
    stage(owner_client, trained, 1, "production")
    assert_error(owner_client.delete(f"{base}/versions/1"), 409, "MODEL_IN_PRODUCTION")
    assert_error(owner_client.delete(base), 409, "MODEL_IN_PRODUCTION")
    assert model.versions.count() == 2 and Model.objects.filter(pk=model.pk).exists()

    # Version 2 goes, with its artifact once the transaction commits; version 1 is the latest again.
    artifact = ModelVersion.objects.get(model=model, number=2).artifact
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.delete(f"{base}/versions/2").status_code == 204
    with pytest.raises(FileNotFoundError):
        storage.local_copy(artifact)
    detail = owner_client.get(base).json()
    assert (detail["version_count"], detail["latest_version"]["number"]) == (1, 1)
    assert_error(owner_client.get(f"{base}/versions/2"), 404, "NOT_FOUND")
    assert TrainingJob.objects.filter(pk=trained["jobs"][1].pk).exists()  # the job stays, without its version
    assert owner_client.get(f"/api/v1/jobs/{trained['jobs'][1].id}").json()["model_version"] is None

    # Out of production, the model goes with its versions.
    stage(owner_client, trained, 1, "archived")
    assert owner_client.delete(base).status_code == 204
    assert not Model.objects.filter(pk=model.pk).exists() and not ModelVersion.objects.exists()
    assert_error(owner_client.get(base), 404, "NOT_FOUND")


def test_version_numbers_are_never_reused(owner_client, trained, project, version):
    base = trained["base"]
    assert owner_client.delete(f"{base}/versions/2").status_code == 204
    third = train(owner_client, project, version, model_name="情感")
    assert third.model_version.number == 3
    assert [v["number"] for v in owner_client.get(f"{base}/versions").json()["versions"]] == [1, 3]


# --- names -----------------------------------------------------------------------------------------------------


def test_a_model_name_is_taken_whatever_its_case(owner_client, project, owner):
    def create(name, project_id=project.id):
        return owner_client.post(MODELS, {"project": project_id, "name": name, "task": "classification"}, format="json")

    assert create("Churn Model").status_code == 201
    for taken in ("churn model", "CHURN MODEL", "  churn   Model "):
        error = assert_error(create(taken), 409, "MODEL_NAME_TAKEN")
        assert error["details"] == {"field": "name"}
    assert Model.objects.filter(project=project).count() == 1
    # Another project may use it.
    elsewhere = make_project(owner, name="别的项目")
    assert create("churn model", elsewhere.id).status_code == 201

    other = create("Other").json()
    renamed = owner_client.patch(f"{MODELS}/{other['id']}", {"name": "CHURN model"}, format="json")
    assert_error(renamed, 409, "MODEL_NAME_TAKEN")
    assert Model.objects.get(pk=other["id"]).name == "Other"
    # Its own name in another case is no conflict.
    own = owner_client.patch(f"{MODELS}/{other['id']}", {"name": "OTHER", "description": "新"}, format="json")
    assert own.status_code == 200 and (own.json()["name"], own.json()["description"]) == ("OTHER", "新")


def test_a_jobs_model_name_counts_too(owner_client, project, version):
    train(owner_client, project, version, model_name="Sentiment")
    response = owner_client.post(
        MODELS, {"project": project.id, "name": "SENTIMENT", "task": "classification"}, format="json"
    )
    assert_error(response, 409, "MODEL_NAME_TAKEN")


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "task": "classification"}, "name"),
        ({"name": "   ", "task": "classification"}, "name"),
        ({"name": "x" * 201, "task": "classification"}, "name"),
        ({"name": "好", "task": "ranking"}, "task"),
        ({"task": "classification"}, "name"),
    ],
)
def test_a_bad_model_is_a_400(owner_client, project, data, field):
    assert_invalid(owner_client.post(MODELS, {"project": project.id, **data}, format="json"), field)
    assert not Model.objects.exists()


# --- predictions -------------------------------------------------------------------------------------------------


def predict(client, trained, rows, number=1):
    return client.post(f"{trained['base']}/versions/{number}/predict", {"rows": rows}, format="json")


def test_predict_one_row(owner_client, trained):
    response = predict(owner_client, trained, [ROW])
    assert response.status_code == 200, response.content[:500]
    data = response.json()
    assert (data["model"], data["version"]) == (trained["model"].id, 1)
    assert len(data["predictions"]) == 1 and data["predictions"][0] in {"是", "否"}
    (probabilities,) = data["probabilities"]
    assert set(probabilities) == {"是", "否"} and sum(probabilities.values()) == pytest.approx(1.0)
    assert max(probabilities, key=probabilities.get) == data["predictions"][0]


def test_a_prediction_is_two_queries(owner_client, trained, make_user, auth_client, django_assert_num_queries):
    """The caller's user row, then the version with its model, its project and the caller's role in it."""
    assert predict(owner_client, trained, [ROW]).status_code == 200  # the model is in the process's cache now
    with django_assert_num_queries(2):
        assert predict(owner_client, trained, [ROW]).status_code == 200
    outsider = auth_client(make_user())
    with django_assert_num_queries(2):  # someone with no role in the (public) project: the same two
        assert predict(outsider, trained, [ROW]).status_code == 200


@pytest.mark.parametrize(
    "path", ["99999999999/versions/1", "{model}/versions/99999999999999999999", "{model}/versions/2147483648"]
)
def test_an_id_beyond_any_row_is_a_404(owner_client, trained, path):
    url = f"{MODELS}/{path.format(model=trained['model'].id)}/predict"
    assert_error(owner_client.post(url, {"rows": [ROW]}, format="json"), 404, "NOT_FOUND")


def test_predict_a_thousand_rows(owner_client, trained):
    rows = [
        {**ROW, "x1": (i % 41 - 20) / 10, "x2": i % 100, "城市": ["北京", "上海", "广州", "深圳"][i % 4]}
        for i in range(1000)
    ]
    response = predict(owner_client, trained, rows, number=2)
    assert response.status_code == 200, response.content[:500]
    data = response.json()
    assert len(data["predictions"]) == len(data["probabilities"]) == 1000
    assert all(sum(p.values()) == pytest.approx(1.0) for p in data["probabilities"])
    assert set(data["predictions"]) == {"是", "否"}  # x1 from -2 to 2 gives both classes
    # The same rows, the same answers: predictions are deterministic.
    assert predict(owner_client, trained, rows[:3], number=2).json()["predictions"] == data["predictions"][:3]


def test_nulls_are_imputed(owner_client, trained):
    response = predict(owner_client, trained, [{"城市": None, "x1": None, "x2": None, "amount": None}])
    assert response.status_code == 200, response.content[:500]
    assert len(response.json()["predictions"]) == 1


def test_more_than_a_thousand_rows_is_a_400(owner_client, trained):
    assert_invalid(predict(owner_client, trained, [ROW] * 1001), "rows")


@pytest.mark.parametrize(
    ("rows", "field"),
    [
        ([ROW, ROW, {k: v for k, v in ROW.items() if k != "x2"}], "rows.2.x2"),  # a column missing
        ([ROW, {**ROW, "x1": "不是数字"}], "rows.1.x1"),  # a text for a number
        ([{**ROW, "x2": [1, 2]}], "rows.0.x2"),
        ([{**ROW, "城市": {"名": "北京"}}], "rows.0.城市"),
    ],
)
def test_a_row_that_does_not_fit_the_signature_is_a_400_naming_it(owner_client, trained, rows, field):
    assert_invalid(predict(owner_client, trained, rows), field)


@pytest.mark.parametrize("row", ["北京", 1, None, [1.5, 3], True])
def test_a_row_that_is_not_an_object_is_a_400(owner_client, trained, row):
    error = assert_error(predict(owner_client, trained, [ROW, row]), 400, "INVALID_INPUT")
    assert error["details"]["field"].split(".")[:2] == ["rows", "1"], error["details"]


def test_a_row_that_is_not_an_object_is_named_by_its_index(owner_client, trained):
    error = predict(owner_client, trained, [ROW, "北京"]).json()
    assert error["details"]["field"] == "rows.1", error["details"]


@pytest.mark.parametrize("body", [{"rows": []}, {"rows": {}}, {"rows": "北京"}, {}, {"rows": None}])
def test_no_rows_is_a_400(owner_client, trained, body):
    response = owner_client.post(f"{trained['base']}/versions/1/predict", body, format="json")
    assert_invalid(response, "rows")


def test_a_regression_model_predicts_numbers(owner_client, project, version):
    job = train(owner_client, project, version, algorithm="ridge", target="amount", model_name="金额")
    mv = job.model_version
    assert mv.signature["task"] == "regression" and not mv.signature.get("classes")
    assert {"rmse", "mae", "r2"} <= set(job.metrics)
    rows = [REGRESSION_ROW, {**REGRESSION_ROW, "x1": -1.0, "x2": 90, "标签": "否"}]
    response = owner_client.post(f"{MODELS}/{mv.model_id}/versions/1/predict", {"rows": rows}, format="json")
    assert response.status_code == 200, response.content[:500]
    data = response.json()
    assert len(data["predictions"]) == 2
    assert all(isinstance(value, float) for value in data["predictions"]), data
    assert data["predictions"][0] != data["predictions"][1]
    assert not data.get("probabilities")  # probabilities are for classifiers


def test_a_clustering_model_predicts_a_cluster_per_row(owner_client, project, version):
    """k-means through the API: it trains without a target and predicts a cluster per row."""
    job = train(owner_client, project, version, algorithm="kmeans", target="", features=["x1", "x2"], model_name="聚类")
    response = owner_client.post(
        f"{MODELS}/{job.model_version.model_id}/versions/1/predict", {"rows": [{"x1": 0.1, "x2": 5}]}, format="json"
    )
    assert response.status_code == 200, response.content[:500]
    assert len(response.json()["predictions"]) == 1
    assert_invalid(
        owner_client.post(
            f"{MODELS}/{job.model_version.model_id}/versions/1/predict", {"rows": [{"x1": 0.1}]}, format="json"
        ),
        "rows.0.x2",
    )


def test_a_model_of_the_same_name_in_another_project_is_its_own(owner_client, owner, trained):
    """A second project's model of the same name is its own model: each answers from its own artifact."""
    elsewhere = make_project(owner, name="别的项目")
    other_version = ready_version(elsewhere, owner, name="别处的数据")
    job = train(owner_client, elsewhere, other_version, model_name="情感", algorithm="ridge", target="amount")
    assert job.model_version.model_id != trained["model"].id
    response = owner_client.post(
        f"{MODELS}/{job.model_version.model_id}/versions/1/predict", {"rows": [REGRESSION_ROW]}, format="json"
    )
    assert isinstance(response.json()["predictions"][0], float)
    assert predict(owner_client, trained, [ROW]).json()["predictions"][0] in {"是", "否"}
