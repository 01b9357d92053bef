"""Each project's job counts (ProjectJobCounts), which the analytics overview sums: kept as jobs move (the
autouse check in conftest.py compares them with the jobs after every test of the database), made by the first job
even when another makes the row first, repaired from the jobs when they were written by hand."""

import pytest
from django.core.management import call_command
from django.utils import timezone

from aimodels import services
from aimodels.models import ProjectJobCounts, TrainingJob

from .conftest import job_counts_disagree
from .factories import run, spec

pytestmark = pytest.mark.django_db

Status = TrainingJob.Status


def _counts(project) -> dict[str, int]:
    row = ProjectJobCounts.objects.filter(project=project).values(
        "queued", "running", "succeeded", "failed", "cancelled", "timed"
    )
    return row.first() or {}


def test_counts_follow_a_job_through_its_states(project, owner, version):
    first = services.job_create(project=project, version=version, actor=owner, data=spec())
    second = services.job_create(project=project, version=version, actor=owner, data=spec())
    assert _counts(project) == {"queued": 2, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 0, "timed": 0}
    run(first)
    services.job_cancel(job=second, actor=owner)
    assert _counts(project) == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 1, "timed": 1}
    services.job_retry(job=second, actor=owner)
    assert _counts(project)["queued"] == 1


def test_a_first_job_racing_another_finds_the_row_the_other_made(project, monkeypatch):
    # Another transaction's first job of the project committed the row just after our update found none.
    ProjectJobCounts.objects.create(project=project, queued=1)
    lookups = []
    real = ProjectJobCounts.objects.filter

    def blind_once(*args, **kwargs):
        lookups.append(kwargs)
        return ProjectJobCounts.objects.none() if len(lookups) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(ProjectJobCounts.objects, "filter", blind_once)
    services._job_counts_move(project.id, None, (Status.QUEUED.value, False))
    monkeypatch.undo()
    assert _counts(project)["queued"] == 2
    assert len(lookups) == 2  # the insert failed on the other's row, and the second update found it
    ProjectJobCounts.objects.filter(project=project).delete()  # there were no jobs: for the autouse check


def test_counts_changed_by_hand_are_counted_again_at_the_next_move(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    ProjectJobCounts.objects.filter(project=project).update(queued=0)  # a move out of queued would go below zero
    services.job_cancel(job=job, actor=owner)
    assert _counts(project) == {"queued": 0, "running": 0, "succeeded": 0, "failed": 0, "cancelled": 1, "timed": 0}


def test_jobs_recount_repairs_counts_after_jobs_were_written_by_hand(project, owner, version):
    job = services.job_create(project=project, version=version, actor=owner, data=spec())
    now = timezone.now()
    TrainingJob.objects.filter(pk=job.pk).update(status=Status.SUCCEEDED, started_at=now, finished_at=now)
    assert job_counts_disagree()  # what the autouse check would report
    call_command("jobs_recount", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert _counts(project) == {"queued": 0, "running": 0, "succeeded": 1, "failed": 0, "cancelled": 0, "timed": 1}
    assert job_counts_disagree() == {}


def test_a_deleted_project_takes_its_counts_along(project, owner, version):
    services.job_create(project=project, version=version, actor=owner, data=spec())
    project_id = project.id
    project.delete()
    assert not ProjectJobCounts.objects.filter(project_id=project_id).exists()
