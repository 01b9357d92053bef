"""The training API: creating jobs (the contract's error shape, field by field), the list's filters and
ordering, a job's detail, metric series and log, cancel and retry, Idempotency-Key, messages in the caller's
language, and the algorithm catalogue."""

import uuid
from datetime import datetime
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from aimodels import services
from aimodels.algorithms import base as algorithms
from aimodels.api.serializers import JobSerializer
from aimodels.models import JobLog, TrainingJob
from aimodels.tests.factories import ready_version, run
from incubator.events.models import Event
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/jobs"
SPEC = {"algorithm": "logistic_regression", "target": "标签", "seed": 3}
BUILTINS = {
    "hist_gradient_boosting_classifier",
    "hist_gradient_boosting_regressor",
    "kmeans",
    "linear_regression",
    "logistic_regression",
    "mlp_classifier",
    "mlp_regressor",
    "random_forest_classifier",
    "random_forest_regressor",
    "ridge",
}


@pytest.fixture
def body(project, version):
    """A valid request body for POST /jobs, with overrides."""

    def _body(**overrides):
        return {"project": project.id, "dataset": version.dataset_id, **SPEC, **overrides}

    return _body


def create(client, data, **headers):
    return client.post(JOBS, data, format="json", **headers)


def created_job(response) -> TrainingJob:
    assert response.status_code == 201, response.content[:500]
    return TrainingJob.objects.get(pk=response.json()["id"])


def assert_invalid(response, field):
    """The contract's 400: INVALID_INPUT naming the first bad field, its message, and every error."""
    assert response.status_code == 400, response.content[:500]
    error = response.json()
    assert (error["status_code"], error["error_code"]) == (400, "INVALID_INPUT"), error
    assert isinstance(error["message"], str) and error["message"], error
    details = error["details"]
    assert details["field"] == field, details
    assert isinstance(details["message"], str) and details["message"], details
    assert details["errors"][field] == [details["message"]] or details["message"] in details["errors"][field]
    return error


def assert_conflict(response, code):
    assert response.status_code == 409, response.content[:500]
    error = response.json()
    assert (error["status_code"], error["error_code"]) == (409, code), error
    assert isinstance(error["message"], str) and error["message"] and isinstance(error["details"], dict)
    return error


# --- creating a job --------------------------------------------------------------------------------------------


def test_a_job_is_created_queued_with_its_spec(owner_client, body, project, version, owner):
    response = create(owner_client, body(hyperparameters={"C": 0.5}, validation=0.25, model_name="  情感   分类 "))
    job = created_job(response)
    data = response.json()
    assert set(data) == set(JobSerializer().fields)
    assert data["dataset"] == {"id": version.dataset_id, "name": "训练数据", "version": version.number}
    assert (data["project"], data["algorithm"], data["task"]) == (project.id, "logistic_regression", "classification")
    assert data["hyperparameters"]["C"] == 0.5 and data["hyperparameters"] == job.hyperparameters
    assert set(data["hyperparameters"]) == set(algorithms.get("logistic_regression").schema["properties"])
    assert (data["target"], data["features"]) == ("标签", ["城市", "x1", "x2", "amount"])
    assert (data["validation"], data["split_column"], data["seed"]) == (0.25, None, 3)
    assert data["model_name"] == "情感 分类"  # whitespace collapsed
    assert (data["status"], data["progress"], data["attempt"], data["retry_of"]) == ("queued", 0.0, 1, None)
    assert (data["error"], data["metrics"], data["model_version"], data["started_at"]) == (None, None, None, None)
    assert data["created_by"] == owner.id and data["queued_at"]
    assert job.task_id  # sent to the workers: the owner has a free slot


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"algorithm": "random_forest_classifier", "hyperparameters": {"max_depth": 0}}, "hyperparameters.max_depth"),
        (
            {"algorithm": "random_forest_classifier", "hyperparameters": {"max_depth": "深"}},
            "hyperparameters.max_depth",
        ),
        ({"algorithm": "random_forest_classifier", "hyperparameters": {"max_depth": 101}}, "hyperparameters.max_depth"),
        (
            {"algorithm": "random_forest_classifier", "hyperparameters": {"n_estimators": True}},
            "hyperparameters.n_estimators",
        ),
        ({"algorithm": "random_forest_classifier", "hyperparameters": {"nope": 1}}, "hyperparameters.nope"),
        ({"algorithm": "没有这个算法"}, "algorithm"),
        ({"target": "没有这列"}, "target"),
        ({"target": "amount"}, "target"),  # fractional numbers are no classes
        ({"features": ["nope"]}, "features.0"),
        ({"features": ["x1", "没有"]}, "features.1"),
        ({"validation": 1.5}, "validation"),
        ({"validation": 0}, "validation"),
        ({"validation": True}, "validation"),
        ({"dataset_version": 99}, "dataset_version"),
        ({"dataset": 999_999}, "dataset"),
        ({"seed": -1}, "seed"),
        ({"time_limit": 0}, "time_limit"),
        ({"algorithm": 5}, "algorithm"),
    ],
)
def test_a_bad_spec_is_a_400_naming_the_field(owner_client, body, overrides, field):
    assert_invalid(create(owner_client, body(**overrides)), field)
    assert not TrainingJob.objects.exists()
    assert not Event.objects.filter(type="job.status").exists()


def test_a_missing_field_is_named(owner_client, body):
    for field in ("dataset", "algorithm"):
        data = body()
        del data[field]
        assert_invalid(create(owner_client, data), field)
    assert not TrainingJob.objects.exists()


def test_the_project_is_the_datasets_when_not_given(owner_client, body, project):
    data = body()
    del data["project"]
    response = create(owner_client, data)
    assert created_job(response).project_id == project.id == response.json()["project"]


def test_a_dataset_of_an_unknown_project_is_refused(owner_client, body):
    assert_invalid(create(owner_client, body(project=999_999)), "dataset")
    assert not TrainingJob.objects.exists()


def test_a_dataset_of_another_project_is_refused(owner_client, body, owner):
    elsewhere = make_project(owner, name="别的项目")
    other = ready_version(elsewhere, owner, name="别处的数据")
    # The caller owns both projects: the dataset is simply not in the project the job names.
    assert_invalid(create(owner_client, body(dataset=other.dataset_id)), "dataset")
    assert not TrainingJob.objects.exists()


def test_a_later_dataset_version_can_be_named_and_the_latest_is_the_default(owner_client, body, version, owner):
    from datasets import services as dataset_services
    from datasets.tests.factories import convert, upload

    from .. import factories

    dataset = version.dataset
    dataset_services.dataset_version_add(
        dataset=dataset, actor=owner, upload=upload(factories.training_csv(120), "more.csv")
    )
    convert(dataset, profile=False)
    default = create(owner_client, body())
    assert default.json()["dataset"]["version"] == 2
    first = create(owner_client, body(dataset_version=1))
    assert first.json()["dataset"]["version"] == 1


def test_running_a_job_keeps_the_callers_connection(owner_client, body):
    """The task's work leaves the caller's connection usable (an eager task runs inside the caller's transaction)."""
    job = created_job(create(owner_client, body()))
    services.job_run(job_id=job.id, task_id=job.task_id, hostname="test@worker")
    assert TrainingJob.objects.get(pk=job.id).status == "succeeded"


# --- the list ------------------------------------------------------------------------------------------------


@pytest.fixture
def listed(owner_client, body, project, version, owner):
    """Jobs in two projects: a logistic regression that succeeded, a ridge queued on a second dataset, a random
    forest cancelled, and one in another project."""
    second = ready_version(project, owner, name="第二份数据")
    succeeded = run(created_job(create(owner_client, body())))
    assert succeeded.status == "succeeded"
    queued = created_job(create(owner_client, body(dataset=second.dataset_id, algorithm="ridge", target="amount")))
    cancelled = created_job(create(owner_client, body(algorithm="random_forest_classifier")))
    assert owner_client.post(f"{JOBS}/{cancelled.id}/cancel", format="json").status_code == 200
    elsewhere = make_project(owner, name="别的项目")
    other_version = ready_version(elsewhere, owner, name="别处的数据")
    other = created_job(create(owner_client, {**body(), "project": elsewhere.id, "dataset": other_version.dataset_id}))
    return {
        "succeeded": succeeded.id,
        "queued": queued.id,
        "cancelled": cancelled.id,
        "other": other.id,
        "project": project.id,
        "elsewhere": elsewhere.id,
        "dataset": version.dataset_id,
        "second": second.dataset_id,
    }


def _ids(client, **params):
    response = client.get(JOBS, params)
    assert response.status_code == 200, response.content[:500]
    data = response.json()
    assert data["pagination"]["total"] == len(data["jobs"])
    return [job["id"] for job in data["jobs"]]


def test_the_list_is_newest_first_with_every_field(owner_client, listed):
    response = owner_client.get(JOBS)
    data = response.json()
    assert [job["id"] for job in data["jobs"]] == [
        listed["other"],
        listed["cancelled"],
        listed["queued"],
        listed["succeeded"],
    ]
    assert all(set(job) == set(JobSerializer().fields) for job in data["jobs"])
    assert data["pagination"] == {
        "page": 1,
        "page_size": 20,
        "total": 4,
        "total_pages": 1,
        "next": None,
        "previous": None,
    }


def test_the_list_filters(owner_client, listed):
    ids = lambda **params: set(_ids(owner_client, **params))  # noqa: E731
    assert ids(project=listed["project"]) == {listed["succeeded"], listed["queued"], listed["cancelled"]}
    assert ids(project=listed["elsewhere"]) == {listed["other"]}
    assert ids(project=f"{listed['project']},{listed['elsewhere']}") == set(
        listed[k] for k in ("succeeded", "queued", "cancelled", "other")
    )
    assert ids(status="succeeded") == {listed["succeeded"]}
    assert ids(status="queued,cancelled") == {listed["queued"], listed["cancelled"], listed["other"]}
    assert ids(status="running") == set()
    assert ids(algorithm="ridge") == {listed["queued"]}
    assert ids(algorithm="ridge,random_forest_classifier") == {listed["queued"], listed["cancelled"]}
    assert ids(dataset=listed["second"]) == {listed["queued"]}
    assert ids(dataset=listed["dataset"]) == {listed["succeeded"], listed["cancelled"]}
    assert ids(project=listed["project"], status="queued") == {listed["queued"]}
    assert ids(status="") == ids()  # an empty filter from a form is no filter


def test_the_list_orders(owner_client, listed):
    by_algorithm = _ids(owner_client, ordering="algorithm", project=listed["project"])
    assert by_algorithm == [listed["succeeded"], listed["cancelled"], listed["queued"]]  # logistic, random, ridge
    assert _ids(owner_client, ordering="-algorithm", project=listed["project"]) == by_algorithm[::-1]
    oldest_first = _ids(owner_client, ordering="created_at")
    assert oldest_first == [listed["succeeded"], listed["queued"], listed["cancelled"], listed["other"]]
    assert _ids(owner_client, ordering="-created_at") == oldest_first[::-1]
    statuses = [job["status"] for job in owner_client.get(JOBS, {"ordering": "status"}).json()["jobs"]]
    assert statuses == sorted(statuses)
    finished = owner_client.get(JOBS, {"ordering": "-finished_at", "status": "succeeded,cancelled"}).json()["jobs"]
    assert [job["id"] for job in finished] == [listed["cancelled"], listed["succeeded"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": "queued,nope"}, "status"),
        ({"project": "abc"}, "project"),
        ({"project": "0"}, "project"),
        ({"dataset": "x"}, "dataset"),
        ({"ordering": "nope"}, "ordering"),
        ({"ordering": "created_at,-password"}, "ordering"),
        ({"page": "0"}, "page"),
    ],
)
def test_unknown_filter_values_are_a_400(owner_client, listed, params, field):
    response = owner_client.get(JOBS, params)
    assert response.status_code == 400, response.content[:500]
    error = response.json()
    assert error["error_code"] == "INVALID_INPUT"
    assert error["details"]["field"].split(".")[0] == field, error


# --- one job: detail, metrics, logs ----------------------------------------------------------------------------


def test_the_detail_of_a_succeeded_job(owner_client, body, version):
    job = run(created_job(create(owner_client, body(model_name="情感"))))
    data = owner_client.get(f"{JOBS}/{job.id}").json()
    assert set(data) == set(JobSerializer().fields)
    assert (data["status"], data["progress"], data["error"]) == ("succeeded", 100.0, None) and data["status_display"]
    assert data["metrics"] == job.metrics and {"accuracy", "f1_macro", "confusion_matrix"} <= set(data["metrics"])
    assert (data["train_rows"], data["valid_rows"]) == (192, 48)
    assert data["model_version"] == {"model": job.model_version.model_id, "name": "情感", "number": 1}
    assert data["worker"].startswith("test@worker")
    assert data["started_at"] and data["finished_at"] and data["duration"] >= 0
    for stamp in ("queued_at", "started_at", "finished_at", "heartbeat_at"):
        datetime.fromisoformat(data[stamp].replace("Z", "+00:00"))
    importances = data["feature_importances"]
    assert importances is None or all(isinstance(item, dict) for item in importances)


def test_the_metrics_of_a_neural_network_are_chart_ready_series(owner_client, body):
    hyperparameters = {"hidden_layer_sizes": [8], "epochs": 6, "n_iter_no_change": 100}
    job = run(created_job(create(owner_client, body(algorithm="mlp_classifier", hyperparameters=hyperparameters))))
    assert job.status == "succeeded", (job.error_code, job.error_message)
    response = owner_client.get(f"{JOBS}/{job.id}/metrics")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"job", "status", "series", "final"}
    assert (data["job"], data["status"]) == (job.id, "succeeded")
    assert data["final"] == job.metrics and data["final"] == owner_client.get(f"{JOBS}/{job.id}").json()["metrics"]
    series = {entry["name"]: entry for entry in data["series"]}
    assert {"loss", "val_accuracy", "val_loss"} <= set(series)
    for name, entry in series.items():
        assert set(entry) == {"name", "steps", "values", "timestamps"}, name
        assert entry["steps"] == list(range(1, 7)), name  # one point per epoch, in step order
        assert len(entry["values"]) == len(entry["timestamps"]) == 6, name
        assert all(isinstance(value, float | int) for value in entry["values"]), name
        stamps = [datetime.fromisoformat(stamp.replace("Z", "+00:00")) for stamp in entry["timestamps"]]
        assert stamps == sorted(stamps), name
    assert all(0 <= value <= 1 for value in series["val_accuracy"]["values"])
    only = owner_client.get(f"{JOBS}/{job.id}/metrics", {"name": "loss,val_loss"}).json()
    assert [entry["name"] for entry in only["series"]] == ["loss", "val_loss"]


def test_a_queued_job_has_no_series_and_no_final_metrics(owner_client, body):
    job = created_job(create(owner_client, body()))
    data = owner_client.get(f"{JOBS}/{job.id}/metrics").json()
    assert (data["status"], data["series"], data["final"]) == ("queued", [], None)


def test_the_log_pages_and_filters_by_level(owner_client, body):
    job = run(created_job(create(owner_client, body())))
    lines = list(JobLog.objects.filter(job=job).order_by("seq").values_list("seq", "level", "message"))
    assert len(lines) >= 3 and lines[0][2].startswith("queued") and lines[-1][2].startswith("succeeded")
    seen = []
    page = 1
    while True:
        response = owner_client.get(f"{JOBS}/{job.id}/logs", {"page_size": 2, "page": page})
        assert response.status_code == 200
        data = response.json()
        assert data["pagination"]["total"] == len(lines)
        assert all(set(line) == {"seq", "ts", "level", "message"} for line in data["logs"])
        seen += [(line["seq"], line["level"], line["message"]) for line in data["logs"]]
        if data["pagination"]["next"] is None:
            break
        page += 1
    assert seen == lines  # oldest first, every line once
    assert page == (len(lines) + 1) // 2

    cancelled = created_job(create(owner_client, body()))
    owner_client.post(f"{JOBS}/{cancelled.id}/cancel", format="json")
    everything = owner_client.get(f"{JOBS}/{cancelled.id}/logs").json()["logs"]
    assert [line["level"] for line in everything] == ["INFO", "WARNING"]
    warnings = owner_client.get(f"{JOBS}/{cancelled.id}/logs", {"level": "WARNING"}).json()
    assert [line["level"] for line in warnings["logs"]] == ["WARNING"] and warnings["pagination"]["total"] == 1
    assert "cancelled" in warnings["logs"][0]["message"]
    assert owner_client.get(f"{JOBS}/{cancelled.id}/logs", {"level": "ERROR"}).json()["logs"] == []
    assert len(owner_client.get(f"{JOBS}/{cancelled.id}/logs", {"level": "DEBUG"}).json()["logs"]) == 2
    bad = owner_client.get(f"{JOBS}/{cancelled.id}/logs", {"level": "LOUD"})
    assert bad.status_code == 400 and bad.json()["details"]["field"] == "level"


# --- cancel and retry ------------------------------------------------------------------------------------------


def test_a_finished_job_cannot_be_cancelled(owner_client, body):
    job = run(created_job(create(owner_client, body())))
    events = Event.objects.count()
    assert_conflict(owner_client.post(f"{JOBS}/{job.id}/cancel", format="json"), "JOB_FINISHED")
    job.refresh_from_db()
    assert job.status == "succeeded" and Event.objects.count() == events


def test_cancel_stops_a_queued_job_for_good(owner_client, body):
    job = created_job(create(owner_client, body()))
    response = owner_client.post(f"{JOBS}/{job.id}/cancel", format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["finished_at"] is not None) == ("cancelled", True)
    assert run(job).status == "cancelled" and job.started_at is None
    assert_conflict(owner_client.post(f"{JOBS}/{job.id}/cancel", format="json"), "JOB_FINISHED")


def test_retry_of_a_queued_job_is_a_409(owner_client, body):
    job = created_job(create(owner_client, body()))
    assert_conflict(owner_client.post(f"{JOBS}/{job.id}/retry", format="json"), "JOB_NOT_FINISHED")
    assert TrainingJob.objects.count() == 1


def test_retry_of_a_cancelled_job_is_a_new_attempt(owner_client, body):
    job = created_job(create(owner_client, body(seed=11, model_name="重试", hyperparameters={"C": 2})))
    owner_client.post(f"{JOBS}/{job.id}/cancel", format="json")
    response = owner_client.post(f"{JOBS}/{job.id}/retry", format="json")
    assert response.status_code == 201, response.content[:500]
    again = response.json()
    assert again["id"] != job.id and (again["attempt"], again["retry_of"], again["status"]) == (2, job.id, "queued")
    original = owner_client.get(f"{JOBS}/{job.id}").json()
    for key in ("algorithm", "hyperparameters", "target", "features", "validation", "seed", "time_limit", "model_name"):
        assert again[key] == original[key], key
    assert run(TrainingJob.objects.get(pk=again["id"])).status == "succeeded"
    # A retry of the retry counts on.
    third = owner_client.post(f"{JOBS}/{again['id']}/retry", format="json").json()
    assert (third["attempt"], third["retry_of"]) == (3, again["id"])


# --- Idempotency-Key ---------------------------------------------------------------------------------------------


def test_the_same_idempotency_key_and_body_make_one_job(owner_client, body):
    key = str(uuid.uuid4())
    first = create(owner_client, body(), HTTP_IDEMPOTENCY_KEY=key)
    second = create(owner_client, body(), HTTP_IDEMPOTENCY_KEY=key)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert TrainingJob.objects.count() == 1
    # Another body under the same key is refused; another key makes another job.
    other = create(owner_client, body(seed=4), HTTP_IDEMPOTENCY_KEY=key)
    assert_conflict(other, "IDEMPOTENCY_KEY_REUSED")
    assert create(owner_client, body(), HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4())).status_code == 201
    assert TrainingJob.objects.count() == 2


def test_a_refused_create_is_not_remembered_under_its_key(owner_client, body):
    key = str(uuid.uuid4())
    assert_invalid(create(owner_client, body(target="没有这列"), HTTP_IDEMPOTENCY_KEY=key), "target")
    assert_invalid(create(owner_client, body(target="没有这列"), HTTP_IDEMPOTENCY_KEY=key), "target")
    assert not TrainingJob.objects.exists()


# --- the caller's language -------------------------------------------------------------------------------------


def _chinese(text):
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def test_a_400_speaks_the_callers_language(owner_client, body):
    bad = body(algorithm="random_forest_classifier", hyperparameters={"max_depth": 0})
    chinese = create(owner_client, bad, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert chinese["error_code"] == "INVALID_INPUT" and _chinese(chinese["message"]), chinese
    english = create(owner_client, bad, HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["message"] == "Invalid input." and not _chinese(english["details"]["message"]), english
    assert chinese["details"]["field"] == english["details"]["field"] == "hyperparameters.max_depth"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"algorithm": "random_forest_classifier", "hyperparameters": {"max_depth": 0}}, "hyperparameters.max_depth"),
        ({"target": "没有这列"}, "target"),
        ({"dataset": 999_999}, "dataset"),
    ],
)
def test_a_fields_message_is_chinese_too(owner_client, body, overrides, field):
    error = create(owner_client, body(**overrides), HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert error["details"]["field"] == field
    assert _chinese(error["details"]["message"].replace("没有这列", "")), error


def test_the_validation_message_is_chinese_too(owner_client, body):
    error = create(owner_client, body(validation=1.5), HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert error["details"]["field"] == "validation"
    assert _chinese(error["details"]["message"]), error


# --- the algorithm catalogue -----------------------------------------------------------------------------------


def _modules():
    folder = Path(algorithms.__file__).parent
    return {
        path.stem
        for path in folder.glob("*.py")
        if not path.stem.startswith("_") and path.stem not in ("base", "schema")
    }


def test_every_builtin_algorithm_is_listed_with_a_schema_whose_defaults_exist(api_client):
    response = api_client.get("/api/v1/algorithms")
    assert response.status_code == 200
    listed = response.json()["algorithms"]
    names = [item["name"] for item in listed]
    assert names == sorted(names)  # in name order
    assert BUILTINS <= set(names) and _modules() <= set(names)
    for item in listed:
        name = item["name"]
        assert set(item) == {"name", "title", "description", "task", "hyperparameters"}, name
        assert item["task"] in algorithms.TASKS and item["title"] and item["description"], name
        schema = item["hyperparameters"]
        Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False, name
        defaults = {}
        for prop, spec in schema["properties"].items():
            assert "default" in spec, (name, prop)
            assert spec.get("title"), (name, prop)
            # The default fits its own property's schema.
            assert not list(Draft202012Validator(spec).iter_errors(spec["default"])), (name, prop, spec)
            defaults[prop] = spec["default"]
        # ... and all of them together are what a job with no hyperparameters gets.
        assert not list(Draft202012Validator(schema).iter_errors(defaults)), name
        assert algorithms.validate(algorithms.get(name), {}) == defaults, name


def test_the_catalogue_speaks_the_callers_language(api_client):
    english = {
        a["name"]: a for a in api_client.get("/api/v1/algorithms", HTTP_ACCEPT_LANGUAGE="en").json()["algorithms"]
    }
    assert english["random_forest_classifier"]["title"] == "Random forest classifier"
    titles = english["random_forest_classifier"]["hyperparameters"]["properties"]
    assert titles["max_depth"]["title"] == "Maximum depth"
