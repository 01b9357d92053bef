"""The OpenAPI document, Swagger UI and Redoc, served offline."""

import pytest

pytestmark = pytest.mark.django_db


def test_error_codes_are_documented_in_openapi(api_client):
    schema = api_client.get("/api/v1/openapi.json").json()
    error = schema["components"]["schemas"]["Error"]
    for code in ["INVALID_INPUT", "NOT_AUTHENTICATED", "TOKEN_INVALID", "RATE_LIMITED", "SERVICE_UNAVAILABLE"]:
        assert code in error["properties"]["error_code"]["enum"]
    me = schema["paths"]["/api/v1/users/me"]["get"]["responses"]
    assert me["401"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


def test_openapi_is_json_and_lists_every_endpoint(api_client):
    response = api_client.get("/api/v1/openapi.json")
    assert response["Content-Type"].startswith("application/json")
    paths = response.json()["paths"]
    for path in [
        "/api/v1/users/register",
        "/api/v1/users/login",
        "/api/v1/users/token/refresh",
        "/api/v1/users/logout",
        "/api/v1/users/me",
        "/api/v1/users/me/password",
        "/api/v1/health",
        "/api/v1/health/ready",
    ]:
        assert path in paths, path


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/", "/api/v1/docs"])
def test_docs_pages_use_bundled_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html


# --- descriptions: written for the SPA developer, never a docstring ------------------------------------------


def generated_schema() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    methods = ("get", "put", "patch", "post", "delete")
    return [(path, m, op) for path, ops in schema["paths"].items() for m, op in ops.items() if m in methods]


def _docstrings_of_views() -> set[str]:
    """inspect.getdoc of every class in the MRO of every routed view, and of its handler methods."""
    import inspect

    from drf_spectacular.generators import EndpointEnumerator

    docs: set[str] = set()
    for _path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        view = getattr(callback, "cls", None)
        for klass in inspect.getmro(view) if view else ():
            docs.add(inspect.getdoc(klass) or "")
        docs.add(inspect.getdoc(getattr(view, method.lower(), None)) or "")
    return {doc.strip() for doc in docs if doc and doc.strip()}


def _docstrings_of_serializers() -> set[str]:
    import inspect

    from rest_framework import serializers

    from accounts.api import serializers as accounts_serializers
    from projects.api import serializers as projects_serializers

    docs: set[str] = set()
    for module in (accounts_serializers, projects_serializers):
        for value in vars(module).values():
            if inspect.isclass(value) and issubclass(value, serializers.Field):
                docs.update(inspect.getdoc(klass) or "" for klass in inspect.getmro(value))
    return {doc.strip() for doc in docs if doc and doc.strip()}


def test_every_operation_has_a_summary_and_its_own_description():
    docstrings = _docstrings_of_views()
    assert any("/projects/{project_id}" in doc for doc in docstrings)  # the collection sees the base classes
    problems = []
    for path, method, operation in operations(generated_schema()):
        where = f"{method.upper()} {path}"
        description = (operation.get("description") or "").strip()
        if not (operation.get("summary") or "").strip():
            problems.append(f"{where}: no summary")
        if not description:
            problems.append(f"{where}: no description (give @extend_schema(description=...))")
        leaked = [doc for doc in docstrings if doc == description or doc in description]
        if leaked:
            problems.append(f"{where}: the description is a docstring: {leaked[0][:60]!r}")
    assert not problems, "\n".join(problems)


def test_component_descriptions_are_not_docstrings():
    docstrings = _docstrings_of_serializers()
    assert "Documents the shape project_representation produces." in docstrings
    for name, component in generated_schema()["components"]["schemas"].items():
        description = (component.get("description") or "").strip()
        assert not any(doc in description for doc in docstrings if description), name


def test_the_auto_schema_never_falls_back_to_docstrings():
    """Even with drf-spectacular's docstring fallback switched back on, an undecorated view has no description."""
    from drf_spectacular.settings import spectacular_settings
    from rest_framework.views import APIView

    from incubator.openapi import AutoSchema

    class Undocumented(APIView):
        """An internal note for maintainers."""

        def get(self, request):
            """How the handler works inside."""

    schema = AutoSchema()
    schema.view = Undocumented()
    schema.method = "GET"
    original = spectacular_settings.DISABLE_DOCSTRING_DESCRIPTIONS
    spectacular_settings.DISABLE_DOCSTRING_DESCRIPTIONS = False
    try:
        assert schema.get_description() == ""
    finally:
        spectacular_settings.DISABLE_DOCSTRING_DESCRIPTIONS = original


# --- one output contract per resource: the components equal what the API writes ------------------------------

_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z"


def _strict(node):
    """An OpenAPI 3.0 schema as JSON Schema: `nullable` as a null alternative, and no key an object does not
    declare (additionalProperties: false wherever an object lists its properties and says nothing else)."""
    if isinstance(node, list):
        return [_strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {
        key: (value if key in ("example", "examples", "default", "enum") else _strict(value))
        for key, value in node.items()
        if key != "nullable"
    }
    if isinstance(node.get("properties"), dict):  # property names are names, not keywords ("nullable", "type")
        out["properties"] = {name: _strict(value) for name, value in node["properties"].items()}
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(exclusive), bool):  # OpenAPI 3.0's flag on the bound; JSON Schema's is the bound
            out[exclusive] = out.pop(bound) if out[exclusive] else None
            if out[exclusive] is None:
                del out[exclusive]
    return {"anyOf": [out, {"type": "null"}]} if node.get("nullable") else out


def validate_against(schema: dict, target: dict, value) -> None:
    """Validate `value` against `target` (a schema or a {"$ref": ...}) of the OpenAPI document `schema`, strictly:
    every declared key present when required, no undeclared key, timestamps in UTC with Z."""
    import re

    from jsonschema import Draft202012Validator, FormatChecker

    formats = FormatChecker(formats=())
    formats.checks("date-time")(lambda v: not isinstance(v, str) or re.fullmatch(_UTC, v) is not None)
    root = {**_strict(target), "components": {"schemas": _strict(schema["components"]["schemas"])}}
    Draft202012Validator(root, format_checker=formats).validate(value)
    assert_keys_match(schema, target, value)
    # And as a strict OpenAPI 3.0 validator reads the document (nullable only beside a type, allOf applied to null).
    from openapi_schema_validator import OAS30Validator

    OAS30Validator({**target, "components": schema["components"]}).validate(value)


def _resolve(schema: dict, node: dict) -> dict:
    while True:
        if "$ref" in node:
            node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
        elif len(node.get("allOf", [])) == 1:
            node = node["allOf"][0]
        elif len(node.get("oneOf", [])) == 2 and {"$ref": "#/components/schemas/NullEnum"} in node["oneOf"]:
            node = next(part for part in node["oneOf"] if part != {"$ref": "#/components/schemas/NullEnum"})
        else:
            return node


def assert_keys_match(schema: dict, target: dict, value, where: str = "$") -> None:
    """The keys of every object in `value` are exactly the properties its schema declares, both ways."""
    node = _resolve(schema, target)
    if value is None:
        return
    if "properties" in node and isinstance(value, dict):
        declared, present = set(node["properties"]), set(value)
        assert present == declared, f"{where}: undeclared {present - declared}, missing {declared - present}"
        for key, sub in node["properties"].items():
            assert_keys_match(schema, sub, value[key], f"{where}.{key}")
    elif node.get("type") == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            assert_keys_match(schema, node["items"], item, f"{where}[{index}]")


def _component(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def response_schema(schema: dict, path: str, method: str, status: int) -> dict | None:
    response = schema["paths"][path][method]["responses"][str(status)]
    return response.get("content", {}).get("application/json", {}).get("schema")


@pytest.fixture
def world(auth_client):
    """An owner with a public project (tags, a video), a member, a pending application, an outsider."""
    from accounts.tests.factories import UserFactory
    from aimodels.tests.factories import trained_houses
    from datasets.tests.factories import make_dataset
    from projects import services
    from projects.tests.factories import add_member, make_project

    owner, applicant = UserFactory(), UserFactory()
    project = make_project(
        owner,
        name="医学影像分割",
        description="肺部 CT 影像分割",
        video_url="https://videos.incubator.example/demo-2.mp4",
        tags=["计算机视觉", "深度学习"],
    )
    make_project(owner, name="Empty project")  # no video, no tags: the blank values validate too
    member = add_member(project, role="mentor")
    application = services.application_submit(project=project, applicant=applicant, message="我想加入")
    dataset = make_dataset(project, owner)
    model_version = trained_houses(project, owner)
    admin = UserFactory(is_staff=True)
    from schema_registry import services as registry
    from schema_registry.selectors import subject_get

    extra = registry.subject_update(
        subject=subject_get(name="project.extra"), actor=admin, data={"compatibility": "NONE"}
    )
    registry.schema_version_register(subject=extra, schema={"type": "object", "required": ["stage"]}, actor=admin)
    migration = registry.migration_create(subject=extra, from_number=1, to_number=2, plan=None, actor=admin, defer=True)
    from analytics.services import export_create

    export_create(user=owner, report="projects", params={}, format="csv")
    return {
        "migration": migration,
        "admin_client": auth_client(admin),
        "owner": owner,
        "project": project,
        "dataset": dataset,
        "model_version": model_version,
        "member": member,
        "applicant": applicant,
        "application": application,
        "client": auth_client(owner),
        "applicant_client": auth_client(applicant),
    }


def test_a_nullable_reference_is_one_of_the_component_or_null():
    """drf-spectacular writes allOf + nullable without a type, which OpenAPI 3.0.3 ignores (incubator.openapi)."""
    schemas = generated_schema()["components"]["schemas"]
    decided_by = schemas["Application"]["properties"]["decided_by"]
    assert {key: decided_by[key] for key in ("oneOf", "nullable")} == {
        "oneOf": [{"$ref": "#/components/schemas/UserPublic"}, {"$ref": "#/components/schemas/NullEnum"}],
        "nullable": True,
    }
    assert "allOf" not in decided_by and schemas["NullEnum"] == {"enum": [None]}


def test_project_list_item_and_detail_are_the_project_component(world):
    schema = generated_schema()
    client, project = world["client"], world["project"]
    listed = client.get("/api/v1/projects")
    assert listed.status_code == 200
    items = listed.json()["projects"]
    assert len(items) == 2
    for item in items:
        validate_against(schema, _component("Project"), item)
    detail = client.get(f"/api/v1/projects/{project.id}")
    assert detail.status_code == 200
    validate_against(schema, _component("Project"), detail.json())
    assert detail.json() == next(item for item in items if item["id"] == project.id)  # one shape, both ways
    assert set(detail.json()) == set(schema["components"]["schemas"]["Project"]["properties"])


def test_member_application_and_user_bodies_are_their_components(world):
    schema = generated_schema()
    client, project = world["client"], world["project"]
    members = client.get(f"/api/v1/projects/{project.id}/members").json()["members"]
    assert len(members) == 2
    for member in members:
        validate_against(schema, _component("Member"), member)
    applications = client.get(f"/api/v1/projects/{project.id}/applications").json()["applications"]
    assert len(applications) == 1
    validate_against(schema, _component("Application"), applications[0])
    decided = client.post(
        f"/api/v1/projects/{project.id}/applications/{world['application'].id}/reject",
        {"reason": "名额已满"},
        format="json",
    )
    assert decided.status_code == 200
    validate_against(schema, _component("Application"), decided.json())  # decided_by and decided_at filled in
    mine = world["applicant_client"].get("/api/v1/users/me/applications").json()["applications"]
    validate_against(schema, _component("Application"), mine[0])
    me = client.get("/api/v1/users/me")
    assert me.status_code == 200
    validate_against(schema, _component("User"), me.json())


def test_a_body_with_an_undeclared_or_missing_key_fails_the_contract_check(world):
    import jsonschema

    schema = generated_schema()
    body = world["client"].get(f"/api/v1/projects/{world['project'].id}").json()
    with pytest.raises(jsonschema.ValidationError):
        validate_against(schema, _component("Project"), {**body, "secret": 1})
    with pytest.raises((jsonschema.ValidationError, AssertionError)):
        validate_against(schema, _component("Project"), {k: v for k, v in body.items() if k != "schema_version"})
    with pytest.raises(jsonschema.ValidationError):
        validate_against(schema, _component("Project"), {**body, "created_at": "2026-01-02T03:04:05+08:00"})


LISTS = {
    "/api/v1/projects": "projects",
    "/api/v1/users/me/projects": "projects",
    "/api/v1/projects/{project_id}/members": "members",
    "/api/v1/projects/{project_id}/applications": "applications",
    "/api/v1/users/me/applications": "applications",
    "/api/v1/tags": "tags",
    "/api/v1/datasets": "datasets",
    "/api/v1/datasets/{dataset_id}/versions": "versions",
    "/api/v1/jobs": "jobs",
    "/api/v1/jobs/{job_id}/logs": "logs",
    "/api/v1/models": "models",
    "/api/v1/models/{model_id}/versions": "versions",
    "/api/v1/schemas": "schemas",
    "/api/v1/schemas/{subject}/versions": "versions",
    "/api/v1/schema-migrations": "migrations",
    "/api/v1/schema-migrations/{migration_id}/log": "entries",
    "/api/v1/analytics/exports": "exports",
}
# Lists only platform admins may read.
ADMIN_LISTS = {"/api/v1/schema-migrations", "/api/v1/schema-migrations/{migration_id}/log"}
# Paged like a list, but a page of a dataset's rows carries its columns too.
ROW_PAGES = {"/api/v1/datasets/{dataset_id}/versions/{number}/rows": {"columns", "rows", "pagination"}}


def _filled(path: str, world: dict) -> str:
    return (
        path.replace("{project_id}", str(world["project"].id))
        .replace("{dataset_id}", str(world["dataset"].id))
        .replace("{job_id}", str(world["model_version"].job_id))
        .replace("{model_id}", str(world["model_version"].model_id))
        .replace("{number}", "1")
        .replace("{subject}", "project.extra")
        .replace("{migration_id}", str(world["migration"].id))
    )


def test_every_list_documents_its_list_key_and_answers_the_documented_shape(world):
    schema = generated_schema()
    paginated = {
        path for path, method, op in operations(schema) if any(p["name"] == "page" for p in op.get("parameters", []))
    }
    assert paginated == set(LISTS) | set(ROW_PAGES)
    for path, keys in ROW_PAGES.items():
        documented = _resolve(schema, response_schema(schema, path, "get", 200))
        assert set(documented["properties"]) == keys, path
        response = world["client"].get(_filled(path, world))
        assert response.status_code == 200 and response.json()["rows"], path
        validate_against(schema, response_schema(schema, path, "get", 200), response.json())
    for path, key in LISTS.items():
        documented = _resolve(schema, response_schema(schema, path, "get", 200))
        assert set(documented["properties"]) == {key, "pagination"}, path
        client = world["applicant_client"] if path == "/api/v1/users/me/applications" else world["client"]
        client = world["admin_client"] if path in ADMIN_LISTS else client
        response = client.get(_filled(path, world))
        assert response.status_code == 200, path
        assert response.json()[key], f"{path}: the world should give it rows"
        validate_against(schema, response_schema(schema, path, "get", 200), response.json())
