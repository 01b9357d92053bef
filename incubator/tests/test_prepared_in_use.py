"""The prepared lookups the views use (projects.access.ProjectRowLookup), object for object what the ORM's
.first() makes, and the plan cache across threads: found by a review, each test seen failing first."""

import gc
import threading
import weakref

import pytest
from django.db import connections

from aimodels import selectors as model_selectors
from aimodels.models import Model, TrainingJob
from aimodels.tests.factories import trained_houses
from datasets import selectors as dataset_selectors
from datasets.models import Dataset
from incubator.prepared import PreparedLookup
from projects import access
from projects.access import project_access, with_role_of
from projects.models import Project
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


def _public(obj):
    skip = {"_state"} | ({"caller_role", "caller_role_of"} if type(obj) is Project else set())
    return {k: v for k, v in vars(obj).items() if k not in skip}


def deep_same(found, expected, path="row", seen=None):
    assert type(found) is type(expected), path
    if found is None:
        return
    assert _public(found) == _public(expected), path
    assert found._state.db == expected._state.db and found._state.adding == expected._state.adding, path
    theirs = expected._state.fields_cache
    assert set(found._state.fields_cache) == set(theirs), path
    for name, value in theirs.items():
        deep_same(found._state.fields_cache[name], value, f"{path}.{name}")


@pytest.fixture
def version(user):
    return trained_houses(make_project(user, name="房价预测"), user)


def test_null_select_related_rows_are_what_first_makes(version, user):
    job = TrainingJob.objects.get(model_version=version)
    type(version).objects.filter(pk=version.pk).update(job=None)  # the job's reverse one-to-one is NULL
    model = version.model
    Model.objects.filter(pk=model.pk).update(latest_version=None)
    dataset = version.dataset_version.dataset
    Dataset.objects.filter(pk=dataset.pk).update(latest_version=None, created_by=None)
    mentor = add_member(model.project, "mentor")
    for viewer in (user, mentor, make_project().owner):
        for lookup, build, pk in (
            (
                model_selectors._JOB,
                lambda pk: TrainingJob.objects.select_related(
                    "project", "dataset_version__dataset", "model_version__model"
                ).filter(pk=pk),
                job.pk,
            ),
            (
                model_selectors._MODEL,
                lambda pk: Model.objects.select_related("project", "latest_version").filter(pk=pk),
                model.pk,
            ),
            (
                dataset_selectors._DATASET,
                lambda pk: Dataset.objects.select_related("project", "latest_version", "created_by").filter(pk=pk),
                dataset.pk,
            ),
        ):
            names = lookup.anonymous.names
            found = lookup.first(viewer, **{names[0]: pk})
            expected = with_role_of(build(pk), viewer.pk, project="project").first()
            deep_same(found, expected)
            assert found.project.caller_role_of == viewer.pk
            assert found.project.caller_role == expected.caller_role
            anon = lookup.first(None, **{names[0]: pk})
            deep_same(anon, build(pk).first())


@pytest.mark.parametrize("plan", [False, True])
def test_a_plan_does_not_keep_a_dead_threads_connection_alive(plan):
    """A plan keeps nothing of the connection that built it: a plan keyed by the connection and holding its
    ops' bound methods (SQLite's converters) kept every finished thread's connection alive."""
    lookup = PreparedLookup(Project, lambda project_id: Project.objects.filter(pk=project_id).select_related("owner"))
    refs = []

    def elsewhere():
        wrapper = connections["default"]
        refs.append(weakref.ref(wrapper))
        if plan:
            lookup._plan(wrapper, "default")  # builds SQL only: no query

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    gc.collect()  # a wrapper and its ops refer to each other
    assert refs[0]() is None, "the dead thread's DatabaseWrapper is kept alive by the plan cache"


def test_a_viewer_whose_id_is_beyond_32_bits_sees_a_public_project(make_user, api_client):
    """User ids are 64-bit (BigAutoField): the viewer's id in with_role_of is too. As a 32-bit Value (psycopg's
    Int4) the prepared lookup's range check answered 'no such project' to such a user on PostgreSQL."""
    big = make_user(id=2**31 + 7)
    project = make_project(visibility="public")
    found = access._PROJECT.first(big, project_id=project.pk)
    assert found is not None and found.pk == project.pk
    assert project_access(project=found, user=big).can_read


def test_orm_path_for_a_big_viewer_id(make_user):
    big = make_user(id=2**31 + 7)
    project = make_project(visibility="public")
    found = with_role_of(Project.objects.filter(pk=project.pk), big.pk).first()
    assert found is not None and found.caller_role_of == big.pk


def test_api_a_big_id_user_reads_a_public_project(make_user, auth_client):
    big = make_user(id=2**31 + 7)
    project = make_project(visibility="public")
    assert auth_client(big).get(f"/api/v1/projects/{project.id}").status_code == 200


@pytest.mark.django_db(transaction=True)
def test_under_asgi_the_plan_is_built_once_not_per_request(monkeypatch):
    """Django's ASGIHandler runs each request's sync code in a new thread, so with a new connection object: a plan
    per connection was a plan per request. It is one per database (built twice: two sets of stand-ins)."""
    import asyncio

    from django.core.asgi import get_asgi_application
    from django.db.models.sql.compiler import SQLCompiler

    compiled = []
    original = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        if self.query.model is Project:
            compiled.append(threading.get_ident())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    # Plans are kept per process: start without the one an earlier test of this process built.
    monkeypatch.setattr(access._PROJECT.anonymous, "_plans", {})
    app = get_asgi_application()

    async def request():
        sent = []
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/api/v1/projects/987654",
            "raw_path": b"/api/v1/projects/987654",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }
        messages = [{"type": "http.request", "body": b"", "more_body": False}]

        async def receive():
            if messages:
                return messages.pop()
            await asyncio.sleep(3600)

        async def send(message):
            sent.append(message)

        await app(scope, receive, send)
        return sent[0]["status"]

    async def main():
        return [await request() for _ in range(3)]

    assert asyncio.run(main()) == [404, 404, 404]
    assert len(compiled) == 2, f"built {len(compiled)} times on {len(set(compiled))} threads"


def test_predict_lookup_with_only_matches_first(version, user):
    from aimodels.selectors import _VERSION_FOR_PREDICT, _version_for_predict

    for viewer in (user, add_member(version.model.project, "member"), make_project().owner):
        found = _VERSION_FOR_PREDICT.first(viewer, model_id=version.model_id, number=version.number)
        expected = with_role_of(
            _version_for_predict(version.model_id, version.number), viewer.pk, project="model__project"
        ).first()
        deep_same(found, expected)
        assert found.get_deferred_fields() == expected.get_deferred_fields() != set()
        assert found.model.get_deferred_fields() == expected.model.get_deferred_fields()
        assert project_access(project=found.model.project, user=viewer).role == expected.caller_role
    assert _VERSION_FOR_PREDICT.first(None, model_id=version.model_id, number=0) is None


def test_a_constant_equal_to_a_stand_in_stays_a_constant(user):
    """A queryset's constant equal to a stand-in stays a constant: only parameters that change with the
    stand-ins are the values' slots."""
    from incubator.prepared import _STAND_IN_BASE

    project = make_project(user)
    Project.objects.filter(pk=project.pk).update(member_count=project.pk)

    def build(project_id):
        return Project.objects.filter(pk=project_id).exclude(member_count=_STAND_IN_BASE)

    assert build(project.pk).first() == project
    assert PreparedLookup(Project, build).first(project_id=project.pk) == project
