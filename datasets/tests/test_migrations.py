"""Data migrations of datasets, run for real: back to the state before, rows as they were there, then forward."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.tests.factories import UserFactory
from datasets import services
from datasets.models import DatasetVersion
from projects.tests.factories import make_project

from .factories import upload

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = ("datasets", "0003_version_language")
PROFILES = ("datasets", "0004_version_translations")


def test_failed_versions_get_a_failed_profile_and_no_other_version_changes():
    owner = UserFactory()
    project = make_project(owner, name="迁移")
    dataset = services.dataset_create(project=project, actor=owner, data={"name": "旧数据"}, upload=upload())
    services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    failed, processing, ready = DatasetVersion.objects.filter(dataset=dataset).order_by("number")
    # As the code before 0004 left them: a failed version's profile pending.
    DatasetVersion.objects.filter(pk=failed.pk).update(
        status="failed", error_code="FILE_UNREADABLE", profile_status="pending", profile_error=""
    )
    DatasetVersion.objects.filter(pk=processing.pk).update(
        status="processing", profile_status="pending", profile_error=""
    )
    DatasetVersion.objects.filter(pk=ready.pk).update(status="ready", profile_status="ready")

    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate([BEFORE])
    try:
        executor = MigrationExecutor(connection)
        executor.migrate([PROFILES])
        # The model as it was at that migration (later ones add columns the table does not have yet).
        then = executor.loader.project_state([PROFILES]).apps.get_model("datasets", "DatasetVersion")
        statuses = dict(then.objects.filter(dataset=dataset.pk).values_list("number", "profile_status"))
        assert statuses == {1: "failed", 2: "pending", 3: "ready"}
        migrated = then.objects.get(pk=failed.pk)
        assert migrated.profile_error == "The version failed, so it has no profile."
        assert migrated.translations["profile_error"] == {
            "en": "The version failed, so it has no profile.",
            "zh-hans": "该版本处理失败，因此没有数据画像。",
        }
        assert then.objects.get(pk=processing.pk).profile_error == ""
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
