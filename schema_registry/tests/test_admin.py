"""The schema registry's admin: every page renders, a new version is registered from the subject's page through
the services (an incompatible one is refused on the field with every reason, the text kept), and migrations
show their log and are rolled back by an action."""

import json

import pytest

from accounts.tests.factories import UserFactory
from datasets.tests.test_admin import form_data
from projects.tests.factories import make_project
from schema_registry import services
from schema_registry.models import DocumentMigration, SchemaVersion, Subject
from schema_registry.selectors import subject_get

pytestmark = pytest.mark.django_db

V2 = {"type": "object", "properties": {"budget": {"type": "number"}, "stage": {"enum": ["idea", "pilot"]}}}


@pytest.fixture
def admin(client):
    user = UserFactory(is_staff=True, is_superuser=True, locale="en")
    client.force_login(user)
    return user


@pytest.fixture
def extra(admin):
    subject = services.subject_update(
        subject=subject_get(name="project.extra"), actor=admin, data={"compatibility": "NONE"}
    )
    services.schema_version_register(subject=subject, schema=V2, actor=admin)
    return services.subject_update(subject=subject, actor=admin, data={"compatibility": "BACKWARD"})


def _change(client, subject: Subject, **data):
    """The subject's page posted back as a browser would, with `data` typed into the form."""
    url = f"/admin/schema_registry/subject/{subject.pk}/change/"
    return client.post(url, {**form_data(client.get(url)), **data}, HTTP_ACCEPT_LANGUAGE="en")


def test_every_page_renders(client, admin, extra, django_capture_on_commit_callbacks):
    make_project(UserFactory(), extra={"budget": 1})
    with django_capture_on_commit_callbacks(execute=True):
        migration = services.migration_create(subject=extra, from_number=2, to_number=1, plan=[], actor=admin)
    version = extra.versions.get(number=2)
    for url in (
        "/admin/schema_registry/subject/",
        f"/admin/schema_registry/subject/{extra.pk}/change/",
        "/admin/schema_registry/schemaversion/",
        f"/admin/schema_registry/schemaversion/{version.pk}/change/",
        "/admin/schema_registry/documentmigration/",
        f"/admin/schema_registry/documentmigration/{migration.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get(f"/admin/schema_registry/documentmigration/{migration.pk}/change/").content.decode()
    assert "Finished" in page  # the log, inline


def test_an_incompatible_new_version_is_refused_on_the_field_with_every_reason_and_the_text_kept(client, extra):
    narrower = {**V2, "required": ["budget"], "properties": {**V2["properties"], "stage": {"enum": ["idea"]}}}
    text = json.dumps(narrower)
    response = _change(client, extra, new_schema=text)
    assert response.status_code == 200  # the form again, not a redirect
    page = response.content.decode()
    assert "$.budget" in page and "$.stage" in page
    assert response.context["adminform"].form["new_schema"].value() == text
    assert extra.versions.count() == 2


def test_a_compatible_new_version_is_registered_and_an_empty_field_registers_nothing(client, extra):
    assert _change(client, extra).status_code == 302
    assert extra.versions.count() == 2
    described = {**V2, "description": "预算与阶段"}
    assert _change(client, extra, new_schema=json.dumps(described)).status_code == 302
    extra.refresh_from_db()
    assert extra.current_number == 3 and SchemaVersion.objects.get(subject=extra, number=3).schema == described


def test_a_schema_that_is_not_valid_is_refused_on_the_field(client, extra):
    response = _change(client, extra, new_schema='{"type": "objekt"}')
    assert response.status_code == 200 and "schema.type" in response.content.decode()
    assert _change(client, extra, new_schema="{not json").status_code == 200
    assert extra.versions.count() == 2


def test_the_roll_back_action_restores_through_the_service(client, admin, extra, django_capture_on_commit_callbacks):
    project = make_project(UserFactory(), extra={"budget": 1})
    with django_capture_on_commit_callbacks(execute=True):
        migration = services.migration_create(
            subject=extra,
            from_number=2,
            to_number=1,
            plan=[{"op": "set_default", "path": "stage", "value": "idea"}],
            actor=admin,
        )
    project.refresh_from_db()
    assert project.schema_version == 1 and project.extra == {"budget": 1, "stage": "idea"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/admin/schema_registry/documentmigration/",
            {"action": "roll_back", "_selected_action": [migration.pk]},
        )
    assert response.status_code == 302
    assert DocumentMigration.objects.get(pk=migration.pk).status == "rolled_back"
    project.refresh_from_db()
    assert project.schema_version == 2 and project.extra == {"budget": 1}
