"""GET /api/v1/analytics/models/leaderboard and /api/v1/analytics/jobs/compare: the contract (shape, errors,
scope, language, cache) over rows made in the tests."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.tests.factories import UserFactory
from aimodels.models import TrainingJob
from analytics.tests.test_models import add_curve, add_version, dataset_with_versions, make_job, make_model
from projects.models import Project
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db

LEADERBOARD = "/api/v1/analytics/models/leaderboard"
COMPARE = "/api/v1/analytics/jobs/compare"


@pytest.fixture
def world(auth_client):
    owner, rival = UserFactory(), UserFactory()
    project = make_project(owner, name="房价预测")
    dataset, (v1, v2) = dataset_with_versions(project, 2, name="房价")
    model = make_model(project, "房价 House price", task="regression")
    jobs = []
    for version, rmse in ((v1, 120.0), (v2, 80.0), (v2, 95.5)):
        job = make_job(version, algorithm="ridge", task="regression", metrics={"rmse": rmse, "r2": 0.9}, seconds=30)
        add_version(model, version, job.metrics, job=job, algorithm="ridge", hyperparameters={"alpha": 1.0})
        add_curve(job, "loss", {0: rmse * 2, 1: rmse})
        jobs.append(job)
    private = make_project(rival, name="机密", visibility=Project.Visibility.PRIVATE)
    secret_dataset, (secret_version,) = dataset_with_versions(private)
    secret_job = make_job(secret_version, algorithm="ridge", task="regression", metrics={"rmse": 1.0})
    add_version(make_model(private, task="regression"), v2, {"rmse": 1.0})  # on the public dataset, private model
    return {
        "owner": owner,
        "client": auth_client(owner),
        "dataset": dataset,
        "jobs": jobs,
        "private": private,
        "secret_dataset": secret_dataset,
        "secret_job": secret_job,
    }


def error(response, status_code: int, code: str) -> dict:
    assert response.status_code == status_code, response.content
    body = response.json()
    assert body["status_code"] == status_code and body["error_code"] == code
    assert set(body) == {"status_code", "error_code", "message", "details"}
    return body


# --- leaderboard ------------------------------------------------------------------------------------------------


def test_leaderboard_answers_the_documented_shape(world):
    from incubator.tests.test_openapi import generated_schema, response_schema, validate_against

    response = world["client"].get(
        LEADERBOARD, {"dataset": world["dataset"].id, "metric": "rmse"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200, response.content
    body = response.json()
    schema = generated_schema()
    validate_against(schema, response_schema(schema, LEADERBOARD, "get", 200), body)
    assert [row["value"] for row in body["rows"]] == [80.0, 95.5, 120.0]
    assert [row["dataset_version"] for row in body["rows"]] == [2, 2, 1]
    assert [row["job"] for row in body["rows"]] == [world["jobs"][1].id, world["jobs"][2].id, world["jobs"][0].id]
    assert body["direction"] == "lower" and body["rows"][0]["stage_display"] == "None"
    assert body["chart"]["x"] == ["房价 House price v2", "房价 House price v3", "房价 House price v1"]
    assert body["chart"]["series"] == [{"name": "RMSE", "data": [80.0, 95.5, 120.0]}]
    assert world["client"].get(LEADERBOARD + "/", {"dataset": world["dataset"].id, "metric": "rmse"}).status_code == 200


def test_leaderboard_labels_follow_the_language(world):
    params = {"dataset": world["dataset"].id, "metric": "rmse"}
    chinese = world["client"].get(LEADERBOARD, params).json()
    english = world["client"].get(LEADERBOARD, params, HTTP_ACCEPT_LANGUAGE="en").json()
    assert english["rows"][0]["stage_display"] == "None"
    assert chinese["rows"][0]["stage_display"] != "None"  # zh-hans by default, cached apart from English


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"dataset": None}, "dataset"),
        ({"metric": None}, "metric"),
        ({"dataset": "NaN", "metric": "rmse"}, "dataset"),
        ({"dataset": str(2**64), "metric": "rmse"}, "dataset"),
        ({"dataset": "0", "metric": "rmse"}, "dataset"),
        ({"metric": "rmse", "limit": "0"}, "limit"),
        ({"metric": "rmse", "limit": "101"}, "limit"),
        ({"metric": "rmse", "limit": "1e3"}, "limit"),
        ({"metric": "rmse", "task": "vision"}, "task"),
        ({"metric": "rmse", "project": "-1"}, "project"),
        ({"metric": "f1"}, "metric"),
        ({"metric": ""}, "metric"),
        ({"metric": "x" * 65}, "metric"),
        ({"metric": "accuracy", "task": "regression"}, "metric"),
    ],
)
def test_leaderboard_bad_input_is_a_400(world, params, field):
    sent = {"dataset": world["dataset"].id, "metric": "rmse", **params}
    params = {key: value for key, value in sent.items() if value is not None}
    body = error(world["client"].get(LEADERBOARD, params, HTTP_ACCEPT_LANGUAGE="en"), 400, "INVALID_INPUT")
    assert body["details"]["field"] == field


def test_leaderboard_unknown_metric_names_the_known_ones(world):
    response = world["client"].get(
        LEADERBOARD,
        {"dataset": world["dataset"].id, "metric": "accuracy", "task": "regression"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    body = error(response, 400, "INVALID_INPUT")
    assert "rmse, mae, r2" in body["details"]["message"]
    assert body["details"]["known_metrics"] == {
        "regression": [
            {"name": "rmse", "label": "RMSE", "direction": "lower", "higher_is_better": False},
            {"name": "mae", "label": "MAE", "direction": "lower", "higher_is_better": False},
            {"name": "r2", "label": "R²", "direction": "higher", "higher_is_better": True},
        ]
    }


def test_leaderboard_scope(world, auth_client):
    client = world["client"]
    rows = client.get(LEADERBOARD, {"dataset": world["dataset"].id, "metric": "rmse"}).json()["rows"]
    assert 1.0 not in [row["value"] for row in rows]  # the rival's private model never shows
    error(client.get(LEADERBOARD, {"dataset": world["secret_dataset"].id, "metric": "rmse"}), 404, "NOT_FOUND")
    error(client.get(LEADERBOARD, {"dataset": 10**9, "metric": "rmse"}), 404, "NOT_FOUND")
    hidden = {"dataset": world["dataset"].id, "metric": "rmse", "project": world["private"].id}
    error(client.get(LEADERBOARD, hidden), 404, "NOT_FOUND")
    admin = auth_client(UserFactory(is_staff=True))
    assert admin.get(LEADERBOARD, {"dataset": world["dataset"].id, "metric": "rmse"}).json()["rows"][0]["value"] == 1.0
    error(world["client"].__class__().get(LEADERBOARD, {"dataset": 1, "metric": "rmse"}), 401, "NOT_AUTHENTICATED")


def _count(client, path, params) -> tuple[int, dict]:
    cache.clear()  # rows made in a test record no event: the cached answer would hide the second size
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, params)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries), response.json()


def test_leaderboard_queries_are_constant_and_the_answer_is_cached(world):
    client, dataset = world["client"], world["dataset"]
    params = {"dataset": dataset.id, "metric": "rmse", "limit": 100}
    small, body = _count(client, LEADERBOARD, params)
    version = dataset.versions.get(number=1)
    for index in range(4):
        model = make_model(world["dataset"].project, task="regression")
        for step in range(8):
            add_version(model, version, {"rmse": 50.0 + index + step / 10})
    large, body = _count(client, LEADERBOARD, params)
    assert large == small and len(body["rows"]) == 35
    with CaptureQueriesContext(connection) as captured:
        assert client.get(LEADERBOARD, params).json() == body
    assert len(captured.captured_queries) < small


# --- jobs compare -----------------------------------------------------------------------------------------------


def test_compare_answers_the_documented_shape(world):
    from incubator.tests.test_openapi import generated_schema, response_schema, validate_against

    first, second, third = world["jobs"]
    response = world["client"].get(COMPARE, {"ids": f"{third.id},{first.id}"})
    assert response.status_code == 200, response.content
    body = response.json()
    schema = generated_schema()
    validate_against(schema, response_schema(schema, COMPARE, "get", 200), body)
    assert [job["id"] for job in body["jobs"]] == [third.id, first.id]
    assert body["metric_names"] == ["rmse", "r2"] and body["metrics"]["x"] == ["RMSE", "R²"]
    assert [series["data"] for series in body["metrics"]["series"]] == [[95.5, 0.9], [120.0, 0.9]]
    assert body["curves"]["loss"]["x"] == [0, 1] and body["curves"]["loss"]["label"] == "训练损失"
    assert [series["data"] for series in body["curves"]["loss"]["series"]] == [[191.0, 95.5], [240.0, 120.0]]
    assert body["jobs"][0]["duration_seconds"] == 30.0

    repeated = world["client"].get(f"{COMPARE}?ids={third.id}&ids={first.id}").json()
    assert repeated == body


@pytest.mark.parametrize(
    "query",
    [
        "",
        "ids=",
        "ids=a",
        "ids=1.5",
        "ids=0",
        f"ids={2**64}",
        "ids=1,1",
        "ids=1&ids=1",
        "ids=" + ",".join(map(str, range(1, 12))),
    ],
)
def test_compare_bad_ids_are_a_400(world, query):
    body = error(world["client"].get(f"{COMPARE}?{query}", HTTP_ACCEPT_LANGUAGE="en"), 400, "INVALID_INPUT")
    assert body["details"]["field"].startswith("ids")


def test_compare_a_job_the_caller_may_not_read_is_a_404_naming_nothing(world):
    first, secret = world["jobs"][0], world["secret_job"]
    response = world["client"].get(COMPARE, {"ids": f"{first.id},{secret.id}"}, HTTP_ACCEPT_LANGUAGE="en")
    body = error(response, 404, "NOT_FOUND")
    assert body["message"] == "Not found." and body["details"] == {}
    missing = world["client"].get(COMPARE, {"ids": f"{first.id},{10**9}"}, HTTP_ACCEPT_LANGUAGE="en")
    assert missing.json() == body  # a private job and a missing one cannot be told apart


def test_compare_queries_are_constant(world):
    client, jobs = world["client"], world["jobs"]
    params = {"ids": ",".join(str(job.id) for job in jobs)}
    small, _body = _count(client, COMPARE, params)
    version = jobs[0].dataset_version
    more = [make_job(version, status=TrainingJob.Status.RUNNING) for _ in range(7)]
    for job in [*jobs, *more]:
        add_curve(job, "val_loss", {step: 1.0 / (step + 1) for step in range(2, 60)})
    large, body = _count(client, COMPARE, {"ids": ",".join(str(job.id) for job in [*jobs, *more])})
    assert large == small and len(body["jobs"]) == 10 and len(body["curves"]["val_loss"]["x"]) == 58
