"""scripts/backup.sh and scripts/restore.sh on a seeded PostgreSQL database: a restore into a new database has
every table's rows and every stored file, byte for byte, and a backup whose files were tampered with is refused."""

import hashlib
import os
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from accounts.tests.factories import UserFactory
from datasets import services as dataset_services
from datasets.tests.factories import make_dataset, upload
from projects.tests.factories import add_member, make_project

ROOT = Path(__file__).resolve().parents[2]
BACKUP = ROOT / "scripts" / "backup.sh"
RESTORE = ROOT / "scripts" / "restore.sh"
SECOND_CSV = "城市,日期,AQI,等级\n深圳,2026-01-03,30,优\n成都,2026-01-03,88,良\n".encode()

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _url(name: str) -> str:
    params = connection.settings_dict
    user = quote(params.get("USER") or "", safe="")
    password = f":{quote(params['PASSWORD'], safe='')}" if params.get("PASSWORD") else ""
    host = params.get("HOST") or "127.0.0.1"
    port = params.get("PORT") or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{name}"


def _row_counts(url: str) -> dict[str, int]:
    """Every table of every non-system schema, counted here rather than by the scripts under test."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg_toast%'"
        ).fetchall()
        return {
            f"{schema}.{table}": conn.execute(
                psycopg.sql.SQL("SELECT count(*) FROM {}.{}").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table)
                )
            ).fetchone()[0]
            for schema, table in tables
        }


def _checksums(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _run(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *map(str, args)], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def _reseal(backup: Path) -> None:
    """Recomputes the backup's own SHA256SUMS, as someone who tampered with it carefully would."""
    parts = ["database.dump", "media.tar", "files.sha256", "tables.tsv", "migrations.tsv", "manifest.txt"]
    lines = [f"{hashlib.sha256((backup / part).read_bytes()).hexdigest()}  {part}\n" for part in parts]
    (backup / "SHA256SUMS").write_text("".join(lines))


def _tamper_with_a_file(backup: Path, work: Path) -> str:
    """Rewrites media.tar with one byte of its first dataset file changed; returns that file's name."""
    unpacked = work / "unpacked"
    with tarfile.open(backup / "media.tar") as archive:
        names = archive.getnames()
        archive.extractall(unpacked, filter="data")
    victim = next(name for name in names if name.endswith(".csv"))
    data = bytearray((unpacked / victim).read_bytes())
    data[0] ^= 0x01
    (unpacked / victim).write_bytes(bytes(data))
    with tarfile.open(backup / "media.tar", "w") as archive:
        for name in names:
            archive.add(unpacked / name, arcname=name)
    return victim.removeprefix("./")


@pytest.fixture
def media(tmp_path):
    """A MEDIA_ROOT of the test's own, with the datasets storage inside it as in production (settings/storage.py)."""
    root = tmp_path / "media"
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": root / "datasets"}}
    with override_settings(MEDIA_ROOT=root, STORAGES={**settings.STORAGES, "datasets": storage}):
        yield root


@pytest.fixture
def restore_database():
    """A new, empty database beside the test database (name from DATABASE_URL's, plus a random suffix), dropped
    at the end whatever happens."""
    base = os.environ.get("DATABASE_URL", "").rsplit("/", 1)[-1].split("?")[0] or "incubator"
    name = f"{base}_restore_{uuid.uuid4().hex[:10]}"
    admin = _url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    try:
        yield _url(name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            drop = psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            conn.execute(drop.format(psycopg.sql.Identifier(name)))


def test_a_backup_restores_into_a_new_database_with_every_row_and_file(media, restore_database, tmp_path):
    for tool in ("pg_dump", "pg_restore", "psql"):
        assert shutil.which(tool), f"{tool} is needed by scripts/backup.sh and restore.sh (postgresql-client)"

    # Seeded the way the API seeds: a team, a project with tags, a dataset of two versions with their files.
    owner = UserFactory(username="backup_owner")
    project = make_project(owner, name="备份测试", tags=["数据分析", "backup"])
    add_member(project, "maintainer")
    dataset = make_dataset(project, owner)
    dataset_services.dataset_version_add(dataset=dataset, actor=owner, upload=upload(SECOND_CSV, "第二版.csv"))
    source_url = _url(connection.settings_dict["NAME"])
    rows = _row_counts(source_url)
    files = _checksums(media)
    assert rows["public.projects_tag"] >= 2 and rows["public.datasets_datasetversion"] == 2, rows
    assert len(files) >= 4, files  # originals, canonical Parquet and CSV copies

    backup = tmp_path / "backup"
    made = _run(BACKUP, "--output", backup, env={"DATABASE_URL": source_url, "MEDIA_ROOT": str(media)})
    assert made.returncode == 0, made.stderr
    manifest = (backup / "manifest.txt").read_text()
    assert f"files: {len(files)}" in manifest and "git_commit: " in manifest
    assert "last_migration: " in manifest and "last_migration: \n" not in manifest

    # A tampered backup is refused before the target is touched: the archive's own checksum ...
    spoiled = tmp_path / "spoiled"
    shutil.copytree(backup, spoiled)
    with (spoiled / "media.tar").open("r+b") as archive:
        archive.seek(600)  # inside the first member's data
        byte = archive.read(1)
        archive.seek(600)
        archive.write(bytes([byte[0] ^ 0x01]))
    refused = _run(RESTORE, "--media-dir", tmp_path / "never", spoiled, restore_database)
    assert refused.returncode == 3, refused.stderr
    assert "damaged" in refused.stderr
    # ... and, with the backup's checksums recomputed, the file's own checksum from the manifest.
    shutil.rmtree(spoiled)
    shutil.copytree(backup, spoiled)
    victim = _tamper_with_a_file(spoiled, tmp_path)
    _reseal(spoiled)
    refused = _run(RESTORE, "--media-dir", tmp_path / "never", spoiled, restore_database)
    assert refused.returncode == 3, refused.stderr
    assert f"{victim}: FAILED" in refused.stderr
    assert not (tmp_path / "never").exists()
    assert _row_counts(restore_database) == {}

    restored_media = tmp_path / "restored-media"
    restored = _run(RESTORE, "--media-dir", restored_media, backup, restore_database)
    assert restored.returncode == 0, restored.stderr

    assert _row_counts(restore_database) == rows
    assert _checksums(restored_media) == files
    with psycopg.connect(restore_database) as conn:
        tags = conn.execute(
            "SELECT t.name FROM projects_tag t JOIN projects_projecttag pt ON pt.tag_id = t.id "
            "JOIN projects_project p ON p.id = pt.project_id WHERE p.name = %s",
            ["备份测试"],
        ).fetchall()
    assert sorted(name for (name,) in tags) == sorted(["数据分析", "backup"])

    # A second restore into the now populated database is refused without --force.
    again = _run(RESTORE, "--media-dir", tmp_path / "other-media", backup, restore_database)
    assert again.returncode == 2, again.stderr
