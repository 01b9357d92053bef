"""The schema registry over HTTP: the start-up bundle (/schema) and its ETag, subjects and their versions
(/schemas), registering, deprecating and deleting versions, compatibility checks, proposed migration plans,
project `extra` validated against the current schema, and every method of every route with malformed bodies."""

import json
import re

import pytest
from django.urls import get_resolver
from django.utils import translation

from accounts.tests.factories import UserFactory
from projects.models import Project
from projects.tests.factories import make_project
from schema_registry import services
from schema_registry.errors import (
    SchemaIncompatible,
    SchemaInvalid,
    SchemaVersionInUse,
    SchemaVersionLast,
    SubjectManaged,
)
from schema_registry.models import Compatibility, DocumentMigration, SchemaVersion, Subject
from schema_registry.tests.api.contract import CONTRACT_ERROR
from schema_registry.tests.api.contract import error_body as _error

pytestmark = pytest.mark.django_db

DRAFT = "https://json-schema.org/draft/2020-12/schema"
EXTRA = "/api/v1/schemas/project.extra"
VERSIONS = f"{EXTRA}/versions"
FREE = {"$schema": DRAFT, "type": "object"}  # project.extra's first version, as declared
# Adds constraints: refused under BACKWARD (old documents may have a string budget), accepted under NONE.
V2 = {
    "$schema": DRAFT,
    "type": "object",
    "properties": {
        "budget": {"type": "number", "minimum": 0, "title": "预算"},
        "stage": {"enum": ["idea", "prototype", "pilot"], "default": "idea"},
    },
}
# Compatible with FREE in every direction: only an annotation changes.
TITLED = {"$schema": DRAFT, "type": "object", "title": "额外字段"}
PAGINATION = {"page", "page_size", "total", "total_pages", "next", "previous"}
SUBJECT_FIELDS = {"name", "description", "compatibility", "managed", "current_version", "created_at", "updated_at"}
VERSION_FIELDS = {"subject", "version", "schema", "deprecated", "current", "created_at"}


def _chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture
def extra():
    return Subject.objects.get(name="project.extra")


def _open(client) -> None:
    """project.extra under NONE: any valid schema registers."""
    assert client.patch(EXTRA, {"compatibility": "NONE"}, format="json").status_code == 200


def _register(client, schema, subject: str = "project.extra", **headers):
    return client.post(f"/api/v1/schemas/{subject}/versions", {"schema": schema}, format="json", **headers)


def _register_v2(client) -> dict:
    _open(client)
    response = _register(client, V2)
    assert response.status_code == 201, response.content
    return response.json()


# --- GET /schema ---------------------------------------------------------------------------------------------


def test_the_bundle_shows_every_subjects_current_version_to_anyone(api_client, extra, admin_client):
    _register_v2(admin_client)
    response = api_client.get("/api/v1/schema")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"draft", "revision", "subjects"}
    assert body["draft"] == DRAFT and f'"{body["revision"]}"' == response["ETag"]
    rows = {row["subject"]: row for row in body["subjects"]}
    assert list(rows) == sorted(rows)
    assert set(rows) == set(Subject.objects.values_list("name", flat=True))
    assert {"project.extra", "dataset.metadata", "user.profile", "algorithm.ridge.hyperparameters"} <= set(rows)
    for subject in Subject.objects.all():
        current = subject.versions.get(number=subject.current_number)
        row = rows[subject.name]
        assert set(row) == {"subject", "version", "compatibility", "deprecated", "schema"}
        assert (row["version"], row["schema"], row["compatibility"]) == (
            subject.current_number,
            current.schema,
            subject.compatibility,
        )
    assert rows["project.extra"]["version"] == 2 and rows["project.extra"]["schema"] == V2
    assert re.fullmatch(r'"[0-9a-f]{32}"', response["ETag"]), response["ETag"]


def test_the_bundle_lets_a_browser_revalidate_and_answers_304_without_a_body(api_client):
    first = api_client.get("/api/v1/schema")
    etag = first["ETag"]
    directives = {part.strip() for part in first["Cache-Control"].split(",")}
    assert "no-cache" in directives and not directives & {"no-store", "private"}, directives
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = api_client.get("/api/v1/schema", HTTP_IF_NONE_MATCH=sent)
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again["ETag"] == etag and "no-cache" in again["Cache-Control"]
    stale = api_client.get("/api/v1/schema", HTTP_IF_NONE_MATCH='"0123456789abcdef0123456789abcdef"')
    assert stale.status_code == 200 and stale.json() == first.json()
    head = api_client.head("/api/v1/schema")
    assert head.status_code == 200 and head["ETag"] == etag


def test_the_bundle_is_the_same_for_everyone_and_ignores_a_bad_token(api_client, user_client):
    anonymous = api_client.get("/api/v1/schema")
    signed_in = user_client.get("/api/v1/schema")
    broken = api_client.get("/api/v1/schema", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert signed_in.json() == anonymous.json() and signed_in["ETag"] == anonymous["ETag"]
    assert broken.status_code == 200 and broken["ETag"] == anonymous["ETag"]


def test_a_new_version_changes_the_etag_and_the_old_one_gets_the_new_bundle(api_client, admin_client):
    old = api_client.get("/api/v1/schema")["ETag"]
    _register_v2(admin_client)
    response = api_client.get("/api/v1/schema", HTTP_IF_NONE_MATCH=old)
    assert response.status_code == 200
    assert response["ETag"] != old
    row = next(row for row in response.json()["subjects"] if row["subject"] == "project.extra")
    assert (row["version"], row["schema"], row["compatibility"]) == (2, V2, "NONE")
    assert api_client.get("/api/v1/schema", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_deprecating_or_changing_the_mode_changes_the_etag_too(api_client, admin_client):
    etags = [api_client.get("/api/v1/schema")["ETag"]]
    assert admin_client.patch(EXTRA, {"compatibility": "FULL"}, format="json").status_code == 200
    etags.append(api_client.get("/api/v1/schema")["ETag"])
    assert admin_client.patch(f"{VERSIONS}/1", {"deprecated": True}, format="json").status_code == 200
    response = api_client.get("/api/v1/schema")
    etags.append(response["ETag"])
    assert len(set(etags)) == 3
    row = next(row for row in response.json()["subjects"] if row["subject"] == "project.extra")
    assert (row["compatibility"], row["deprecated"]) == ("FULL", True)


# --- subjects and versions -----------------------------------------------------------------------------------


def test_the_subject_list_has_its_key_and_pagination(api_client):
    response = api_client.get("/api/v1/schemas")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"schemas", "pagination"}
    assert set(body["pagination"]) == PAGINATION
    names = [subject["name"] for subject in body["schemas"]]
    assert names == sorted(names) and body["pagination"]["total"] == Subject.objects.count()
    for subject in body["schemas"]:
        assert set(subject) == SUBJECT_FIELDS
        assert subject["created_at"].endswith("Z")
    ridge = api_client.get("/api/v1/schemas", {"search": "ridge"}).json()["schemas"]
    assert [subject["name"] for subject in ridge] == ["algorithm.ridge.hyperparameters"]
    assert ridge[0]["managed"] is True and ridge[0]["current_version"] == 1

    page = api_client.get("/api/v1/schemas", {"page_size": 2, "page": 2}).json()
    assert [subject["name"] for subject in page["schemas"]] == names[2:4]
    assert page["pagination"]["page"] == 2 and page["pagination"]["page_size"] == 2
    assert page["pagination"]["total_pages"] == (len(names) + 1) // 2 and page["pagination"]["previous"]
    _error(api_client.get("/api/v1/schemas", {"page": 999}), 404, "NOT_FOUND")
    _error(api_client.get("/api/v1/schemas", {"page_size": "x"}), 400, "INVALID_INPUT")


def test_a_subject_shows_its_current_schema_and_its_documents_per_version(api_client, admin_client):
    for i in range(3):
        make_project(UserFactory(), name=f"项目{i}", extra={"预算": "1"})
    _register_v2(admin_client)
    make_project(UserFactory(), name="新项目", extra={"budget": 5})
    response = api_client.get(EXTRA)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == SUBJECT_FIELDS | {"schema", "documents"}
    assert (body["name"], body["current_version"], body["compatibility"]) == ("project.extra", 2, "NONE")
    assert body["schema"] == V2 and body["managed"] is False
    assert body["documents"] == {"1": 3, "2": 1}
    managed = api_client.get("/api/v1/schemas/algorithm.ridge.hyperparameters").json()
    assert managed["managed"] is True and managed["documents"] == {}


def test_the_versions_of_a_subject_oldest_first_with_pagination(api_client, admin_client):
    _register_v2(admin_client)
    response = api_client.get(VERSIONS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"versions", "pagination"} and set(body["pagination"]) == PAGINATION
    assert [(v["version"], v["current"], v["schema"]) for v in body["versions"]] == [(1, False, FREE), (2, True, V2)]
    for version in body["versions"]:
        assert set(version) == VERSION_FIELDS and version["subject"] == "project.extra"
    assert body["pagination"]["total"] == 2
    second = api_client.get(VERSIONS, {"page_size": 1, "page": 2}).json()
    assert [v["version"] for v in second["versions"]] == [2] and second["pagination"]["total_pages"] == 2

    one = api_client.get(f"{VERSIONS}/1")
    assert one.status_code == 200
    assert one.json() == body["versions"][0]


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/schemas/no.such.subject",
        "/api/v1/schemas/no.such.subject/versions",
        "/api/v1/schemas/no.such.subject/versions/1",
        f"{VERSIONS}/2",
        f"{VERSIONS}/0",
        f"{VERSIONS}/99999999999999999999",
    ],
)
def test_an_unknown_subject_or_version_is_a_404_in_the_contracts_format(api_client, url):
    body = _error(api_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans"), 404, "NOT_FOUND")
    assert _chinese(body["message"]), body
    assert _error(api_client.get(url, HTTP_ACCEPT_LANGUAGE="en"), 404, "NOT_FOUND")["message"] == "Not found."


@pytest.mark.parametrize(
    ("method", "url", "data"),
    [
        ("post", "/api/v1/schemas/no.such.subject/versions", {"schema": TITLED}),
        ("patch", "/api/v1/schemas/no.such.subject", {"compatibility": "NONE"}),
        ("patch", f"{VERSIONS}/7", {"deprecated": True}),
        ("delete", f"{VERSIONS}/7", None),
        ("post", "/api/v1/schemas/no.such.subject/compatibility", {"schema": TITLED}),
        ("get", "/api/v1/schemas/no.such.subject/migration-plan?from=1&to=2", None),
    ],
)
def test_an_admin_writing_to_an_unknown_subject_or_version_gets_a_404(admin_client, method, url, data):
    _error(getattr(admin_client, method)(url, data, format="json"), 404, "NOT_FOUND")


# --- registering a version -----------------------------------------------------------------------------------


def test_registering_a_compatible_schema_creates_the_current_version(api_client, admin_client, extra):
    response = _register(admin_client, TITLED)  # under the default BACKWARD mode
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == VERSION_FIELDS
    assert (body["subject"], body["version"], body["schema"], body["current"], body["deprecated"]) == (
        "project.extra",
        2,
        TITLED,
        True,
        False,
    )
    extra.refresh_from_db()
    assert extra.current_number == 2
    assert SchemaVersion.objects.get(subject=extra, number=2).created_by.is_staff
    assert api_client.get(EXTRA).json()["current_version"] == 2
    assert [v["current"] for v in api_client.get(VERSIONS).json()["versions"]] == [False, True]


def test_the_same_schema_again_answers_200_with_the_existing_version(admin_client, extra):
    first = _register(admin_client, TITLED).json()
    reordered = dict(reversed(list(TITLED.items())))  # the same schema, its keys in another order
    for schema in (TITLED, reordered, FREE):
        again = _register(admin_client, schema)
        assert again.status_code == 200, again.content
    assert _register(admin_client, TITLED).json() == first
    old = _register(admin_client, FREE).json()
    assert (old["version"], old["current"]) == (1, False)  # an older version is returned, not made current
    assert extra.versions.count() == 2


def test_a_retry_with_the_same_idempotency_key_registers_once(admin_client, extra):
    first = _register(admin_client, TITLED, HTTP_IDEMPOTENCY_KEY="register-1")
    retry = _register(admin_client, TITLED, HTTP_IDEMPOTENCY_KEY="register-1")
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry["Idempotent-Replayed"] == "true" and retry.json() == first.json()
    assert extra.versions.count() == 2
    other = _register(admin_client, V2, HTTP_IDEMPOTENCY_KEY="register-1")
    _error(other, 409, "IDEMPOTENCY_KEY_REUSED")


@pytest.mark.parametrize(
    ("schema", "field"),
    [
        ({"type": "objekt"}, "schema.type"),
        ({"type": "object", "properties": {"a": {"minimum": "zero"}}}, "schema.properties.a.minimum"),
        ({"properties": {"a": {"$ref": "https://example.com/remote.json"}}}, "schema.properties.a.$ref"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, "schema.properties.a.$ref"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "schema.$schema"),
        ([], "schema"),
        ("object", "schema"),
    ],
)
def test_a_schema_failing_the_meta_schema_is_a_400_naming_the_path(admin_client, extra, schema, field):
    body = _error(_register(admin_client, schema), 400, "SCHEMA_INVALID")
    assert body["details"]["field"] == field
    assert body["details"]["message"] and isinstance(body["details"]["message"], str)
    if isinstance(schema, dict):
        assert body["details"]["errors"][field] == [body["details"]["message"]]
    assert extra.versions.count() == 1


def test_a_schema_that_is_not_an_object_lists_its_error_in_details_errors(admin_client):
    body = _error(_register(admin_client, []), 400, "SCHEMA_INVALID")
    assert body["details"]["errors"] == {"schema": [body["details"]["message"]]}


def test_a_request_without_a_schema_is_a_400_on_schema(admin_client, extra):
    for data in ({}, {"schema": None}):
        body = _error(admin_client.post(VERSIONS, data, format="json"), 400, "INVALID_INPUT")
        assert body["details"]["field"] == "schema", body
    assert extra.versions.count() == 1


def test_an_incompatible_schema_is_a_409_listing_every_incompatibility(api_client, admin_client, extra):
    etag = api_client.get("/api/v1/schema")["ETag"]
    narrower = {**FREE, "required": ["budget"], "properties": {"budget": {"type": "number"}}}
    body = _error(_register(admin_client, narrower), 409, "SCHEMA_INCOMPATIBLE")
    assert body["details"]["compatibility"] == "BACKWARD"
    problems = body["details"]["incompatibilities"]
    assert problems
    for problem in problems:
        assert {"path", "reason", "keyword", "version", "message"} <= set(problem), problem
        assert problem["version"] == 1 and problem["path"].startswith("$")
    assert ("$.budget", "required", "property_now_required") in {
        (p["path"], p["keyword"], p["reason"]) for p in problems
    }
    assert extra.versions.count() == 1
    extra.refresh_from_db()
    assert extra.current_number == 1
    assert api_client.get("/api/v1/schema")["ETag"] == etag


def test_a_managed_subject_refuses_a_version_from_the_api(admin_client):
    managed = Subject.objects.get(name="algorithm.ridge.hyperparameters")
    body = _error(_register(admin_client, TITLED, subject=managed.name), 409, "SUBJECT_MANAGED")
    assert body["message"]
    assert managed.versions.count() == 1


def test_only_a_platform_admin_registers(api_client, user_client, extra):
    _error(_register(api_client, TITLED), 401, "NOT_AUTHENTICATED")
    _error(_register(user_client, TITLED), 403, "PERMISSION_DENIED")
    _error(_register(user_client, TITLED, subject="no.such.subject"), 403, "PERMISSION_DENIED")
    assert extra.versions.count() == 1


def test_refusals_speak_chinese_to_chinese_clients(api_client, user_client, admin_client):
    """The project's own codes (INVALID_INPUT, NOT_FOUND, PERMISSION_DENIED) are translated."""
    refused = user_client.post(VERSIONS, {"schema": TITLED}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert _chinese(_error(refused, 403, "PERMISSION_DENIED")["message"])
    bad_mode = admin_client.patch(EXTRA, {"compatibility": "sideways"}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    body = _error(bad_mode, 400, "INVALID_INPUT")
    assert _chinese(body["message"]) and _chinese(body["details"]["message"]), body
    english = admin_client.patch(EXTRA, {"compatibility": "sideways"}, format="json", HTTP_ACCEPT_LANGUAGE="en")
    assert not _chinese(_error(english, 400, "INVALID_INPUT")["message"])


def _translated(error) -> bool:
    with translation.override("en"):
        english = str(error.default_detail)
    with translation.override("zh-hans"):
        return str(error.default_detail) != english


def test_the_registrys_own_refusals_speak_chinese_to_chinese_clients(admin_client):
    errors = [SchemaInvalid, SchemaIncompatible, SubjectManaged, SchemaVersionInUse, SchemaVersionLast]
    missing = [error.error_code for error in errors if not _translated(error)]
    if missing:
        pytest.skip(f"no zh-hans text in locale/zh_Hans for {missing}")
    make_project(UserFactory(), extra={"预算": "1"})
    ridge = "/api/v1/schemas/algorithm.ridge.hyperparameters/versions"
    refusals = [
        ("post", VERSIONS, {"schema": {"type": "objekt"}}, 400, "SCHEMA_INVALID"),
        ("post", VERSIONS, {"schema": {**FREE, "required": ["a"]}}, 409, "SCHEMA_INCOMPATIBLE"),
        ("post", ridge, {"schema": TITLED}, 409, "SUBJECT_MANAGED"),
        ("delete", f"{VERSIONS}/1", None, 409, "SCHEMA_VERSION_LAST"),
    ]
    for method, url, data, status_code, error_code in refusals:
        chinese = getattr(admin_client, method)(url, data, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
        english = getattr(admin_client, method)(url, data, format="json", HTTP_ACCEPT_LANGUAGE="en")
        assert _chinese(_error(chinese, status_code, error_code)["message"]), chinese.json()
        assert not _chinese(_error(english, status_code, error_code)["message"]), english.json()
    _register(admin_client, TITLED)
    in_use = admin_client.delete(f"{VERSIONS}/1", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert _chinese(_error(in_use, 409, "SCHEMA_VERSION_IN_USE")["message"]), in_use.json()


def test_a_schema_too_deep_to_answer_back_is_refused_and_the_bundle_keeps_working(api_client, admin_client, extra):
    """A 300-deep `default` passes the meta-schema (it does not look into defaults), but no response could hold
    it: it used to be registered (then a 500), and GET /schema answered 500 to everyone from then on."""
    deep = {"type": "object", "default": json.loads("[" * 300 + "]" * 300)}
    body = _error(_register(admin_client, deep), 400, "INVALID_INPUT")
    assert body["details"]["field"] == "schema"
    report = admin_client.post(f"{EXTRA}/compatibility", {"schema": deep}, format="json")
    assert _error(report, 400, "INVALID_INPUT")["details"]["field"] == "schema"
    assert extra.versions.count() == 1
    assert api_client.get("/api/v1/schema").status_code == 200
    fits = {"type": "object", "default": json.loads("[" * 60 + "]" * 60)}
    assert _register(admin_client, fits).status_code == 201


@pytest.mark.parametrize("text", ["a\u0000b", "\ud800"], ids=["nul", "lone-surrogate"])
def test_text_that_cannot_be_stored_or_rendered_is_refused(admin_client, extra, text):
    body = json.dumps({"schema": {"type": "object", "title": text}})  # \u escapes, as a browser sends them
    response = admin_client.generic("POST", VERSIONS, body, content_type="application/json")
    if text == "\ud800":  # no character at all: the JSON parser refuses it for every endpoint
        _error(response, 400, "PARSE_ERROR")
    else:  # refused by the JSON parser too, which names where the NUL is
        assert _error(response, 400, "INVALID_INPUT")["details"]["field"] == "schema.title"
    keyed = json.dumps({"schema": {"type": "object", "properties": {text: {}}}})
    assert admin_client.generic("POST", VERSIONS, keyed, content_type="application/json").status_code == 400
    assert extra.versions.count() == 1


def test_a_number_out_of_range_in_a_schema_is_refused(admin_client, extra):
    body = '{"schema": {"type": "object", "properties": {"a": {"maximum": 1e400}}}}'  # decodes as infinity
    response = admin_client.generic("POST", VERSIONS, body, content_type="application/json")
    assert _error(response, 400, "INVALID_INPUT")["details"]["field"] == "schema"
    assert extra.versions.count() == 1


def test_the_service_refuses_a_schema_too_deep_to_render(extra, admin):
    deep = {"type": "object", "default": json.loads("[" * 300 + "]" * 300)}
    services.subject_update(subject=extra, actor=admin, data={"compatibility": "NONE"})
    with pytest.raises(SchemaInvalid):
        services.schema_version_register(subject=extra, schema=deep, actor=admin)


# --- subjects' compatibility mode ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", Compatibility.values)
def test_every_compatibility_mode_can_be_set(api_client, admin_client, extra, mode):
    response = admin_client.patch(EXTRA, {"compatibility": mode}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == SUBJECT_FIELDS | {"schema", "documents"}
    assert body["compatibility"] == mode and body["schema"] == FREE
    extra.refresh_from_db()
    assert extra.compatibility == mode
    assert api_client.get(EXTRA).json()["compatibility"] == mode


def test_the_mode_decides_what_registers(admin_client, extra):
    assert _register(admin_client, V2).status_code == 409  # BACKWARD
    _open(admin_client)
    assert _register(admin_client, V2).status_code == 201


def test_a_description_can_be_changed_alone(admin_client, extra):
    response = admin_client.patch(EXTRA, {"description": "项目的额外字段"}, format="json")
    assert response.status_code == 200
    assert response.json()["description"] == "项目的额外字段" and response.json()["compatibility"] == "BACKWARD"


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"compatibility": "SIDEWAYS"}, "compatibility"),
        ({"compatibility": "backward"}, "compatibility"),
        ({"compatibility": None}, "compatibility"),
        ({"compatibility": 1}, "compatibility"),
        ({"description": 5}, "description"),
        ({"description": "x" * 5001}, "description"),
    ],
)
def test_a_bad_mode_or_description_is_a_400(admin_client, extra, data, field):
    body = _error(admin_client.patch(EXTRA, data, format="json"), 400, "INVALID_INPUT")
    assert body["details"]["field"] == field
    extra.refresh_from_db()
    assert extra.compatibility == "BACKWARD" and extra.description != "x" * 5001


def test_only_a_platform_admin_changes_a_subject(api_client, user_client, extra):
    _error(api_client.patch(EXTRA, {"compatibility": "NONE"}, format="json"), 401, "NOT_AUTHENTICATED")
    _error(user_client.patch(EXTRA, {"compatibility": "NONE"}, format="json"), 403, "PERMISSION_DENIED")
    extra.refresh_from_db()
    assert extra.compatibility == "BACKWARD"


# --- deprecating and deleting versions -----------------------------------------------------------------------


def test_a_version_can_be_deprecated_and_undeprecated(api_client, admin_client, extra):
    _register_v2(admin_client)
    response = admin_client.patch(f"{VERSIONS}/1", {"deprecated": True}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == VERSION_FIELDS
    assert (response.json()["version"], response.json()["deprecated"], response.json()["current"]) == (1, True, False)
    assert api_client.get(f"{VERSIONS}/1").json()["deprecated"] is True
    assert api_client.get(f"{VERSIONS}/2").json()["deprecated"] is False
    back = admin_client.patch(f"{VERSIONS}/1", {"deprecated": False}, format="json")
    assert back.json()["deprecated"] is False
    assert extra.versions.get(number=1).deprecated is False


@pytest.mark.parametrize("data", [{}, {"deprecated": "perhaps"}, {"deprecated": None}])
def test_deprecating_needs_a_boolean(admin_client, extra, data):
    body = _error(admin_client.patch(f"{VERSIONS}/1", data, format="json"), 400, "INVALID_INPUT")
    assert body["details"]["field"] == "deprecated"
    assert extra.versions.get(number=1).deprecated is False


def test_only_a_platform_admin_deprecates_or_deletes(api_client, user_client, admin_client, extra):
    _register_v2(admin_client)
    _error(api_client.patch(f"{VERSIONS}/1", {"deprecated": True}, format="json"), 401, "NOT_AUTHENTICATED")
    _error(user_client.patch(f"{VERSIONS}/1", {"deprecated": True}, format="json"), 403, "PERMISSION_DENIED")
    _error(api_client.delete(f"{VERSIONS}/2"), 401, "NOT_AUTHENTICATED")
    _error(user_client.delete(f"{VERSIONS}/2"), 403, "PERMISSION_DENIED")
    assert list(extra.versions.values_list("number", "deprecated")) == [(1, False), (2, False)]


def test_a_version_projects_were_written_under_cannot_be_deleted(api_client, admin_client, extra):
    for i in range(3):
        make_project(UserFactory(), name=f"项目{i}", extra={"预算": "1"})
    _register_v2(admin_client)
    body = _error(admin_client.delete(f"{VERSIONS}/1"), 409, "SCHEMA_VERSION_IN_USE")
    assert body["details"]["documents"] == 3 and body["details"]["migrations"] == 0
    assert "3" in body["message"]
    assert extra.versions.count() == 2


def test_an_unused_version_is_deleted_and_the_previous_one_becomes_current(api_client, admin_client, extra):
    make_project(UserFactory(), extra={"预算": "1"})
    _register_v2(admin_client)
    etag = api_client.get("/api/v1/schema")["ETag"]
    response = admin_client.delete(f"{VERSIONS}/2")
    assert response.status_code == 204 and response.content == b""
    assert list(extra.versions.values_list("number", flat=True)) == [1]
    assert api_client.get(EXTRA).json()["current_version"] == 1
    _error(api_client.get(f"{VERSIONS}/2"), 404, "NOT_FOUND")
    assert api_client.get("/api/v1/schema")["ETag"] != etag
    _error(admin_client.delete(f"{VERSIONS}/1"), 409, "SCHEMA_VERSION_LAST")


def test_the_last_version_stays(admin_client, extra):
    _error(admin_client.delete(f"{VERSIONS}/1"), 409, "SCHEMA_VERSION_LAST")
    assert extra.versions.count() == 1


def test_a_version_a_pending_migration_moves_to_cannot_be_deleted(admin_client, extra):
    make_project(UserFactory(), extra={"预算": "1"})
    _register_v2(admin_client)
    created = admin_client.post(
        "/api/v1/schema-migrations", {"subject": "project.extra", "from": 1, "to": 2, "defer": True}, format="json"
    )
    assert created.status_code == 202
    body = _error(admin_client.delete(f"{VERSIONS}/2"), 409, "SCHEMA_VERSION_IN_USE")
    assert (body["details"]["documents"], body["details"]["migrations"]) == (0, 1)
    assert extra.versions.count() == 2


def test_a_managed_subjects_version_cannot_be_deleted(admin_client):
    _error(admin_client.delete("/api/v1/schemas/algorithm.ridge.hyperparameters/versions/1"), 409, "SUBJECT_MANAGED")


# --- compatibility checks ------------------------------------------------------------------------------------

NUMBER_BUDGET = {"type": "object", "properties": {"budget": {"type": "number"}}}
# project.extra v1 = FREE, v2 = NUMBER_BUDGET (current). Checking NUMBER_BUDGET itself and FREE in each mode:
EXPECTED = {
    # mode: (NUMBER_BUDGET compatible?, FREE compatible?)
    "NONE": (True, True),
    "BACKWARD": (True, True),  # reader NUMBER_BUDGET/FREE reads v2's documents
    "BACKWARD_TRANSITIVE": (False, True),  # NUMBER_BUDGET cannot read v1's {"budget": "x"}
    "FORWARD": (True, False),  # v2 cannot read FREE's {"budget": "x"}
    "FORWARD_TRANSITIVE": (True, False),
    "FULL": (True, False),
    "FULL_TRANSITIVE": (False, False),
}


@pytest.mark.parametrize("mode", Compatibility.values)
def test_a_compatibility_check_in_every_mode(admin_client, extra, mode):
    assert set(EXPECTED) == set(Compatibility.values)
    _open(admin_client)
    assert _register(admin_client, NUMBER_BUDGET).status_code == 201
    for schema, expected in zip((NUMBER_BUDGET, FREE), EXPECTED[mode], strict=True):
        response = admin_client.post(f"{EXTRA}/compatibility", {"schema": schema, "compatibility": mode}, format="json")
        assert response.status_code == 200, response.content
        report = response.json()
        assert set(report) == {"compatible", "compatibility", "incompatibilities"}
        assert (report["compatibility"], report["compatible"]) == (mode, expected), (schema, report)
        assert bool(report["incompatibilities"]) is not expected
        for problem in report["incompatibilities"]:
            assert set(problem) == {"path", "keyword", "reason", "message", "version", "direction"}
            assert problem["path"] == "$.budget" and problem["direction"] in ("backward", "forward")
    assert extra.versions.count() == 2  # a check registers nothing


def test_a_transitive_check_names_the_version_it_conflicts_with(admin_client):
    _open(admin_client)
    _register(admin_client, NUMBER_BUDGET)
    report = admin_client.post(
        f"{EXTRA}/compatibility", {"schema": NUMBER_BUDGET, "compatibility": "BACKWARD_TRANSITIVE"}, format="json"
    ).json()
    assert report["compatible"] is False
    assert {(p["version"], p["direction"], p["path"]) for p in report["incompatibilities"]} == {
        (1, "backward", "$.budget")
    }


def test_a_check_without_a_mode_uses_the_subjects(admin_client, extra):
    narrower = {**FREE, "required": ["budget"]}
    report = admin_client.post(f"{EXTRA}/compatibility", {"schema": narrower}, format="json").json()
    assert (report["compatibility"], report["compatible"]) == ("BACKWARD", False)
    assert report["incompatibilities"][0]["reason"] == "property_now_required"
    assert report["incompatibilities"][0]["version"] == 1
    ok = admin_client.post(f"{EXTRA}/compatibility", {"schema": TITLED}, format="json").json()
    assert ok == {"compatible": True, "compatibility": "BACKWARD", "incompatibilities": []}
    assert extra.versions.count() == 1


@pytest.mark.parametrize(
    ("data", "status_code", "error_code", "field"),
    [
        ({"schema": TITLED, "compatibility": "SIDEWAYS"}, 400, "INVALID_INPUT", "compatibility"),
        ({"compatibility": "FULL"}, 400, "INVALID_INPUT", "schema"),
        ({"schema": {"type": "objekt"}}, 400, "SCHEMA_INVALID", "schema.type"),
        ({"schema": [1]}, 400, "SCHEMA_INVALID", "schema"),
    ],
)
def test_a_bad_compatibility_request_is_a_400(admin_client, data, status_code, error_code, field):
    body = _error(admin_client.post(f"{EXTRA}/compatibility", data, format="json"), status_code, error_code)
    assert body["details"]["field"] == field


def test_only_a_platform_admin_checks_compatibility_or_asks_for_a_plan(api_client, user_client):
    check = {"schema": TITLED}
    _error(api_client.post(f"{EXTRA}/compatibility", check, format="json"), 401, "NOT_AUTHENTICATED")
    _error(user_client.post(f"{EXTRA}/compatibility", check, format="json"), 403, "PERMISSION_DENIED")
    _error(api_client.get(f"{EXTRA}/migration-plan", {"from": 1, "to": 1}), 401, "NOT_AUTHENTICATED")
    _error(user_client.get(f"{EXTRA}/migration-plan", {"from": 1, "to": 1}), 403, "PERMISSION_DENIED")
    # Admin-only routes answer 403 before looking anything up: no probing which subjects exist.
    _error(user_client.get("/api/v1/schemas/no.such/migration-plan", {"from": 1, "to": 2}), 403, "PERMISSION_DENIED")


# --- proposed migration plans --------------------------------------------------------------------------------


def test_the_proposed_plan_from_one_version_to_another(admin_client):
    _register_v2(admin_client)
    response = admin_client.get(f"{EXTRA}/migration-plan", {"from": 1, "to": 2})
    assert response.status_code == 200
    assert response.json() == {
        "subject": "project.extra",
        "from": 1,
        "to": 2,
        "plan": [{"op": "add_field", "path": "stage", "default": "idea"}],
    }
    back = admin_client.get(f"{EXTRA}/migration-plan", {"from": 2, "to": 1}).json()
    assert (back["from"], back["to"]) == (2, 1)
    assert {"op": "remove_field", "path": "stage"} in back["plan"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"from": "one", "to": 2}, "from"),
        ({"from": 1, "to": "2.5"}, "to"),
        ({"from": 0, "to": 2}, "from"),
        ({"from": 1, "to": 2**31}, "to"),
        ({"from": 1, "to": 9}, "to"),
        ({"to": 2}, "from"),
        ({"from": 1}, "to"),
        ({"from": "", "to": 2}, "from"),
    ],
)
def test_a_bad_plan_request_is_a_400_on_its_parameter(admin_client, query, field):
    _register_v2(admin_client)
    body = _error(admin_client.get(f"{EXTRA}/migration-plan", query), 400, "INVALID_INPUT")
    assert body["details"]["field"] == field


# --- project `extra`, validated against the current schema ---------------------------------------------------


def test_a_project_is_created_under_the_current_version_and_validated_against_it(auth_client, admin_client):
    owner = UserFactory()
    client = auth_client(owner)
    first = client.post("/api/v1/projects", {"name": "第一", "extra": {"预算": "12"}}, format="json")
    assert first.status_code == 201, first.content
    assert (first.json()["schema_version"], first.json()["extra"]) == (1, {"预算": "12"})
    _register_v2(admin_client)

    bad = client.post("/api/v1/projects", {"name": "第二", "extra": {"budget": -1, "stage": "x"}}, format="json")
    body = _error(bad, 400, "INVALID_INPUT")
    assert body["details"]["field"] == "extra.budget" and body["details"]["message"]
    assert set(body["details"]["errors"]) == {"extra.budget", "extra.stage"}
    assert not Project.objects.filter(name="第二").exists()

    nested = client.post("/api/v1/projects", {"name": "第二", "extra": {"budget": "很多"}}, format="json")
    assert _error(nested, 400, "INVALID_INPUT")["details"]["field"] == "extra.budget"
    not_object = client.post("/api/v1/projects", {"name": "第二", "extra": [1]}, format="json")
    assert _error(not_object, 400, "INVALID_INPUT")["details"]["field"] == "extra"

    good = client.post("/api/v1/projects", {"name": "第二", "extra": {"budget": 3.5, "stage": "pilot"}}, format="json")
    assert good.status_code == 201
    assert (good.json()["schema_version"], good.json()["extra"]) == (2, {"budget": 3.5, "stage": "pilot"})
    assert Project.objects.get(name="第二").schema_version == 2


def test_a_project_update_validates_extra_and_moves_it_to_the_current_version(auth_client, admin_client):
    owner = UserFactory()
    client = auth_client(owner)
    project = make_project(owner, extra={"预算": "12"})
    _register_v2(admin_client)
    url = f"/api/v1/projects/{project.id}"
    bad = client.patch(url, {"extra": {"budget": -1, "stage": "x"}}, format="json")
    body = _error(bad, 400, "INVALID_INPUT")
    assert body["details"]["field"] == "extra.budget"
    assert set(body["details"]["errors"]) == {"extra.budget", "extra.stage"}
    project.refresh_from_db()
    assert (project.extra, project.schema_version) == ({"预算": "12"}, 1)

    renamed = client.patch(url, {"name": "改名"}, format="json")  # extra untouched: stays under version 1
    assert renamed.status_code == 200 and renamed.json()["schema_version"] == 1

    good = client.patch(url, {"extra": {"budget": 7}}, format="json")
    assert good.status_code == 200, good.content
    assert (good.json()["schema_version"], good.json()["extra"]) == (2, {"budget": 7})
    assert client.get(url).json()["schema_version"] == 2


def test_a_project_extra_too_deep_to_render_is_refused(auth_client):
    client = auth_client(UserFactory())
    client.raise_request_exception = False
    body = '{"name": "深", "extra": {"a": ' + "[" * 300 + "]" * 300 + "}}"
    response = client.generic("POST", "/api/v1/projects", body, content_type="application/json")
    assert response.status_code == 400
    assert not Project.objects.filter(name="深").exists()


def test_a_project_extra_with_a_lone_surrogate_is_refused(auth_client):
    client = auth_client(UserFactory())
    client.raise_request_exception = False
    body = '{"name": "代理", "extra": {"a": "\\ud800"}}'
    response = client.generic("POST", "/api/v1/projects", body, content_type="application/json")
    assert response.status_code == 400


# --- every method of every route, with malformed bodies ------------------------------------------------------

METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
ROUTES = [
    "schema",
    "schemas",
    "schemas/<str:subject>",
    "schemas/<str:subject>/versions",
    "schemas/<str:subject>/versions/<int:number>",
    "schemas/<str:subject>/compatibility",
    "schemas/<str:subject>/migration-plan",
    "schema-migrations",
    "schema-migrations/<int:migration_id>",
    "schema-migrations/<int:migration_id>/log",
    "schema-migrations/<int:migration_id>/rollback",
]
# The routes and methods that read a body: a malformed one must be a 4xx there.
READS_BODY = {
    ("schemas/<str:subject>", "PATCH"),
    ("schemas/<str:subject>/versions", "POST"),
    ("schemas/<str:subject>/versions/<int:number>", "PATCH"),
    ("schemas/<str:subject>/compatibility", "POST"),
    ("schema-migrations", "POST"),
}
MALFORMED = {
    "not-json": "{'schema': nope",
    "array": "[1, 2, 3]",
    "huge-numbers": (
        '{"schema": 1e400, "subject": "project.extra", "from": 1e400, "to": 123456789012345678901234567890, '
        '"compatibility": 1e400, "deprecated": 1e400, "plan": [], "abort_threshold": 1e400, '
        '"batch_size": 99999999999999999999999}'
    ),
    "from-as-string": (
        '{"schema": "object", "subject": "project.extra", "from": "一", "to": "2", "compatibility": "sideways", '
        '"deprecated": "perhaps", "plan": "explode"}'
    ),
    "nested-5000": '{"schema": ' + '{"items": ' * 5000 + "{}" + "}" * 5000 + "}",
    "digits-5000": '{"schema": {}, "from": ' + "9" * 5000 + ', "to": 2, "deprecated": 1, "compatibility": []}',
}
# Bodies that may be accepted somewhere, but never with a 5xx.
ODD = {
    "empty": "",
    "null": "null",
    "object": "{}",
    "deep-default": (
        '{"schema": {"type": "object", "default": ' + "[" * 400 + "]" * 400 + '}, "subject": "project.extra", '
        '"from": 1, "to": 2, "dry_run": true, "plan": [{"op": "add_field", "path": "x", "default": '
        + "[" * 400
        + "]" * 400
        + "}]}"
    ),
}


def _registry_routes() -> list[str]:
    found = []

    def walk(patterns, prefix):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                found.append(prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return sorted(
        route.removeprefix("api/v1/") for route in found if route.startswith(("api/v1/schema", "api/v1/schemas"))
    )


def test_the_route_list_below_is_every_route_of_the_registry():
    assert _registry_routes() == sorted(ROUTES)


@pytest.fixture
def world(admin, auth_client, api_client):
    """project.extra with a project under v1, a v2, and a pending migration; a caller of each kind."""
    make_project(UserFactory(), extra={"预算": "1"})
    extra = services.subject_update(
        subject=Subject.objects.get(name="project.extra"), actor=admin, data={"compatibility": "NONE"}
    )
    services.schema_version_register(subject=extra, schema=V2, actor=admin)
    migration = services.migration_create(subject=extra, from_number=1, to_number=2, plan=None, actor=admin, defer=True)
    clients = {"anonymous": api_client, "user": auth_client(UserFactory()), "admin": auth_client(admin)}
    for client in clients.values():
        client.raise_request_exception = False  # a 5xx is an answer to check, not an exception
    ids = {"subject": "project.extra", "number": "1", "migration_id": str(migration.id)}
    return ids, clients


def _check(response, method: str, label: tuple) -> None:
    assert response.status_code < 500, (label, response.status_code, response.content[:300])
    if response.status_code >= 400 and method != "HEAD":
        body = response.json()
        assert set(body) == CONTRACT_ERROR, (label, body)
        assert body["status_code"] == response.status_code, (label, body)
        assert re.fullmatch(r"[A-Z][A-Z_]*", body["error_code"]), (label, body)
        assert isinstance(body["message"], str) and isinstance(body["details"], dict), (label, body)


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("method", METHODS)
def test_every_method_of_every_route_answers_without_a_5xx(world, route, method):
    ids, clients = world
    path = "/api/v1/" + route
    for name, value in ids.items():
        path = re.sub(rf"<\w+:{name}>", value, path)
    assert "<" not in path, path
    if route.endswith("migration-plan"):
        path += "?from=1&to=2"
    for caller, client in clients.items():
        for label, body in MALFORMED.items():
            response = client.generic(method, path, body, content_type="application/json")
            _check(response, method, (method, path, caller, label))
            if (route, method) in READS_BODY:
                assert 400 <= response.status_code < 500, (method, path, caller, label, response.status_code)
                if caller == "admin":  # the body itself was refused, not the caller
                    assert response.status_code == 400, (method, path, label, response.content[:300])
        wrong_type = client.generic(method, path, '{"schema": {}}', content_type="text/plain")
        _check(wrong_type, method, (method, path, caller, "text/plain"))
        if (route, method) in READS_BODY and caller == "admin":
            assert wrong_type.status_code == 415
        for label, body in ODD.items():
            _check(client.generic(method, path, body, content_type="application/json"), method, (method, path, label))
        for bad_id in ("99999999999999999999", "0"):
            other = re.sub(r"/\d+(?=/|$|\?)", f"/{bad_id}", path)
            _check(client.generic(method, other, "{}", content_type="application/json"), method, (method, other))
    # Whatever was sent, nothing was registered and no second migration was made.
    assert SchemaVersion.objects.filter(subject__name="project.extra").count() in (1, 2)
    assert DocumentMigration.objects.count() == 1


@pytest.mark.parametrize("route", ROUTES)
def test_a_method_a_route_lacks_is_a_405_in_the_contracts_format(world, route):
    ids, clients = world
    path = "/api/v1/" + route
    for name, value in ids.items():
        path = re.sub(rf"<\w+:{name}>", value, path)
    response = clients["admin"].put(path, {}, format="json")
    _error(response, 405, "METHOD_NOT_ALLOWED")


# --- what the fuzzing gate found (fuzz/) -----------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, "true", "no", None])
def test_deprecated_is_a_json_boolean_only(admin_client, value):
    """DRF's BooleanField took 0/1/"yes": the document promises a boolean."""
    response = admin_client.patch(f"{VERSIONS}/1", {"deprecated": value}, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["details"]["field"] == "deprecated"


def test_a_subject_search_with_a_nul_is_400_not_a_database_error(api_client):
    response = api_client.get("/api/v1/schemas", {"search": "project\x00"})
    assert response.status_code == 400, response.content
    assert response.json()["details"]["field"] == "search"


def test_a_lone_surrogate_with_an_idempotency_key_is_not_a_500(admin_client):
    """The idempotency fingerprint encoded the body as UTF-8 strictly: a lone surrogate (valid JSON) was a 500."""
    body = '{"schema": {"type": "object", "title": "\\ud800"}}'
    response = admin_client.post(VERSIONS, body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="surrogate-1")
    assert response.status_code < 500, response.content
