"""The model leaderboard and the job comparison, against figures computed here from the rows the tests create."""

import itertools
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from accounts.tests.factories import UserFactory
from aimodels.engine import evaluate
from aimodels.models import JobMetric, Model, ModelVersion, TrainingJob
from analytics.scope import Scope
from analytics.selectors import models as selectors
from datasets.models import Dataset, DatasetVersion
from incubator.errors import InvalidInput, NotFound
from projects.models import Project
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db

_numbers = itertools.count(1)


# --- rows, made directly: no training is needed to rank what training wrote ----------------------------------


def dataset_with_versions(project: Project, count: int = 1, name: str = "") -> tuple[Dataset, list[DatasetVersion]]:
    dataset = Dataset.objects.create(project=project, name=name or f"数据集 {next(_numbers)}")
    versions = [
        DatasetVersion.objects.create(
            dataset=dataset,
            number=number,
            status=DatasetVersion.Status.READY,
            file_name="train.csv",
            format="csv",
            content_type="text/csv",
        )
        for number in range(1, count + 1)
    ]
    return dataset, versions


def make_job(
    version: DatasetVersion,
    *,
    algorithm: str = "random_forest_classifier",
    task: str = "classification",
    metrics: dict[str, Any] | None = None,
    seconds: float | None = None,
    status: str = TrainingJob.Status.SUCCEEDED,
    hyperparameters: dict[str, Any] | None = None,
) -> TrainingJob:
    started = timezone.now() - timedelta(hours=1)
    return TrainingJob.objects.create(
        project=version.dataset.project,
        dataset_version=version,
        algorithm=algorithm,
        task=task,
        hyperparameters=hyperparameters or {},
        time_limit=600,
        model_name="m",
        status=status,
        metrics=metrics,
        started_at=started,
        finished_at=None if seconds is None else started + timedelta(seconds=seconds),
    )


def make_model(project: Project, name: str = "", task: str = "classification") -> Model:
    return Model.objects.create(project=project, name=name or f"模型 {next(_numbers)}", task=task)


def add_version(
    model: Model,
    dataset_version: DatasetVersion,
    metrics: dict[str, Any],
    *,
    job: TrainingJob | None = None,
    algorithm: str = "random_forest_classifier",
    hyperparameters: dict[str, Any] | None = None,
    stage: str = ModelVersion.Stage.NONE,
) -> ModelVersion:
    model.last_number += 1
    model.save(update_fields=["last_number"])
    return ModelVersion.objects.create(
        model=model,
        number=model.last_number,
        dataset_version=dataset_version,
        job=job,
        algorithm=algorithm,
        hyperparameters=hyperparameters or {},
        artifact="",
        artifact_size=0,
        artifact_sha256="0" * 64,
        metrics=metrics,
        stage=stage,
    )


def add_curve(job: TrainingJob, name: str, points: dict[int, float | None]) -> None:
    now = timezone.now()
    JobMetric.objects.bulk_create(
        JobMetric(job=job, name=name, step=step, value=value, ts=now) for step, value in points.items()
    )


@pytest.fixture
def owner():
    return UserFactory()


@pytest.fixture
def project(owner):
    return make_project(owner, name="智能客服")


# --- the metrics known per task ---------------------------------------------------------------------------------


def test_known_metrics_are_the_scalar_metrics_the_engine_writes():
    classes = np.array(["否", "是"])
    written = {
        "classification": evaluate.classification(
            np.array(["否", "是", "否", "是"]),
            np.array(["否", "是", "是", "是"]),
            np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6], [0.3, 0.7]]),
            classes,
        ),
        "regression": evaluate.regression(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 2.9])),
        "clustering": evaluate.clustering(
            np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [5.0, 6.0]]),
            np.array([0, 0, 1, 1]),
            np.array([[0.0, 0.5], [5.0, 5.5]]),
            0,
        ),
    }
    for task, metrics in written.items():
        scalar = [name for name, value in metrics.items() if isinstance(value, float)]
        assert list(selectors.TASK_METRICS[task]) == scalar
    listed = selectors.known_metrics()
    assert [entry["name"] for entry in listed["regression"]] == ["rmse", "mae", "r2"]
    directions = {entry["name"]: entry["direction"] for entries in listed.values() for entry in entries}
    assert {name for name, way in directions.items() if way == "lower"} == {"rmse", "mae", "log_loss", "inertia"}
    assert list(selectors.known_metrics("clustering")) == ["clustering"]


# --- leaderboard ------------------------------------------------------------------------------------------------


def test_leaderboard_ranks_by_accuracy_higher_first_across_dataset_versions(owner, project):
    dataset, (v1, v2) = dataset_with_versions(project, 2)
    _other, (elsewhere,) = dataset_with_versions(project)
    first, second = make_model(project, "客服意图"), make_model(project, "Churn")
    job = make_job(v2, hyperparameters={"n_estimators": 50})
    planted = [
        add_version(first, v1, {"accuracy": 0.81, "f1_macro": 0.7}),
        add_version(first, v2, {"accuracy": 0.93, "f1_macro": 0.9}, job=job, hyperparameters={"n_estimators": 50}),
        add_version(second, v1, {"accuracy": 0.88}, algorithm="logistic_regression", stage="production"),
        add_version(second, v2, {"accuracy": 0.75}),
    ]
    add_version(second, v2, {"f1_macro": 0.99})  # no accuracy: skipped
    add_version(second, v2, {"accuracy": None})  # undefined here: skipped
    add_version(second, v2, {"accuracy": "n/a"})  # not a number: skipped (PostgreSQL would refuse the cast)
    add_version(second, elsewhere, {"accuracy": 0.99})  # another dataset

    board = selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="accuracy", task=None, limit=10)

    expected = sorted(planted, key=lambda version: -version.metrics["accuracy"])
    assert [row["model_version"] for row in board["rows"]] == [version.id for version in expected]
    assert [row["value"] for row in board["rows"]] == [0.93, 0.88, 0.81, 0.75]
    assert [row["rank"] for row in board["rows"]] == [1, 2, 3, 4]
    assert board["direction"] == "higher" and board["higher_is_better"] is True
    assert board["dataset"] == {"id": dataset.id, "name": dataset.name}
    best = board["rows"][0]
    assert best["model"] == {"id": first.id, "name": "客服意图", "task": "classification"}
    assert best["version"] == 2 and best["dataset_version"] == 2 and best["job"] == job.id
    assert best["hyperparameters"] == {"n_estimators": 50}
    assert best["metrics"] == {"accuracy": 0.93, "f1_macro": 0.9}
    assert best["created_at"].endswith("Z")
    assert board["rows"][1]["stage"] == "production" and board["rows"][1]["job"] is None
    assert board["rows"][1]["algorithm"] == "logistic_regression" and board["rows"][1]["dataset_version"] == 1
    assert board["chart"] == {
        "x": ["客服意图 v2", "Churn v1", "客服意图 v1", "Churn v2"],
        "series": [{"name": "准确率", "data": [0.93, 0.88, 0.81, 0.75]}],  # zh-hans: the default language
        "unit": "",
    }


def test_leaderboard_ranks_rmse_lower_first_and_ties_share_a_rank(owner, project):
    dataset, (version,) = dataset_with_versions(project)
    model = make_model(project, "房价", task="regression")
    values = [3.5, 1.25, 2.0, 1.25, 10.0]
    for rmse in values:
        add_version(model, version, {"rmse": rmse, "r2": 1 / rmse}, algorithm="ridge")

    board = selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="rmse", task=None, limit=10)

    assert [row["value"] for row in board["rows"]] == sorted(values)
    assert [row["rank"] for row in board["rows"]] == [1, 1, 3, 4, 5]
    assert [row["version"] for row in board["rows"][:2]] == [2, 4]  # a tie lists the older version first
    assert board["direction"] == "lower" and board["higher_is_better"] is False
    by_r2 = selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="r2", task=None, limit=10)
    assert [row["value"] for row in by_r2["rows"]] == sorted((1 / v for v in values), reverse=True)


def test_leaderboard_limit_and_task(owner, project):
    dataset, (version,) = dataset_with_versions(project)
    classifier, odd = make_model(project), make_model(project, task="regression")
    for accuracy in (0.5, 0.9, 0.7):
        add_version(classifier, version, {"accuracy": accuracy})
    add_version(odd, version, {"accuracy": 0.99})  # a regression model carrying an accuracy: not a classifier

    top = selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="accuracy", task=None, limit=2)
    assert [row["value"] for row in top["rows"]] == [0.99, 0.9]
    assert len(top["chart"]["x"]) == 2
    classifiers = selectors.leaderboard(
        scope=Scope(owner), dataset_id=dataset.id, metric="accuracy", task="classification", limit=10
    )
    assert [row["value"] for row in classifiers["rows"]] == [0.9, 0.7, 0.5]
    assert classifiers["task"] == "classification"


def test_leaderboard_unknown_metric_lists_the_known_ones(owner, project):
    dataset, _versions = dataset_with_versions(project)
    with pytest.raises(InvalidInput) as caught:
        selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="accuracy", task="regression", limit=10)
    assert caught.value.details["field"] == "metric"
    assert "rmse, mae, r2" in caught.value.details["message"]
    assert list(caught.value.details["known_metrics"]) == ["regression"]
    with pytest.raises(InvalidInput) as caught:
        selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="f1", task=None, limit=10)
    assert set(caught.value.details["known_metrics"]) == {"classification", "regression", "clustering"}


def test_leaderboard_counts_only_what_the_caller_may_read(owner, project):
    dataset, (version,) = dataset_with_versions(project)
    mine = make_model(project)
    add_version(mine, version, {"accuracy": 0.6})
    rival = UserFactory()
    private = make_project(rival, name="机密", visibility=Project.Visibility.PRIVATE)
    theirs = make_model(private)
    hidden = add_version(theirs, version, {"accuracy": 0.95})  # another team's private model on this dataset
    _secret, (secret_version,) = dataset_with_versions(private)

    board = selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="accuracy", task=None, limit=10)
    assert [row["value"] for row in board["rows"]] == [0.6]

    admin = UserFactory(is_staff=True)
    everything = selectors.leaderboard(
        scope=Scope(admin), dataset_id=dataset.id, metric="accuracy", task=None, limit=10
    )
    assert [row["model_version"] for row in everything["rows"]][0] == hidden.id
    assert (
        selectors.leaderboard(scope=Scope(rival), dataset_id=dataset.id, metric="accuracy", task=None, limit=10)["rows"]
        == everything["rows"]
    )  # the project is public, the rival is a member of the private one

    with pytest.raises(NotFound):
        selectors.leaderboard(
            scope=Scope(owner), dataset_id=secret_version.dataset_id, metric="accuracy", task=None, limit=10
        )
    with pytest.raises(NotFound):  # narrowed to another project, the dataset is not in scope
        selectors.leaderboard(
            scope=Scope(admin, project_id=private.id), dataset_id=dataset.id, metric="accuracy", task=None, limit=10
        )


def _queries(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured.captured_queries)


def test_leaderboard_queries_do_not_grow_with_the_data(owner, project):
    dataset, (version,) = dataset_with_versions(project)

    def board():
        return selectors.leaderboard(scope=Scope(owner), dataset_id=dataset.id, metric="accuracy", task=None, limit=100)

    model = make_model(project)
    for index in range(3):
        add_version(model, version, {"accuracy": index / 10})
    small = _queries(board)
    for _ in range(5):
        other = make_model(project)
        for index in range(6):
            add_version(other, version, {"accuracy": index / 7})
    assert _queries(board) == small == 2
    assert len(board()["rows"]) == 33


# --- jobs compare -----------------------------------------------------------------------------------------------


def test_compare_puts_metrics_side_by_side_in_the_order_asked(owner, project):
    _dataset, (v1, v2) = dataset_with_versions(project, 2, name="客户")
    forest = make_job(v1, metrics={"accuracy": 0.9, "f1_macro": 0.8, "confusion_matrix": {"labels": []}}, seconds=90)
    logistic = make_job(
        v2, algorithm="logistic_regression", metrics={"accuracy": 0.85, "log_loss": 0.3, "roc_auc": 0.91}, seconds=4.5
    )
    running = make_job(v2, algorithm="mlp_classifier", status=TrainingJob.Status.RUNNING, hyperparameters={"lr": 0.1})
    model = make_model(project, "意图")
    add_version(model, v1, forest.metrics, job=forest)

    result = selectors.jobs_compare(scope=Scope(owner), job_ids=[logistic.id, running.id, forest.id])

    jobs = result["jobs"]
    assert [job["id"] for job in jobs] == [logistic.id, running.id, forest.id]
    assert [job["duration_seconds"] for job in jobs] == [4.5, None, 90.0]
    assert jobs[0]["label"] == f"#{logistic.id} logistic_regression"
    assert jobs[0]["dataset_version"] == {"id": v2.id, "number": 2, "dataset": {"id": v2.dataset_id, "name": "客户"}}
    assert jobs[0]["model"] is None and jobs[2]["model"] == {"id": model.id, "name": "意图", "version": 1}
    assert jobs[1]["status"] == "running" and jobs[1]["hyperparameters"] == {"lr": 0.1}
    assert jobs[1]["metrics"] is None and jobs[1]["finished_at"] is None
    assert jobs[0]["project"] == {"id": project.id, "name": "智能客服"}
    # x: the known metrics in the engine's order (confusion_matrix is no scalar), named; null where a job lacks one
    assert result["metric_names"] == ["accuracy", "f1_macro", "roc_auc", "log_loss"]
    assert result["metrics"] == {
        "x": ["准确率", "F1（宏平均）", "ROC AUC", "对数损失"],  # the default language
        "series": [
            {"name": f"#{logistic.id} logistic_regression", "data": [0.85, None, 0.91, 0.3]},
            {"name": f"#{running.id} mlp_classifier", "data": [None, None, None, None]},
            {"name": f"#{forest.id} random_forest_classifier", "data": [0.9, 0.8, None, None]},
        ],
        "unit": "",
    }


def test_compare_curves_union_the_steps_with_nulls(owner, project):
    _dataset, (version,) = dataset_with_versions(project)
    a, b = make_job(version, algorithm="mlp_classifier"), make_job(version, algorithm="mlp_classifier")
    add_curve(a, "loss", {0: 1.0, 1: 0.6, 2: 0.4})
    add_curve(b, "loss", {0: 1.2, 2: 0.5, 4: 0.2})
    add_curve(b, "val_accuracy", {1: 0.7, 2: None})

    curves = selectors.jobs_compare(scope=Scope(owner), job_ids=[b.id, a.id])["curves"]

    assert list(curves) == ["loss", "val_accuracy"]
    assert curves["loss"] == {
        "x": [0, 1, 2, 4],
        "series": [
            {"name": f"#{b.id} mlp_classifier", "data": [1.2, None, 0.5, 0.2]},
            {"name": f"#{a.id} mlp_classifier", "data": [1.0, 0.6, 0.4, None]},
        ],
        "unit": "",
        "label": "训练损失",
    }
    assert curves["val_accuracy"]["label"] == "验证集准确率"
    assert curves["val_accuracy"]["series"][0]["data"] == [0.7, None]
    assert curves["val_accuracy"]["series"][1]["data"] == [None, None]


def test_compare_thins_long_curves_on_a_common_stride_keeping_the_last_step(owner, project):
    _dataset, (version,) = dataset_with_versions(project)
    long, short = make_job(version), make_job(version)
    add_curve(long, "loss", {step: 1 / (step + 1) for step in range(0, 2501, 2)})
    add_curve(short, "loss", {step: float(step) for step in range(0, 1001, 5)})

    curve = selectors.jobs_compare(scope=Scope(owner), job_ids=[long.id, short.id])["curves"]["loss"]

    stride = 2500 // selectors.CURVE_MAX_POINTS + 1  # 3: every job keeps the steps that are multiples of it
    kept_long = {step for step in range(0, 2501, 2) if step % stride == 0} | {2500}
    kept_short = {step for step in range(0, 1001, 5) if step % stride == 0} | {1000}
    expected_steps = sorted(kept_long | kept_short)
    assert curve["x"] == expected_steps
    long_data, short_data = (series["data"] for series in curve["series"])
    assert long_data == [1 / (step + 1) if step in kept_long else None for step in expected_steps]
    assert short_data == [float(step) if step in kept_short else None for step in expected_steps]
    assert short_data[expected_steps.index(1000)] == 1000.0  # the short job's last step, off the stride
    # the steps both jobs have line up: a multiple of 30 has a value in both series
    assert long_data[expected_steps.index(990)] is not None and short_data[expected_steps.index(990)] == 990.0


def test_compare_refuses_bad_lists_and_hides_private_jobs(owner, project):
    _dataset, (version,) = dataset_with_versions(project)
    job = make_job(version)
    rival = UserFactory()
    private = make_project(rival, visibility=Project.Visibility.PRIVATE)
    _secret, (secret_version,) = dataset_with_versions(private)
    hidden = make_job(secret_version)

    with pytest.raises(NotFound):
        selectors.jobs_compare(scope=Scope(owner), job_ids=[job.id, hidden.id])
    with pytest.raises(NotFound):
        selectors.jobs_compare(scope=Scope(owner), job_ids=[job.id, hidden.id + 1000])
    for ids in ([], [job.id] * 2, list(range(1, 12))):
        with pytest.raises(InvalidInput):
            selectors.jobs_compare(scope=Scope(owner), job_ids=ids)
    assert [
        entry["id"] for entry in selectors.jobs_compare(scope=Scope(rival), job_ids=[hidden.id, job.id])["jobs"]
    ] == [
        hidden.id,
        job.id,
    ]


def test_compare_queries_do_not_grow_with_the_data(owner, project):
    _dataset, (version,) = dataset_with_versions(project)
    jobs = [make_job(version, metrics={"accuracy": 0.5}) for _ in range(10)]
    ids = [job.id for job in jobs]
    add_curve(jobs[0], "loss", {0: 1.0})
    small = _queries(lambda: selectors.jobs_compare(scope=Scope(owner), job_ids=ids))
    for job in jobs:
        add_curve(job, "loss", {step: 0.5 for step in range(1, 200)})
        add_curve(job, "val_accuracy", {step: 0.5 for step in range(50)})
    assert _queries(lambda: selectors.jobs_compare(scope=Scope(owner), job_ids=ids)) == small == 2


def test_compare_names_metrics_and_curves_in_the_request_language(owner, project):
    _dataset, (version,) = dataset_with_versions(project)
    job = make_job(version, algorithm="mlp_classifier", metrics={"accuracy": 0.9, "custom_score": 2.0})
    add_curve(job, "loss", {0: 1.0})
    add_curve(job, "val_loss", {0: 1.1})
    add_curve(job, "val_accuracy", {0: 0.8})
    add_curve(job, "val_custom", {0: 0.5})

    with translation.override("en"):
        result = selectors.jobs_compare(scope=Scope(owner), job_ids=[job.id])

    assert result["metric_names"] == ["accuracy", "custom_score"]
    assert result["metrics"]["x"] == ["Accuracy", "custom_score"]  # an algorithm's own metric keeps its name
    labels = {name: curve["label"] for name, curve in result["curves"].items()}
    assert labels == {
        "loss": "Training loss",
        "val_accuracy": "Validation Accuracy",
        "val_custom": "val_custom",
        "val_loss": "Validation loss",
    }
