"""A ready dataset to train on, made the way the API makes them, and jobs run as the worker runs them."""

import random
from typing import Any

from accounts.models import User
from aimodels import services
from aimodels.models import TrainingJob
from datasets.models import DatasetVersion
from datasets.tests.factories import make_dataset
from projects.models import Project

CITIES = ["北京", "上海", "广州", "深圳"]


def training_csv(rows: int = 240, seed: int = 7) -> bytes:
    """城市 (a category), x1 and x2 (numbers), 标签 (是/否, mostly from x1) and amount (a regression target)."""
    rng = random.Random(seed)
    lines = ["城市,x1,x2,标签,amount"]
    for i in range(rows):
        city = CITIES[i % len(CITIES)]
        x1 = round(rng.gauss(0, 1), 4)
        x2 = rng.randint(0, 100)
        label = "是" if x1 + rng.gauss(0, 0.4) + (0.5 if city == "北京" else 0) > 0.2 else "否"
        amount = round(3 * x1 + 0.05 * x2 + rng.gauss(0, 0.3), 4)
        lines.append(f"{city},{x1},{x2},{label},{amount}")
    return ("\n".join(lines) + "\n").encode()


def ready_version(project: Project, actor: User, *, rows: int = 240, name: str = "训练数据") -> DatasetVersion:
    dataset = make_dataset(project, actor, content=training_csv(rows), name=name, file_name="train.csv", profile=False)
    version = dataset.latest_version
    assert version is not None and version.status == DatasetVersion.Status.READY, version and version.error_message
    return version


def spec(**overrides: Any) -> dict[str, Any]:
    return {"algorithm": "logistic_regression", "target": "标签", "seed": 3, **overrides}


def run(job: TrainingJob) -> TrainingJob:
    """Runs the job's task as a worker would (the task id it was sent with), and reloads it."""
    job.refresh_from_db()
    services.job_run(job_id=job.id, task_id=job.task_id, hostname="test@worker")
    job.refresh_from_db()
    return job


def houses_csv(rows: int = 80, seed: int = 5) -> bytes:
    """The sandbox's house prices in small: the columns the job and predict examples of the OpenAPI name."""
    rng = random.Random(seed)
    lines = ["area_sqm,bedrooms,district,year_built,has_garden,price_usd"]
    for _ in range(rows):
        area = round(rng.uniform(35, 220), 1)
        district = rng.choice(["Downtown", "Riverside", "Old Town"])
        year, garden = rng.randint(1965, 2025), rng.random() < 0.3
        lines.append(f"{area},{max(1, int(area // 40))},{district},{year},{garden},{round(area * 4000 + year * 10)}")
    return ("\n".join(lines) + "\n").encode()


def trained_houses(project: Project, actor: User) -> Any:
    """A ridge model of house prices, version 1, trained as its job would be; returns the model version."""
    dataset = make_dataset(project, actor, content=houses_csv(), name="House prices", file_name="h.csv", profile=False)
    job = services.job_create(
        project=project,
        version=dataset.latest_version,
        actor=actor,
        data={"algorithm": "ridge", "target": "price_usd", "model_name": "房价 House price"},
    )
    job = run(job)
    assert job.status == TrainingJob.Status.SUCCEEDED, job.error_message
    return job.model_version
