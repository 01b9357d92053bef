"""Fixtures of the analytics tests: `admin`, and `make`, which builds rows with the dates a figure counts."""

import itertools
from datetime import datetime
from typing import Any

import pytest
from django.db.models import F

from accounts.models import User
from accounts.tests.factories import UserFactory
from aimodels.models import Model, ModelVersion, TrainingJob
from aimodels.services import job_counts_rebuild
from datasets.models import Dataset, DatasetVersion
from projects.models import Application, Membership, Project
from projects.services import public_memberships_recount
from projects.tests.factories import make_project

_numbers = itertools.count(1)


def _dated(obj: Any, **dates: datetime | None) -> Any:
    """Sets auto_now_add fields (and others) after the fact, without save() touching them again."""
    dates = {name: value for name, value in dates.items() if value is not None}
    if dates:
        type(obj).objects.filter(pk=obj.pk).update(**dates)
        for name, value in dates.items():
            setattr(obj, name, value)
    return obj


class Make:
    """Projects through projects.services (owner membership, events); everything else straight through the ORM,
    which is all a figure reads and much faster than uploading files or training."""

    @staticmethod
    def project(owner: User | None = None, *, created_at: datetime | None = None, **data: Any) -> Project:
        data.setdefault("name", f"项目{next(_numbers)}")
        return _dated(make_project(owner, **data), created_at=created_at)

    @staticmethod
    def member(project: Project, user: User | None = None, *, role: str = "member", joined_at: datetime | None = None):
        membership = Membership.objects.create(project=project, user=user or UserFactory(), role=role)
        public_memberships_recount(user_ids=[membership.user_id])
        return _dated(membership, joined_at=joined_at).user

    @staticmethod
    def application(project: Project, applicant: User | None = None, *, created_at: datetime | None = None):
        application = Application.objects.create(project=project, applicant=applicant or UserFactory())
        return _dated(application, created_at=created_at)

    @staticmethod
    def version(
        project: Project,
        *,
        dataset: Dataset | None = None,
        created_at: datetime | None = None,
        source: str = DatasetVersion.Source.UPLOAD,
    ) -> DatasetVersion:
        dataset = dataset or Dataset.objects.create(project=project, name=f"数据集{next(_numbers)}")
        version = DatasetVersion.objects.create(
            dataset=dataset,
            number=next(_numbers),
            status=DatasetVersion.Status.READY,
            source=source,
            file_name="数据.csv",
            format="csv",
            content_type="text/csv",
        )
        # As datasets.services._version_new keeps it (the overview sums it).
        Dataset.objects.filter(pk=dataset.pk).update(version_count=F("version_count") + 1)
        return _dated(version, created_at=created_at)

    @staticmethod
    def job(
        project: Project,
        *,
        status: str = TrainingJob.Status.QUEUED,
        version: DatasetVersion | None = None,
        created_at: datetime | None = None,
        started_at: datetime | None = None,
        finished_at: datetime | None = None,
    ) -> TrainingJob:
        job = TrainingJob.objects.create(
            project=project,
            dataset_version=version or Make.version(project),
            algorithm="logistic_regression",
            task="classification",
            time_limit=600,
            model_name="模型",
            status=status,
            started_at=started_at,
            finished_at=finished_at,
        )
        job_counts_rebuild(project_ids=[project.id])  # as aimodels.services keeps them when a job is made
        return _dated(job, created_at=created_at)

    @staticmethod
    def model_version(project: Project, *, stage: str = ModelVersion.Stage.NONE) -> ModelVersion:
        model = Model.objects.create(project=project, name=f"模型{next(_numbers)}", task="classification")
        return ModelVersion.objects.create(
            model=model,
            number=1,
            stage=stage,
            dataset_version=Make.version(project),
            algorithm="logistic_regression",
            artifact="models/x.skops",
            artifact_size=1,
            artifact_sha256="0" * 64,
        )


@pytest.fixture
def make(db) -> type[Make]:
    return Make


@pytest.fixture
def admin(db) -> User:
    return UserFactory(is_staff=True)
