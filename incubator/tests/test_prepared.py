"""PreparedLookup: the object QuerySet.first() makes, from SQL the ORM built once per database."""

import threading

import pytest
from django.db import connection, connections
from django.db.models import Count, Q
from django.db.models.sql.compiler import SQLCompiler

from aimodels.models import ModelVersion
from aimodels.tests.factories import trained_houses
from incubator.prepared import PreparedLookup
from projects.access import with_role_of
from projects.models import Membership, Project
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


def versions(model_id, number, viewer_id):
    found = ModelVersion.objects.select_related("model__project__owner").filter(model_id=model_id, number=number)
    return with_role_of(found, viewer_id, project="model__project")


@pytest.fixture
def version(user):
    return trained_houses(make_project(user, name="房价预测"), user)


def same(found, expected):
    """Every field, related object and annotation of `found` equals `expected`'s."""
    assert type(found) is type(expected) and found.pk == expected.pk
    for field in ModelVersion._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(expected, field.attname), field.name
    assert found.model.__dict__.keys() >= {"name", "task"}  # select_related made the related objects
    for path in ("model", "model.project", "model.project.owner"):
        ours, theirs = found, expected
        for name in path.split("."):
            ours, theirs = getattr(ours, name), getattr(theirs, name)
        assert {k: v for k, v in vars(ours).items() if k != "_state"} == {
            k: v for k, v in vars(theirs).items() if k != "_state"
        }, path
    assert (found.caller_role, found.caller_role_of) == (expected.caller_role, expected.caller_role_of)
    assert found._state.db == expected._state.db and not found._state.adding


def test_the_object_is_the_one_first_makes(version, user, django_assert_num_queries):
    lookup = PreparedLookup(ModelVersion, versions)
    for viewer in (user, add_member(version.model.project, "mentor"), make_project().owner):
        expected = versions(version.model_id, version.number, viewer.pk).first()
        with django_assert_num_queries(1):  # the related objects too: none is loaded afterwards
            found = lookup.first(model_id=version.model_id, number=version.number, viewer_id=viewer.pk)
            same(found, expected)
    assert isinstance(found.signature, dict) and found.created_at.tzinfo is not None  # the converters ran
    assert found.caller_role is None and lookup.first(model_id=version.model_id, number=99, viewer_id=1) is None


def test_the_sql_is_built_once_per_database(version, user, monkeypatch):
    compiled = []
    original = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        compiled.append(self.query.model)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    lookup = PreparedLookup(ModelVersion, versions)
    for number in (version.number, version.number, 2):
        lookup.first(model_id=version.model_id, number=number, viewer_id=user.pk)
    assert compiled.count(ModelVersion) == 2

    def elsewhere():
        # Another thread has its own connection (converters bound to it), and the alias's plan.
        try:
            found = lookup.first(model_id=version.model_id, number=version.number, viewer_id=user.pk)
            results.append(found.pk if found else None)
        finally:
            connection.close()

    results = []
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database is not shared with another thread")
    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    assert compiled.count(ModelVersion) == 2  # built (twice: two sets of stand-ins) once for the alias


def test_values_take_the_place_of_every_stand_in(version, user):
    """The same value in two places (the viewer, in the subquery and as a column) and values next to the
    queryset's own constants (a role, a count) land where they belong."""

    def members(project_id, user_id):
        return (
            Project.objects.filter(pk=project_id)
            .filter(Q(memberships__user_id=user_id) | Q(visibility="public"))
            .annotate(writers=Count("memberships", filter=Q(memberships__role__in=["owner", "maintainer"])))
            .distinct()
        )

    lookup = PreparedLookup(Project, members)
    project = version.model.project
    add_member(project, "maintainer")
    found = lookup.first(project_id=project.pk, user_id=user.pk)
    assert found == members(project.pk, user.pk).first() and found.writers == 2
    private = make_project(visibility="private")
    assert lookup.first(project_id=private.pk, user_id=user.pk) is None
    assert lookup.first(project_id=private.pk, user_id=private.owner_id).pk == private.pk


def test_of_several_rows_the_first_by_primary_key_unless_ordered(user):
    projects = [make_project(user, name=f"项目 {index}") for index in range(3)]
    Project.objects.filter(pk=projects[0].pk).update(name="项目 9")  # PostgreSQL moves an updated row to the end
    by_owner = PreparedLookup(Project, lambda owner_id: Project.objects.filter(owner_id=owner_id))
    assert by_owner.first(owner_id=user.pk).pk == projects[0].pk
    by_name = PreparedLookup(Project, lambda owner_id: Project.objects.filter(owner_id=owner_id).order_by("-name"))
    assert by_name.first(owner_id=user.pk).pk == projects[0].pk
    assert "ORDER BY" in by_owner._plan(connections["default"], "default").sql


@pytest.mark.parametrize("number", [2**31, 2**63, 10**20, -(2**63) - 1])
def test_a_value_beyond_its_columns_range_finds_nothing(version, user, number):
    """As the ORM answers it (no row, without asking the database, which would refuse the value)."""
    lookup = PreparedLookup(ModelVersion, versions)
    assert lookup.first(model_id=version.model_id, number=version.number, viewer_id=user.pk) is not None
    assert lookup.first(model_id=version.model_id, number=number, viewer_id=user.pk) is None
    assert lookup.first(model_id=number, number=version.number, viewer_id=user.pk) is None


def test_a_value_that_is_not_an_id_takes_the_orms_own_path(version, user):
    lookup = PreparedLookup(ModelVersion, versions)
    found = lookup.first(model_id=str(version.model_id), number=version.number, viewer_id=user.pk)
    assert found.pk == version.pk and found.caller_role == Membership.Role.OWNER
    with pytest.raises(ValueError):
        lookup.first(model_id="一", number=version.number, viewer_id=user.pk)


def test_misuse_is_refused_when_it_is_made(version, user):
    with pytest.raises(TypeError, match="viewer_id"):
        PreparedLookup(ModelVersion, versions).first(model_id=1, number=1)
    unused = PreparedLookup(ModelVersion, lambda model_id, number: ModelVersion.objects.filter(model_id=model_id))
    with pytest.raises(ValueError, match="number"):
        unused.first(model_id=1, number=1)
    prefetching = PreparedLookup(Project, lambda pk: Project.objects.filter(pk=pk).prefetch_related("memberships"))
    with pytest.raises(ValueError, match="prefetch"):
        prefetching.first(pk=1)
