"""Training jobs through the services: validation before queueing, the states and their illegal moves, cancel,
retry, time limits, running slots, the sweeper and a lost worker, results and the model registry."""

import time
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone, translation
from sklearn.linear_model import LogisticRegression

from aimodels import inference, services
from aimodels.algorithms import base as algorithms
from aimodels.api.serializers import job_representation
from aimodels.errors import JobNotCancellable, JobNotFinished, StageUnchanged
from aimodels.models import JobLog, JobMetric, Model, ModelVersion, TrainingJob
from datasets import services as dataset_services
from datasets import storage
from datasets.errors import VersionInUse
from incubator.errors import InvalidInput
from incubator.events.models import Event
from incubator.events.selectors import event_list, wire_localized

from .factories import run, spec

pytestmark = pytest.mark.django_db

Status = TrainingJob.Status


class Steps(algorithms.Algorithm):
    """A test plugin: `steps` steps of `pause` seconds, reporting a loss each; `hook(step)` runs before each."""

    name = "test_steps"
    title = "Steps"
    task = algorithms.CLASSIFICATION
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"steps": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5}},
    }
    hook = staticmethod(lambda step: None)
    pause = 0.0

    def train(self, data, params, report):
        for step in range(1, params["steps"] + 1):
            type(self).hook(step)
            time.sleep(self.pause)
            report(step=step, total=params["steps"], metrics={"loss": 1.0 / step})
        return LogisticRegression().fit(data.X_train, data.y_train)


@pytest.fixture
def steps(monkeypatch):
    monkeypatch.setitem(algorithms.registry(), Steps.name, Steps())
    monkeypatch.setattr(services, "FLUSH_SECONDS", 0.0)
    monkeypatch.setattr(Steps, "hook", staticmethod(lambda step: None))
    monkeypatch.setattr(Steps, "pause", 0.0)
    return Steps


def _errors(exc_info) -> dict:
    return exc_info.value.errors


# --- validation before queueing ------------------------------------------------------------------------------


def test_a_job_is_queued_with_its_defaults_filled(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    assert job.status == Status.QUEUED and job.task_id  # sent: the user has a free slot
    assert job.features == ["城市", "x1", "x2", "amount"]  # every other column
    assert job.validation == 0.2 and job.time_limit == 3600
    assert job.model_name == "训练数据-logistic_regression"
    assert job.hyperparameters == algorithms.validate(algorithms.get("logistic_regression"), {})
    assert Event.objects.filter(type="job.status", topic=f"job:{job.id}").count() == 1


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"algorithm": "nope"}, "algorithm"),
        ({"hyperparameters": {"C": -1}}, "hyperparameters.C"),
        ({"hyperparameters": {"unknown": 1}}, "hyperparameters.unknown"),
        ({"target": "没有这列"}, "target"),
        ({"target": "amount"}, "target"),  # a float target for a classifier
        ({"features": ["x1", "nope"]}, "features.1"),
        ({"validation": "split"}, "split_column"),  # the version has no split column
        ({"time_limit": 10**8}, "time_limit"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(project, owner, version, data, field):
    with pytest.raises(InvalidInput) as caught:
        services.job_create(project=project, version=version, actor=owner, data=spec(**data))
    assert field in _errors(caught)
    assert not TrainingJob.objects.exists()


def test_a_version_not_ready_is_refused(project, owner, version):
    DatasetVersionStatus = type(version).Status
    type(version).objects.filter(pk=version.pk).update(status=DatasetVersionStatus.PROCESSING)
    version.refresh_from_db()
    with pytest.raises(InvalidInput) as caught:
        services.job_create(project=project, version=version, actor=owner, data=spec())
    assert "dataset_version" in _errors(caught)


def test_a_model_name_of_another_task_is_refused(project, owner, version):
    Model.objects.create(project=project, name="Scores", task="regression")
    with pytest.raises(InvalidInput) as caught:
        services.job_create(project=project, version=version, actor=owner, data=spec(model_name="scores"))
    assert "model_name" in _errors(caught)


# --- a job end to end -----------------------------------------------------------------------------------------


def test_a_job_trains_records_metrics_and_makes_a_model_version(project, owner, version):
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec(model_name="情感")))
    assert job.status == Status.SUCCEEDED, (job.error_code, job.error_message)
    assert job.progress == 100 and job.started_at and job.finished_at and job.worker.startswith("test@worker")
    assert {"accuracy", "f1_macro", "f1_weighted", "roc_auc", "log_loss", "confusion_matrix"} <= set(job.metrics)
    assert job.train_rows + job.valid_rows == 240 and job.valid_rows == 48
    model = Model.objects.get(project=project, name="情感")
    mv = model.versions.get()
    assert (mv.number, mv.job_id, mv.dataset_version_id, mv.stage) == (1, job.id, version.id, "none")
    assert model.latest_version_id == mv.id and model.version_count == 1 and model.task == "classification"
    assert mv.metrics == job.metrics
    assert [column["name"] for column in mv.signature["inputs"]] == job.features
    with open(storage.local_copy(mv.artifact), "rb") as handle:
        assert services.hashlib.sha256(handle.read()).hexdigest() == mv.artifact_sha256
    types = list(Event.objects.filter(topic=f"job:{job.id}").values_list("type", flat=True))
    assert types[0] == "job.status" and types[-1] == "job.status" and "job.progress" in types
    statuses = [e.payload["status"] for e in Event.objects.filter(topic=f"job:{job.id}", type="job.status")]
    assert statuses == ["queued", "running", "succeeded"]
    assert JobLog.objects.filter(job=job, message__startswith="succeeded").exists()
    # A second job naming the model adds version 2.
    second = run(services.job_create(project=project, version=version, actor=owner, data=spec(model_name="情感")))
    assert second.model_version.number == 2
    model.refresh_from_db()
    assert model.version_count == 2 and model.latest_version.number == 2


def test_a_job_reports_per_step_metrics_and_progress(project, owner, version, steps):
    seen = []
    steps.hook = staticmethod(lambda step: seen.append(TrainingJob.objects.values_list("progress", flat=True).get()))
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec(algorithm="test_steps")))
    assert job.status == Status.SUCCEEDED
    points = list(JobMetric.objects.filter(job=job, name="loss").order_by("step").values_list("step", "value"))
    assert points == [(s, pytest.approx(1.0 / s)) for s in range(1, 6)]
    assert seen == sorted(seen) and seen[-1] > seen[0]  # progress went up step by step
    assert job.metric_steps == 5
    assert Event.objects.filter(type="job.metric", topic=f"job:{job.id}").exists()


def test_bad_data_fails_the_job_with_its_code_and_no_trace(project, owner, version, steps):
    steps.hook = staticmethod(lambda step: 1 / 0)
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec(algorithm="test_steps")))
    assert job.status == Status.FAILED and job.error_code == "TRAINING_FAILED"
    assert "division by zero" in job.error_message and "Traceback" not in job.error_message
    assert job.finished_at and not ModelVersion.objects.exists()
    # Stored by the worker in the language of the request that sent it; read by each member in their own.
    with translation.override("en"):
        english = job_representation(job)
    with translation.override("zh-hans"):
        chinese = job_representation(job)
    assert (english["stage"], chinese["stage"]) == ("Failed", "失败")
    assert english["error"]["message"] == "Training failed: division by zero"
    assert chinese["error"]["message"] == "训练失败：division by zero"
    # So does its event, for each subscriber; a plain progress tick's stage too.
    rows = event_list(topics=[f"job:{job.id}"], after=0, limit=100)
    [failed] = [row for row in rows if row["type"] == "job.status" and row["data"]["status"] == "failed"]
    assert wire_localized(failed, "en")["data"]["error"] == english["error"]
    assert wire_localized(failed, "zh-hans")["data"]["error"] == chinese["error"]
    assert (wire_localized(failed, "en")["data"]["stage"], wire_localized(failed, "zh-hans")["data"]["stage"]) == (
        "Failed",
        "失败",
    )
    [logged] = JobLog.objects.filter(job=job, level="ERROR").values_list("message", flat=True)
    assert logged == "TRAINING_FAILED: Training failed: division by zero"  # the log is in English
    stages = {wire_localized(row, "en")["data"]["stage"] for row in rows if row["type"] == "job.progress"}
    assert "Loading the data" in stages or "Training" in stages, stages


def test_a_succeeded_jobs_stage_is_read_in_each_readers_language(project, owner, version):
    with translation.override("zh-hans"):
        job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    assert job.stage == "成功"
    with translation.override("en"):
        assert job_representation(job)["stage"] == "Succeeded"
    # Its log is a program's log, in English, the stages too: no line in another language.
    logged = list(JobLog.objects.filter(job=job).values_list("message", flat=True))
    assert "Loading the data" in logged and "Preparing the features" in logged
    assert all(message.replace("训练数据", "").isascii() for message in logged), logged
    # A plugin's own stage text has no translations: read as it is, and an earlier stage's do not linger.
    stored = services._stored(job, stage="第三方插件的阶段")
    assert stored == ["stage", "translations"] and "stage" not in job.translations
    with translation.override("en"):
        assert job_representation(job)["stage"] == "第三方插件的阶段"


def test_a_task_delivered_twice_trains_once(project, owner, version):
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    services.job_run(job_id=job.id, task_id=job.task_id, hostname="test@worker")
    assert ModelVersion.objects.count() == 1


def test_a_stale_task_of_an_older_dispatch_does_nothing(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    services.job_run(job_id=job.id, task_id="not-its-task", hostname="test@worker")
    job.refresh_from_db()
    assert job.status == Status.QUEUED


# --- cancel and retry ---------------------------------------------------------------------------------------


def test_a_cancelled_queued_job_never_starts(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    services.job_cancel(job=job, actor=owner)
    job = run(job)
    assert job.status == Status.CANCELLED and job.started_at is None and not ModelVersion.objects.exists()


def test_a_running_job_stops_at_its_next_step_when_cancelled(project, owner, version, steps):
    def cancel_at_3(step):
        if step == 3:
            services.job_cancel(job=TrainingJob.objects.get(), actor=owner)

    steps.hook = staticmethod(cancel_at_3)
    job = run(
        services.job_create(
            project=project,
            version=version,
            actor=owner,
            data=spec(algorithm="test_steps", hyperparameters={"steps": 50}),
        )
    )
    assert job.status == Status.CANCELLED
    assert job.metric_steps < 5  # it stopped, it did not run its 50 steps
    assert not ModelVersion.objects.exists()
    assert JobLog.objects.filter(job=job, message__contains="cancelled").exists()
    # Its stage says so in each reader's language, not a translation of the stage it was cancelled in.
    for language, cancelled in (("en", "Cancelled"), ("zh-hans", "已取消")):
        with translation.override(language):
            assert job_representation(job)["stage"] == cancelled


def test_a_finished_job_cannot_be_cancelled_and_a_running_one_not_retried(project, owner, version):
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    with pytest.raises(JobNotCancellable):
        services.job_cancel(job=job, actor=owner)
    queued = services.job_create(project=project, version=version, actor=owner, data=spec())
    with pytest.raises(JobNotFinished):
        services.job_retry(job=queued, actor=owner)


def test_retry_makes_a_new_attempt_with_the_same_spec(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec(seed=11, model_name="m"))
    services.job_cancel(job=job, actor=owner)
    again = run(services.job_retry(job=job, actor=owner))
    assert again.pk != job.pk and again.attempt == 2 and again.retry_of_id == job.pk
    assert (again.seed, again.model_name, again.features, again.hyperparameters) == (
        job.seed,
        job.model_name,
        job.features,
        job.hyperparameters,
    )
    assert again.status == Status.SUCCEEDED


# --- time limits, slots, the sweeper, lost workers ------------------------------------------------------------


def test_a_job_past_its_time_limit_fails(project, owner, version, steps):
    steps.pause = 0.4
    job = run(
        services.job_create(
            project=project,
            version=version,
            actor=owner,
            data=spec(algorithm="test_steps", hyperparameters={"steps": 100}, time_limit=1),
        )
    )
    assert job.status == Status.FAILED and job.error_code == "TIME_LIMIT"
    assert job.metric_steps < 10


def test_jobs_past_the_running_limit_wait_in_queued(
    project, owner, version, settings, django_capture_on_commit_callbacks
):
    settings.AIMODELS_MAX_RUNNING_PER_USER = 1
    first = services.job_create(project=project, version=version, actor=owner, data=spec())
    second = services.job_create(project=project, version=version, actor=owner, data=spec())
    second.refresh_from_db()
    assert first.task_id and not second.task_id  # waits for a slot
    with django_capture_on_commit_callbacks(execute=True):
        run(first)  # its end frees the slot: the second is sent, and (tasks are eager here) runs
    second.refresh_from_db()
    assert second.task_id and second.status == Status.SUCCEEDED
    assert second.started_at >= first.finished_at


def test_the_sweeper_fails_jobs_whose_heartbeat_stopped(project, owner, version):
    lost = services.job_create(project=project, version=version, actor=owner, data=spec())
    alive = services.job_create(project=project, version=version, actor=owner, data=spec())
    old = timezone.now() - timedelta(minutes=5)
    TrainingJob.objects.filter(pk=lost.pk).update(status=Status.RUNNING, started_at=old, heartbeat_at=old)
    TrainingJob.objects.filter(pk=alive.pk).update(status=Status.RUNNING, started_at=old, heartbeat_at=timezone.now())
    result = services.jobs_sweep(stale_after=timedelta(seconds=60))
    lost.refresh_from_db()
    alive.refresh_from_db()
    assert result["failed"] == 1
    assert lost.status == Status.FAILED and lost.error_code == "WORKER_LOST" and lost.finished_at
    assert alive.status == Status.RUNNING


def test_the_sweeper_names_a_time_limit_overrun(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec(time_limit=60))
    old = timezone.now() - timedelta(minutes=5)
    TrainingJob.objects.filter(pk=job.pk).update(status=Status.RUNNING, started_at=old, heartbeat_at=old)
    services.jobs_sweep(stale_after=timedelta(seconds=60))
    job.refresh_from_db()
    assert job.error_code == "TIME_LIMIT"


def test_the_sweeper_resends_jobs_an_in_memory_broker_lost(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    task_id = job.task_id
    result = services.jobs_sweep(requeue_queued_before=timezone.now() + timedelta(seconds=1))
    job.refresh_from_db()
    assert result["requeued"] == 1 and result["sent"] == 1
    assert job.task_id and job.task_id != task_id
    assert run(job).status == Status.SUCCEEDED


def test_a_redelivered_task_of_a_dead_worker_fails_the_job(project, owner, version, settings):
    settings.AIMODELS_HEARTBEAT_SECONDS = 0.2
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    TrainingJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING, started_at=timezone.now(), heartbeat_at=timezone.now(), worker="dead (pid 1)"
    )
    job = run(job)
    assert job.status == Status.FAILED and job.error_code == "WORKER_LOST"


# --- models ----------------------------------------------------------------------------------------------------


def test_promoting_to_production_archives_the_previous_one(project, owner, version):
    for _ in range(2):
        run(services.job_create(project=project, version=version, actor=owner, data=spec(model_name="m")))
    v1, v2 = ModelVersion.objects.order_by("number")
    services.model_version_stage(version=v1, actor=owner, stage="production")
    services.model_version_stage(version=v2, actor=owner, stage="production")
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.stage, v2.stage) == ("archived", "production")
    with pytest.raises(StageUnchanged):
        services.model_version_stage(version=v2, actor=owner, stage="production")


def test_a_version_used_by_a_job_or_model_cannot_be_deleted_but_the_project_can(project, owner, version):
    run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    with pytest.raises(VersionInUse) as caught:
        dataset_services.dataset_version_delete(version=version, actor=owner)
    assert {user["kind"] for user in caught.value.details["used_by"]} == {"trainingjob", "modelversion"}
    # Named for people, in their language (the default here: zh-hans); in English too.
    assert str(caught.value.detail) == "版本 1 正被 1 训练任务, 1 模型版本 使用。"
    with translation.override("en"), pytest.raises(VersionInUse) as caught:
        run(services.job_create(project=project, version=version, actor=owner, data=spec()))
        dataset_services.dataset_version_delete(version=version, actor=owner)
    assert str(caught.value.detail) == "Version 1 is used by 2 training jobs, 2 model versions."
    from projects import services as project_services

    project_services.project_delete(project=project, actor=owner)
    assert not TrainingJob.objects.exists() and not ModelVersion.objects.exists()


def test_predict_checks_rows_against_the_signature(project, owner, version):
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    mv = job.model_version
    row = {"城市": "北京", "x1": 1.5, "x2": 3, "amount": 2.0}
    result = inference.model_predict(version=mv, rows=[row, {**row, "x1": -2.0}])
    assert len(result["predictions"]) == 2 and set(result["predictions"]) <= {"是", "否"}
    assert all(sum(p.values()) == pytest.approx(1.0) for p in result["probabilities"])
    with pytest.raises(InvalidInput) as caught:
        inference.model_predict(version=mv, rows=[row, {**row, "x1": "不是数字"}])
    assert "rows.1.x1" in caught.value.errors


def test_a_tampered_artifact_is_refused(project, owner, version):
    from aimodels.errors import ArtifactInvalid

    job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    mv = job.model_version
    with open(storage.local_copy(mv.artifact), "ab") as handle:
        handle.write(b"x")
    with pytest.raises(ArtifactInvalid):
        inference.model_load(mv)


def test_model_loads_are_cached_per_sha256(project, owner, version, monkeypatch):
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    reads = []
    original = inference._read
    monkeypatch.setattr(inference, "_read", lambda name: reads.append(name) or original(name))
    first = inference.model_load(job.model_version)
    assert inference.model_load(job.model_version) is first and len(reads) == 1
    np.testing.assert_array_equal(first.classes_, np.array(["否", "是"], dtype=object))


def test_a_class_with_a_nul_character_trains_and_is_stored_as_the_replacement_character(project, owner):
    """A target value holding NUL reached the model's signature (its classes), which PostgreSQL cannot store: the
    trained job failed at its very end, with the SQL error as its message."""
    import json

    from datasets.tests.factories import make_dataset

    lines = [json.dumps({"x1": i % 7, "x2": i % 5, "cls": "x\u0000y" if i % 2 else "ok"}) for i in range(60)]
    dataset = make_dataset(project, owner, content="\n".join(lines).encode(), file_name="nul.jsonl", profile=False)
    job = run(
        services.job_create(project=project, version=dataset.latest_version, actor=owner, data=spec(target="cls"))
    )
    assert job.status == "succeeded", job.error_message
    assert sorted(job.model_version.signature["classes"]) == ["ok", "x\ufffdy"]
    assert sorted(job.metrics["confusion_matrix"]["labels"]) == ["ok", "x\ufffdy"]
    assert sorted(job.model_version.metrics["confusion_matrix"]["labels"]) == ["ok", "x\ufffdy"]


def test_a_database_error_in_training_fails_the_job_without_its_sql(project, owner, version, monkeypatch):
    from django.db import DataError

    def broken(*args, **kwargs):
        raise DataError("unsupported Unicode escape sequence\nLINE 1: INSERT INTO \"secret_table\" VALUES (E'x')")

    monkeypatch.setattr(services, "_succeed", broken)
    job = run(services.job_create(project=project, version=version, actor=owner, data=spec()))
    assert (job.status, job.error_code) == ("failed", "TRAINING_FAILED")
    with translation.override("en"):
        assert job_representation(job)["error"]["message"] == "Training failed: DataError"
