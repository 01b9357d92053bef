"""The scope every figure filters through: narrowing to a project never widens what a caller may count."""

from accounts.tests.factories import UserFactory
from aimodels.models import TrainingJob
from analytics.scope import Scope


def test_a_project_narrowing_counts_nothing_the_caller_may_not_read(make, admin):
    private = make.project(visibility="private")
    public = make.project(visibility="public")
    make.job(private)
    make.job(public)
    outsider = UserFactory()

    def jobs(scope: Scope) -> int:
        return TrainingJob.objects.filter(scope.q()).count()

    assert jobs(Scope(outsider, project_id=private.id)) == 0
    assert jobs(Scope(outsider, project_id=public.id)) == 1
    assert jobs(Scope(outsider)) == 1
    assert jobs(Scope(private.owner, project_id=private.id)) == 1
    assert jobs(Scope(admin, project_id=private.id)) == 1 and jobs(Scope(admin)) == 2
    assert Scope(outsider).key != Scope(private.owner).key != Scope(admin).key
    assert Scope(admin, project_id=private.id).key != Scope(admin).key
