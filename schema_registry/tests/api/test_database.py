"""The platform admins' database endpoints: the schema and the migrations the database has, on SQLite and
PostgreSQL alike, and nobody else may read them."""

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from incubator.tests.test_openapi import generated_schema, validate_against
from schema_registry.introspection import _sqlite_check_definitions, database_migrations, database_schema

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/v1/admin/database/schema"
MIGRATIONS_URL = "/api/v1/admin/database/migrations"

# A table and a view of the test's own, in SQL both databases speak (the test's transaction drops them).
PROBE_DDL = [
    "CREATE TABLE intro_probe ("
    " id integer PRIMARY KEY,"
    " label varchar(20) DEFAULT 'x' NOT NULL,"
    " note text NULL,"
    " owner_id bigint NULL REFERENCES accounts_user (id),"
    " CONSTRAINT intro_probe_label_ok CHECK (label <> '' AND note IS NULL OR note <> ', (')"
    ")",
    "CREATE UNIQUE INDEX intro_probe_upper ON intro_probe (UPPER(label))",
    "CREATE INDEX intro_probe_note ON intro_probe (note, label)",
    "CREATE VIEW intro_probe_view AS SELECT id, label FROM intro_probe",
]


def _table(schema: dict, name: str) -> dict:
    return next(table for table in schema["tables"] if table["name"] == name)


def _by_name(items: list[dict]) -> dict[str, dict]:
    return {item["name"]: item for item in items}


@pytest.fixture
def admin(make_user):
    return make_user(is_staff=True)


@pytest.fixture
def probe():
    with connection.cursor() as cursor:
        for statement in PROBE_DDL:
            cursor.execute(statement)


# --- the functions ----------------------------------------------------------------------------------------------


def test_schema_lists_every_table_sorted_with_the_projects_table_as_the_models_declare_it():
    schema = database_schema()
    assert schema["vendor"] == connection.vendor
    names = [table["name"] for table in schema["tables"]]
    assert names == sorted(names)
    assert {"projects_project", "accounts_user", "django_migrations"} <= set(names)

    project = _table(schema, "projects_project")
    assert project["kind"] == "table"
    columns = _by_name(project["columns"])
    assert [column["name"] for column in project["columns"]][:2] == ["id", "name"]  # the table's order
    assert columns["id"]["primary_key"] and not columns["name"]["primary_key"]
    assert columns["name"]["nullable"] is False and columns["video_url"]["nullable"] is False
    expected_type = "character varying(200)" if connection.vendor == "postgresql" else "varchar(200)"
    assert columns["name"]["type"] == expected_type

    created = _by_name(project["indexes"])["project_created"]
    assert created["columns"] == ["created_at", "id"]
    assert (created["unique"], created["type"]) == (False, "btree")
    assert "DESC" in created["definition"]

    constraints = project["constraints"]
    status = _by_name(constraints)["project_status_valid"]
    assert (status["kind"], status["columns"], status["references"]) == ("check", ["status"], None)
    assert "recruiting" in status["definition"] and "completed" in status["definition"]
    owner = next(item for item in constraints if item["kind"] == "foreign_key" and item["columns"] == ["owner_id"])
    assert owner["references"] == {"table": "accounts_user", "column": "id"}
    assert "accounts_user" in owner["definition"]
    assert constraints[0]["kind"] == "primary_key" and constraints[0]["columns"] == ["id"]


def test_nullable_columns_and_expression_unique_indexes_of_the_users_table():
    user = _table(database_schema(), "accounts_user")
    columns = _by_name(user["columns"])
    assert columns["last_login"]["nullable"] is True
    assert columns["username"]["nullable"] is False
    email = _by_name(user["indexes"])["user_email_ci_unique"]  # UniqueConstraint(Lower("email")): an index
    assert email["unique"] is True and email["columns"] == []
    assert "lower" in email["definition"].lower()


def test_defaults_checks_indexes_and_views_of_a_table_made_by_hand(probe):
    schema = database_schema()
    table = _table(schema, "intro_probe")
    assert [column["name"] for column in table["columns"]] == ["id", "label", "note", "owner_id"]
    columns = _by_name(table["columns"])
    assert [columns[name]["nullable"] for name in ("label", "note", "owner_id")] == [False, True, True]
    assert columns["label"]["default"].startswith("'x'")  # PostgreSQL adds ::character varying
    assert columns["note"]["default"] is None
    assert columns["id"]["primary_key"] is True and columns["label"]["primary_key"] is False
    assert columns["owner_id"]["type"] == "bigint"

    indexes = _by_name(table["indexes"])
    assert set(indexes) == {"intro_probe_upper", "intro_probe_note"}
    assert (indexes["intro_probe_upper"]["unique"], indexes["intro_probe_upper"]["columns"]) == (True, [])
    assert "upper" in indexes["intro_probe_upper"]["definition"].lower()
    assert (indexes["intro_probe_note"]["unique"], indexes["intro_probe_note"]["columns"]) == (False, ["note", "label"])

    constraints = _by_name(table["constraints"])
    check = constraints["intro_probe_label_ok"]
    assert check["kind"] == "check" and "', ('" in check["definition"]
    kinds = [item["kind"] for item in table["constraints"]]
    assert kinds == sorted(kinds, key=["primary_key", "unique", "foreign_key", "check"].index)
    fk = next(item for item in table["constraints"] if item["kind"] == "foreign_key")
    assert (fk["columns"], fk["references"]) == (["owner_id"], {"table": "accounts_user", "column": "id"})

    view = _table(schema, "intro_probe_view")
    assert view["kind"] == "view"
    assert [column["name"] for column in view["columns"]] == ["id", "label"]
    assert view["indexes"] == [] and view["constraints"] == []


@pytest.mark.postgres
def test_postgresql_type_names_access_methods_and_constraint_names():
    project = _table(database_schema(), "projects_project")
    columns = _by_name(project["columns"])
    assert columns["created_at"]["type"] == "timestamp with time zone"
    assert columns["tags"]["type"] == "jsonb"
    assert _by_name(project["indexes"])["project_search_trgm"]["type"] == "gin"
    primary = project["constraints"][0]
    assert primary["name"] == "projects_project_pkey" and primary["definition"] == "PRIMARY KEY (id)"


def test_sqlite_check_definitions_survive_quotes_commas_and_parentheses():
    sql = (
        'CREATE TABLE "t" ("a" integer NOT NULL CHECK ("a" >= 0), "b" text UNIQUE, "c" text, '
        """CONSTRAINT "c_ok" CHECK ("c" IN ('x,)', 'y"')), CONSTRAINT [odd name] CHECK (length("b") > 1))"""
    )
    constraints = {
        "__unnamed_constraint_1__": {"check": True},
        "__unnamed_constraint_2__": {"check": False},  # b's UNIQUE
        "c_ok": {"check": True},
        "odd name": {"check": True},
    }
    assert _sqlite_check_definitions(sql, constraints) == {
        "__unnamed_constraint_1__": 'CHECK ("a" >= 0)',
        "c_ok": """CHECK ("c" IN ('x,)', 'y"'))""",
        "odd name": 'CHECK (length("b") > 1)',
    }


def test_migrations_of_every_app_in_order_all_applied():
    result = database_migrations()
    labels = [app["app"] for app in result["apps"]]
    assert labels == sorted(labels) and {"projects", "accounts", "auth"} <= set(labels)
    assert result["unapplied_count"] == 0
    projects = next(app for app in result["apps"] if app["app"] == "projects")["migrations"]
    names = [migration["name"] for migration in projects]
    assert names[:2] == ["0001_initial", "0002_search_indexes"]
    first = projects[0]
    assert first["applied"] is True and first["applied_at"] is not None and first["replaces"] == []
    assert all(migration["applied"] for app in result["apps"] for migration in app["migrations"])


def test_a_migration_the_database_does_not_have_is_counted():
    MigrationRecorder(connection).record_unapplied("projects", "0003_verbose_names")
    result = database_migrations()
    projects = _by_name(next(app for app in result["apps"] if app["app"] == "projects")["migrations"])
    assert (projects["0003_verbose_names"]["applied"], projects["0003_verbose_names"]["applied_at"]) == (False, None)
    assert projects["0001_initial"]["applied"] is True
    assert result["unapplied_count"] == 1


SQUASH_MIGRATIONS = {
    "0001_initial.py": "dependencies = []",
    "0002_more.py": 'dependencies = [("sessions", "0001_initial")]',
    "0001_squashed_0002_more.py": (
        'dependencies = []\n    replaces = [("sessions", "0001_initial"), ("sessions", "0002_more")]'
    ),
}


@pytest.fixture
def squashed_sessions(tmp_path, monkeypatch, settings):
    """The sessions app given a second migration and a squashed one replacing both (the database has the real
    sessions.0001_initial applied)."""
    package = tmp_path / "intro_squash_migrations"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, body in SQUASH_MIGRATIONS.items():
        (package / name).write_text(
            f"from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n    {body}\n"
            "    operations = []\n"
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings.MIGRATION_MODULES = {"sessions": "intro_squash_migrations"}


def _sessions(result: dict) -> list[dict]:
    return next(app for app in result["apps"] if app["app"] == "sessions")["migrations"]


def test_a_partly_applied_squash_lists_the_migrations_it_replaces(squashed_sessions):
    result = database_migrations()
    assert [(m["name"], m["applied"]) for m in _sessions(result)] == [("0001_initial", True), ("0002_more", False)]
    assert result["unapplied_count"] == 1


def test_a_fully_applied_squash_stands_for_its_parts(squashed_sessions):
    recorder = MigrationRecorder(connection)
    recorder.record_applied("sessions", "0002_more")
    migrations = _sessions(database_migrations())
    assert [m["name"] for m in migrations] == ["0001_squashed_0002_more"]
    squash = migrations[0]
    assert squash["applied"] is True and squash["replaces"] == ["0001_initial", "0002_more"]
    assert squash["applied_at"] == recorder.applied_migrations()[("sessions", "0002_more")].applied


def test_an_unapplied_squash_stands_for_its_parts(squashed_sessions):
    MigrationRecorder(connection).record_unapplied("sessions", "0001_initial")
    result = database_migrations()
    assert [(m["name"], m["applied"], m["applied_at"]) for m in _sessions(result)] == [
        ("0001_squashed_0002_more", False, None)
    ]
    assert result["unapplied_count"] == 1


# --- the endpoints ----------------------------------------------------------------------------------------------


def test_an_admin_reads_the_schema_in_its_documented_shape(auth_client, admin):
    response = auth_client(admin).get(SCHEMA_URL)
    assert response.status_code == 200
    body = response.json()
    validate_against(generated_schema(), {"$ref": "#/components/schemas/DatabaseSchema"}, body)
    project = _table(body, "projects_project")
    assert _by_name(project["columns"])["name"]["nullable"] is False
    assert "video_url" in _by_name(project["columns"])
    assert "project_created" in _by_name(project["indexes"])
    assert _by_name(project["constraints"])["project_status_valid"]["kind"] == "check"
    owner = next(item for item in project["constraints"] if item["columns"] == ["owner_id"])
    assert owner["references"] == {"table": "accounts_user", "column": "id"}


def test_an_admin_reads_the_migrations_in_their_documented_shape(auth_client, admin):
    response = auth_client(admin).get(MIGRATIONS_URL)
    assert response.status_code == 200
    body = response.json()
    validate_against(generated_schema(), {"$ref": "#/components/schemas/DatabaseMigrations"}, body)
    projects = next(app for app in body["apps"] if app["app"] == "projects")["migrations"]
    assert projects[0]["name"] == "0001_initial" and projects[0]["applied"] is True
    assert projects[0]["applied_at"].endswith("Z")
    assert body["unapplied_count"] == 0


def _assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"status_code", "error_code", "message", "details"}
    assert (body["status_code"], body["error_code"]) == (status, code)
    assert body["message"]


@pytest.mark.parametrize("url", [SCHEMA_URL, MIGRATIONS_URL])
@pytest.mark.parametrize("role", ["member", "mentor"])
def test_members_and_mentors_are_refused(auth_client, make_user, url, role):
    _assert_error(auth_client(make_user(role=role)).get(url), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("url", [SCHEMA_URL, MIGRATIONS_URL])
def test_anonymous_callers_must_log_in(api_client, url):
    _assert_error(api_client.get(url), 401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize("url", [SCHEMA_URL, MIGRATIONS_URL])
def test_the_endpoints_are_read_only(auth_client, admin, url):
    client = auth_client(admin)
    assert client.head(url).status_code == 200 and client.options(url).status_code == 200
    _assert_error(client.post(url, {}, format="json"), 405, "METHOD_NOT_ALLOWED")
    _assert_error(client.delete(url), 405, "METHOD_NOT_ALLOWED")
