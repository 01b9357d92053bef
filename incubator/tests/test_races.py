"""A write that races a delete gets a 404 or a 409 in the contract's body, never a 500, and leaves nothing
behind. The race is made certain here: the other request's delete runs between the view's checks and the
service's write (on PostgreSQL in .ci/run, where a foreign key names which way it failed)."""

import pytest
from django.db import connection

from datasets.tests.factories import stored_files, upload
from projects.models import Project
from projects.tests.factories import make_project

pytestmark = pytest.mark.django_db


def other_request(work) -> None:
    """`work` in a thread of its own, with its own connection, committed before this returns."""
    import threading

    from django.db import connections

    def run():
        try:
            work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()


def deleted_first(monkeypatch, module, name, delete):
    """`module.name` (a service) runs after `delete()`: the other request's delete won the race."""
    real = getattr(module, name)

    def raced(*args, **kwargs):
        delete()
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, raced)


def test_an_update_of_a_row_deleted_meanwhile_is_a_404(auth_client, user, monkeypatch):
    from projects import services
    from projects.api import views

    project = make_project(user)
    deleted_first(monkeypatch, views.services, "project_update", lambda: Project.objects.filter(pk=project.pk).delete())
    response = auth_client(user).patch(f"/api/v1/projects/{project.pk}", {"description": "新的"}, format="json")
    assert response.status_code == 404, response.content
    assert response.json()["error_code"] == "NOT_FOUND"
    assert services is views.services


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when the transaction commits
def test_a_row_made_under_a_parent_deleted_meanwhile_is_refused_and_its_file_goes(
    auth_client, user, monkeypatch, fs_storage
):
    from datasets import services

    project = make_project(user)
    real_clean = services.model_clean

    def checked_then_deleted(instance, **kwargs):
        real_clean(instance, **kwargs)  # the project was there when the dataset was checked...
        delete = lambda: Project.objects.filter(pk=project.pk).delete()  # noqa: E731
        if connection.vendor == "postgresql":
            other_request(delete)  # ...and is gone when it is written, deleted by another request
        else:
            delete()  # (SQLite has one writer at a time: the same connection stands in for the other one)

    monkeypatch.setattr(services, "model_clean", checked_then_deleted)
    response = auth_client(user).post(
        "/api/v1/datasets",
        {"project": project.pk, "name": "迟到的", "file": upload(b"a,b\n1,2\n", "x.csv")},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    body = response.json()
    if connection.vendor == "postgresql":  # the foreign key says the project is gone
        assert (response.status_code, body["error_code"], body["details"]["reason"]) == (404, "NOT_FOUND", "deleted")
        assert body["message"] == "Something this request refers to was deleted meanwhile."
    else:  # SQLite only says a foreign key failed
        assert (response.status_code, body["error_code"], body["details"]["reason"]) == (409, "CONFLICT", "changed")
    assert stored_files(fs_storage.location) == []


class _ForeignKeyViolation(Exception):
    sqlstate = "23503"


def _integrity(cause_text: str | None, text: str = "") -> Exception:
    from django.db import IntegrityError

    error = IntegrityError(text or cause_text)
    error.__cause__ = _ForeignKeyViolation(cause_text) if cause_text is not None else None
    return error


@pytest.mark.parametrize(
    ("exc", "status", "code", "reason"),
    [
        pytest.param(Project.DoesNotExist(), 404, "NOT_FOUND", None, id="re-read finds nothing"),
        pytest.param(
            _integrity(
                'insert or update on table "datasets_dataset" violates foreign key constraint\nDETAIL:  Key '
                '(project_id)=(73) is not present in table "projects_project".'
            ),
            404,
            "NOT_FOUND",
            "deleted",
            id="postgresql: its parent is gone",
        ),
        pytest.param(
            _integrity(
                'update or delete on table "datasets_datasetversion" violates foreign key constraint\nDETAIL:  '
                'Key (id)=(92) is still referenced from table "aimodels_trainingjob".'
            ),
            409,
            "CONFLICT",
            "in_use",
            id="postgresql: referred to meanwhile",
        ),
        pytest.param(_integrity(None, "FOREIGN KEY constraint failed"), 409, "CONFLICT", "changed", id="sqlite"),
    ],
)
def test_what_a_raced_write_answers(exc, status, code, reason):
    from incubator.exceptions import exception_handler

    response = exception_handler(exc, {})
    assert (response.status_code, response.data["error_code"]) == (status, code)
    assert response.data["details"].get("reason") == reason


def test_other_integrity_errors_are_still_bugs():
    from django.db import IntegrityError

    from incubator.exceptions import exception_handler

    assert exception_handler(IntegrityError("UNIQUE constraint failed: x.y"), {}).status_code == 500
    unique = IntegrityError("duplicate key value violates unique constraint")
    unique.__cause__ = type("UniqueViolation", (Exception,), {"sqlstate": "23505"})("duplicate key")
    assert exception_handler(unique, {}).status_code == 500
