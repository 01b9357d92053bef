"""An export on a real Celery worker (prefork, on the broker of CELERY_BROKER_URL, the test database and the
test's storage): created as a request creates it, sent after commit, written and stored by the worker, read
back. Skipped without a broker (CI runs it on Redis)."""

import csv
import io

import pytest
from django.utils import translation

from aimodels.tests.test_worker import wait_for, worker  # noqa: F401  (the worker fixture)
from analytics import services
from analytics.models import Export
from incubator.events.models import Event

from .test_exports import INJECTED, exports_world

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def test_an_export_runs_on_the_worker(worker, fs_storage):  # noqa: F811
    world = exports_world()
    world["mine"].name = INJECTED
    world["mine"].save()
    with translation.override("en"):
        export = services.export_create(user=world["owner"], report="jobs", params={}, format="csv")
    wait_for(lambda: Export.objects.get(pk=export.pk).is_finished, 60, "the export to finish")
    export.refresh_from_db()
    assert export.status == "succeeded", (export.error_code, export.error_message)
    assert export.attempts == 1 and export.row_count == 1
    data = (fs_storage.location / export.file).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0][:3] == ["ID", "Project ID", "Project"]  # the creator's language, not the worker's
    assert rows[1][2] == "'" + INJECTED and rows[1][3] == "客户评论"
    statuses = Event.objects.filter(type="export.status", subject_id=str(export.public_id)).order_by("id")
    assert [event.payload["status"] for event in statuses] == ["queued", "running", "succeeded"]
