"""What a careless or malicious client (or admin) sends that must not turn into a 500 for everyone, a fetched
URL or a server busy for minutes: integers beyond 64 bits, references out of the schema, inner $id, patterns
that make a backtracking engine explode."""

import re

import pytest
from django.utils import translation

from accounts.tests.factories import UserFactory
from incubator.errors import InvalidInput
from projects.models import Project
from projects.tests.factories import make_project
from schema_registry import services
from schema_registry.errors import SchemaInvalid
from schema_registry.selectors import subject_get

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory(is_staff=True)


@pytest.fixture
def open_extra(admin):
    return services.subject_update(
        subject=subject_get(name="project.extra"), actor=admin, data={"compatibility": "NONE"}
    )


def _register(subject, admin, schema):
    return services.schema_version_register(subject=subject, schema=schema, actor=admin)


@pytest.mark.parametrize("number", [2**63, -(2**63) - 1, 18446744073709551616])
def test_an_integer_beyond_64_bits_is_refused_in_a_document_over_the_api(auth_client, number):
    client = auth_client(UserFactory())
    body = '{"name": "大数", "extra": {"budget": 1, "zz": ' + str(number) + "}}"
    response = client.generic("POST", "/api/v1/projects", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["details"]["field"] == "extra"
    assert not Project.objects.filter(name="大数").exists()
    assert auth_client(UserFactory()).get("/api/v1/projects").status_code == 200


def test_the_edges_of_64_bits_are_kept():
    project = make_project(UserFactory(), extra={"max": 2**63 - 1, "min": -(2**63)})
    project.refresh_from_db()
    assert project.extra == {"max": 2**63 - 1, "min": -(2**63)}


def test_every_apps_documents_refuse_an_integer_beyond_64_bits():
    for subject, field in (("dataset.metadata", "metadata"), ("user.profile", "profile")):
        with pytest.raises(InvalidInput) as caught:
            services.document_validate(subject=subject, document={"n": 2**64}, field=field)
        assert caught.value.details["field"] == field


def test_a_schema_holding_an_integer_beyond_64_bits_is_refused(open_extra, admin):
    with pytest.raises(SchemaInvalid):
        _register(open_extra, admin, {"type": "object", "properties": {"n": {"maximum": 2**64}}})


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        # A property named like a data keyword does not hide a remote reference.
        ({"properties": {"default": {"$ref": "http://127.0.0.1:9/x"}}}, "schema.properties.default.$ref"),
        ({"$defs": {"enum": {"$ref": "https://example.com/s.json"}}}, "schema.$defs.enum.$ref"),
        # An inner $id moves what "#/..." means: the check and the validator would disagree.
        (
            {
                "$id": "http://x/root.json",
                "$defs": {"x": {}},
                "properties": {"y": {"$id": "sub.json", "$ref": "#/$defs/x"}},
            },
            "schema.properties.y.$id",
        ),
        ({"properties": {"y": {"$schema": "http://127.0.0.1:9/meta"}}}, "schema.properties.y.$schema"),
        ({"properties": {"y": {"type": "string", "pattern": "(?<=a)b\\"}}}, "schema.properties.y.pattern"),
    ],
)
def test_a_schema_that_would_fetch_a_url_or_confuse_references_is_refused(open_extra, admin, schema, field):
    with pytest.raises(SchemaInvalid) as caught:
        _register(open_extra, admin, {"type": "object", **schema})
    assert field in caught.value.details["errors"], caught.value.details


def test_no_regular_expression_of_a_schema_runs_in_pythons_backtracking_engine(open_extra, admin, monkeypatch):
    schema = {
        "type": "object",
        "properties": {"bio": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^x_(a+)+$": {"type": "integer"}},
        "additionalProperties": False,
    }
    _register(open_extra, admin, schema)

    def refuse(*args, **kwargs):
        raise AssertionError("Python's re ran a schema's pattern")

    monkeypatch.setattr(re, "search", refuse)
    monkeypatch.setattr(re, "match", refuse)
    evil = "a" * 5000 + "!"
    with pytest.raises(InvalidInput) as caught:
        make_project(UserFactory(), extra={"bio": evil, "x_" + "a" * 5000: "not a number", evil: 1})
    assert set(caught.value.details["errors"]) == {"extra.bio", f"extra.x_{'a' * 5000}", f"extra.{evil}"}


def test_a_plan_whose_result_cannot_be_rendered_fails_those_documents_instead_of_the_page(open_extra, admin):
    make_project(UserFactory(), extra={"n": "1"})
    _register(open_extra, admin, {"type": "object"})
    plan = [
        {"op": "set_default", "path": "big", "value": "123456789012345678901234567890"},
        {"op": "change_type", "path": "big", "to": "integer"},
    ]
    report = services.migration_dry_run(subject=open_extra, from_number=1, to_number=2, plan=plan)
    assert (report["changed"], report["failed"]) == (0, 1)
    assert report["failures"][0]["path"] == "$"


def test_schemas_too_complex_to_compare_are_reported_as_such_not_computed_for_minutes():
    from schema_registry.compat import compatibility_check

    def nest(depth: int, k: int) -> dict:
        if depth == 0:
            return {"type": ["string", "number", "integer"][k % 3]}
        return {"anyOf": [nest(depth - 1, k + i) for i in range(3)]}

    with translation.override("en"):
        problems = compatibility_check(nest(9, 0), [(1, nest(9, 1))], "FULL")
    assert any(p.reason == "keyword_unsupported_change" and "complex" in p.message for p in problems)
