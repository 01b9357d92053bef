"""Train a few models on the sandbox's example datasets, so it has finished jobs, metric charts and model
versions to show (the newest of each model in production) (idempotent). seed_sandbox runs it."""

from typing import Any

from django.core.management.base import BaseCommand

from aimodels import services
from aimodels.models import Model, TrainingJob
from datasets.models import Dataset

# (dataset name, version, job data): the reviews' preprocessed version has its own train/test split.
JOBS: list[tuple[str, int, dict[str, Any]]] = [
    (
        "客户评论 Customer reviews",
        2,
        {
            "algorithm": "random_forest_classifier",
            "target": "是否推荐",
            "features": ["商品", "评分", "点赞数"],
            "validation": "split",
            "hyperparameters": {"n_estimators": 60, "max_depth": 6},
            "model_name": "推荐预测 Recommendation",
            "seed": 42,
        },
    ),
    (
        "客户评论 Customer reviews",
        2,
        {
            "algorithm": "mlp_classifier",
            "target": "是否推荐",
            "features": ["商品", "评分", "点赞数"],
            "validation": "split",
            "hyperparameters": {"epochs": 40},
            "model_name": "推荐预测 Recommendation",
            "seed": 42,
        },
    ),
    (
        "House prices",
        1,
        {
            "algorithm": "hist_gradient_boosting_regressor",
            "target": "price_usd",
            "features": ["area_sqm", "bedrooms", "district", "year_built", "has_garden"],
            "model_name": "House price",
            "seed": 7,
        },
    ),
    (
        "城市空气质量",
        1,
        {
            "algorithm": "logistic_regression",
            "target": "空气质量等级",
            "features": ["城市", "PM2.5", "PM10"],
            "model_name": "空气质量等级",
            "seed": 1,
        },
    ),
]


class Command(BaseCommand):
    help = "Add finished training jobs and model versions to the sandbox (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        from incubator.celery import app

        # No worker runs beside a management command: the jobs train inline, after commit.
        app.conf.task_always_eager = True
        if TrainingJob.objects.exists():
            self.stdout.write(f"  {TrainingJob.objects.count()} training jobs already there")
            return
        made = 0
        for dataset_name, number, data in JOBS:
            dataset = Dataset.objects.filter(name=dataset_name).select_related("project__owner").first()
            version = dataset.versions.filter(number=number).first() if dataset else None
            if dataset is None or version is None:
                self.stdout.write(f"  no dataset {dataset_name} v{number}: run seed_datasets first")
                continue
            services.job_create(project=dataset.project, version=version, actor=dataset.project.owner, data=data)
            made += 1
        for model in Model.objects.all():
            best = model.versions.order_by("-number").first()
            if best is not None:
                services.model_version_stage(version=best, actor=model.project.owner, stage="production")
        self.stdout.write(f"  {made} training jobs run, {Model.objects.count()} models")
