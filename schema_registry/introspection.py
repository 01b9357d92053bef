"""What the database holds, read from the database itself: its tables and views with their columns, indexes and
constraints, and the migrations applied to it. Plain functions over a connection (`using` names its alias).

Django's own introspection (the one `inspectdb` uses) does the reading, table by table. Where it says too little,
one catalog query for the whole database adds the rest: on PostgreSQL the type names (Django gives type OIDs)
and the text of constraints and indexes; on SQLite the text of CHECK constraints and of indexes. Names are the
database's: SQLite has no names for primary and foreign keys, so Django's invented ones (`__primary__`, `fk_0`)
are shown.
"""

import re
from datetime import datetime
from typing import Any

from django.db import connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder

# The order constraints are listed in, per table (then by name).
CONSTRAINT_KINDS = ("primary_key", "unique", "foreign_key", "check", "exclusion", "other")
# Django calls an index of the default access method "idx" (its Index.suffix): on both backends a b-tree.
_DEFAULT_INDEX_TYPE = "idx"


def database_schema(using: str = "default") -> dict[str, Any]:
    """{vendor, tables: [{name, kind, columns, indexes, constraints}]}, tables sorted by name, columns in the
    table's order."""
    connection = connections[using]
    introspection = connection.introspection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            extras = _postgresql_extras(cursor)
        elif connection.vendor == "sqlite":
            extras = _sqlite_extras(cursor)
        else:
            extras = _Extras()
        tables = []
        for info in sorted(introspection.get_table_list(cursor), key=lambda info: info.name):
            description = _columns(cursor, connection, info.name)
            constraints = introspection.get_constraints(cursor, info.name)
            tables.append(_table(info.name, info.type, description, constraints, extras, connection.vendor))
    return {"vendor": connection.vendor, "tables": tables}


def _columns(cursor: Any, connection: Any, table: str) -> list[tuple[str, str, bool, Any]]:
    """(name, type, nullable, default) of each column in the table's order. On SQLite straight from the pragma
    Django's get_table_description reads: that method also parses the whole CREATE TABLE statement for collations
    and asks once per column for JSON checks, neither of which is shown, and would double the time taken."""
    if connection.vendor == "sqlite":
        cursor.execute(f"PRAGMA table_xinfo({connection.ops.quote_name(table)})")
        # hidden: 0 a normal column, 1 a virtual table's hidden one, 2 and 3 generated columns.
        return [
            (name, type_, not notnull, default)
            for _, name, type_, notnull, default, _, hidden in cursor.fetchall()
            if hidden in (0, 2, 3)
        ]
    return [
        (field.name, field.type_code, field.null_ok, field.default)
        for field in connection.introspection.get_table_description(cursor, table)
    ]


class _Extras:
    """What the backend's catalog adds to Django's introspection, keyed by (table, name)."""

    def __init__(
        self,
        column_types: dict[tuple[str, str], str] | None = None,
        constraint_definitions: dict[tuple[str, str], str] | None = None,
        index_definitions: dict[tuple[str, str], str] | None = None,
        table_sql: dict[str, str] | None = None,
    ) -> None:
        self.column_types = column_types or {}
        self.constraint_definitions = constraint_definitions or {}
        self.index_definitions = index_definitions or {}
        self.table_sql = table_sql or {}


def _postgresql_extras(cursor: Any) -> _Extras:
    visible = "pg_catalog.pg_table_is_visible(c.oid)"
    cursor.execute(
        f"""
        SELECT c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod)
        FROM pg_catalog.pg_attribute a
        JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
        WHERE c.relkind IN ('f', 'm', 'p', 'r', 'v') AND a.attnum > 0 AND NOT a.attisdropped AND {visible}
        """
    )
    column_types = {(table, column): type_name for table, column, type_name in cursor.fetchall()}
    cursor.execute(
        f"""
        SELECT c.relname, con.conname, pg_catalog.pg_get_constraintdef(con.oid, true)
        FROM pg_catalog.pg_constraint con
        JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
        WHERE {visible}
        """
    )
    constraint_definitions = {(table, name): definition for table, name, definition in cursor.fetchall()}
    cursor.execute(
        f"""
        SELECT c.relname, i.relname, pg_catalog.pg_get_indexdef(x.indexrelid)
        FROM pg_catalog.pg_index x
        JOIN pg_catalog.pg_class c ON c.oid = x.indrelid
        JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
        WHERE {visible}
        """
    )
    index_definitions = {(table, name): definition for table, name, definition in cursor.fetchall()}
    return _Extras(column_types, constraint_definitions, index_definitions)


def _sqlite_extras(cursor: Any) -> _Extras:
    cursor.execute("SELECT type, tbl_name, name, sql FROM sqlite_master WHERE type IN ('table', 'index')")
    table_sql, index_definitions = {}, {}
    for kind, table, name, sql in cursor.fetchall():
        if kind == "table" and sql:
            table_sql[table] = sql
        elif kind == "index" and sql:  # indexes SQLite makes for inline constraints have no SQL
            index_definitions[(table, name)] = sql
    return _Extras(index_definitions=index_definitions, table_sql=table_sql)


def _table(
    name: str, type_code: str, description: list, constraints: dict[str, Any], extras: _Extras, vendor: str
) -> dict[str, Any]:
    primary_key = {
        column for constraint in constraints.values() if constraint["primary_key"] for column in constraint["columns"]
    }
    columns = [
        {
            "name": column,
            "type": extras.column_types.get((name, column)) or str(type_code or ""),
            "nullable": bool(nullable),
            "default": None if default is None else str(default),
            "primary_key": column in primary_key,
        }
        for column, type_code, nullable, default in description
    ]
    check_definitions = _sqlite_check_definitions(extras.table_sql.get(name), constraints) if vendor == "sqlite" else {}
    indexes, others = [], []
    for constraint_name, constraint in constraints.items():
        if constraint["index"] and not constraint["primary_key"]:
            index_type = constraint.get("type") or _DEFAULT_INDEX_TYPE
            indexes.append(
                {
                    "name": constraint_name,
                    "columns": [column for column in constraint["columns"] if column is not None],
                    "unique": bool(constraint["unique"]),
                    "type": "btree" if index_type == _DEFAULT_INDEX_TYPE else index_type,
                    "definition": extras.index_definitions.get((name, constraint_name)) or constraint.get("definition"),
                }
            )
            continue
        definition = extras.constraint_definitions.get((name, constraint_name)) or check_definitions.get(
            constraint_name
        )
        kind = _constraint_kind(constraint, definition)
        reference = constraint["foreign_key"]
        others.append(
            {
                "name": constraint_name,
                "kind": kind,
                "columns": list(constraint["columns"]),
                "references": {"table": reference[0], "column": reference[1]} if reference else None,
                "definition": definition or _described(kind, constraint),
            }
        )
    return {
        "name": name,
        "kind": "view" if type_code == "v" else "table",
        "columns": columns,
        "indexes": sorted(indexes, key=lambda index: index["name"]),
        "constraints": sorted(others, key=lambda item: (CONSTRAINT_KINDS.index(item["kind"]), item["name"])),
    }


def _constraint_kind(constraint: dict, definition: str | None) -> str:
    if constraint["primary_key"]:
        return "primary_key"
    if constraint["foreign_key"]:
        return "foreign_key"
    if constraint["check"]:
        return "check"
    if constraint["unique"]:
        return "unique"
    if definition and definition.upper().startswith("EXCLUDE"):
        return "exclusion"
    return "other"


def _described(kind: str, constraint: dict) -> str | None:
    """A definition in the SQL of the constraint where the database keeps none of its own (SQLite's keys)."""
    columns = ", ".join(constraint["columns"])
    if kind == "primary_key":
        return f"PRIMARY KEY ({columns})"
    if kind == "unique":
        return f"UNIQUE ({columns})"
    if kind == "foreign_key":
        table, column = constraint["foreign_key"]
        return f"FOREIGN KEY ({columns}) REFERENCES {table}({column})"
    return None


_CONSTRAINT_NAME = re.compile(r'\s*CONSTRAINT\s+(?:"((?:[^"]|"")+)"|`([^`]+)`|\[([^\]]+)\]|(\w+))', re.IGNORECASE)
_CHECK = re.compile(r"\bCHECK\s*\(", re.IGNORECASE)


def _sqlite_check_definitions(sql: str | None, constraints: dict[str, dict]) -> dict[str, str]:
    """The CHECK clauses of a CREATE TABLE statement under the names Django's introspection gives them: named
    ones by name; unnamed ones (Django numbers them) by their order, when the counts agree."""
    if not sql:
        return {}
    named: dict[str, str] = {}
    unnamed: list[str] = []
    for item in _definitions(sql):
        masked = _masked(item)
        match = _CHECK.search(masked)
        if match is None:
            continue
        end = _closing(masked, match.end() - 1)
        clause = item[match.start() : end + 1]
        name = _CONSTRAINT_NAME.match(item)
        if name:
            named[next(group for group in name.groups() if group).replace('""', '"')] = clause
        else:
            unnamed.append(clause)
    checks = [name for name, constraint in constraints.items() if constraint["check"]]
    found = {name: named[name] for name in checks if name in named}
    numbered = [name for name in checks if name.startswith("__unnamed_constraint_")]
    if len(numbered) == len(unnamed):
        found.update(zip(numbered, unnamed, strict=True))
    return found


def _masked(text: str) -> str:
    """The text with the inside of quoted strings and identifiers blanked (same length), so parentheses,
    commas and keywords found in it are SQL's."""
    out = list(text)
    quote = None
    for position, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
            else:
                out[position] = " "
        elif char in "'\"`":
            quote = char
        elif char == "[":
            quote = "]"
    return "".join(out)


def _closing(masked: str, opening: int) -> int:
    depth = 0
    for position in range(opening, len(masked)):
        if masked[position] == "(":
            depth += 1
        elif masked[position] == ")":
            depth -= 1
            if depth == 0:
                return position
    return len(masked) - 1


def _definitions(sql: str) -> list[str]:
    """The column and constraint definitions of a CREATE TABLE statement (its top-level comma-separated items)."""
    masked = _masked(sql)
    start = masked.find("(")
    if start < 0:
        return []
    items, depth, begin = [], 0, start + 1
    for position in range(start + 1, len(masked)):
        char = masked[position]
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                items.append(sql[begin:position])
                break
            depth -= 1
        elif char == "," and depth == 0:
            items.append(sql[begin:position])
            begin = position + 1
    return [item.strip() for item in items]


def database_migrations(using: str = "default") -> dict[str, Any]:
    """{apps: [{app, migrations: [{name, applied, applied_at, replaces}]}], unapplied_count}: apps sorted by label,
    migrations in the order `migrate` applies them.

    As `showmigrations` does: a squashed migration stands for the ones it replaces while all or none of them are
    applied (applied_at is when its last was, unless it was recorded itself); when only some are, the replaced
    migrations are listed one by one instead."""
    connection = connections[using]
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    recorded = MigrationRecorder(connection).applied_migrations()
    graph = loader.graph
    labels = sorted({app for app, _ in graph.nodes} | set(loader.migrated_apps))
    apps, unapplied = [], 0
    for label in labels:
        shown: list[tuple[str, str]] = []
        seen: set[tuple[str, str]] = set()
        for leaf in graph.leaf_nodes(label):
            for key in graph.forwards_plan(leaf):
                if key[0] == label and key not in seen:
                    seen.add(key)
                    shown.append(key)
        migrations = []
        for key in shown:
            migration = graph.nodes[key]
            applied = key in loader.applied_migrations
            unapplied += not applied
            migrations.append(
                {
                    "name": key[1],
                    "applied": applied,
                    "applied_at": _applied_at(key, migration, recorded) if applied else None,
                    "replaces": [name for _, name in migration.replaces or []],
                }
            )
        apps.append({"app": label, "migrations": migrations})
    return {"apps": apps, "unapplied_count": unapplied}


def _applied_at(key: tuple[str, str], migration: Any, recorded: dict) -> datetime | None:
    if key in recorded:
        return recorded[key].applied
    times = [recorded[target].applied for target in migration.replaces or [] if target in recorded]
    return max(times) if times else None
