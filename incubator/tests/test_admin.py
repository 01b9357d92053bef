"""Every model has a working Django admin: changelists with their filters and search render for staff."""

import pytest
from django.contrib import admin

from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, make_user):
    user = make_user(is_staff=True, is_superuser=True)
    client.force_login(user)
    project = make_project(user, tags=["机器学习"])
    add_member(project)
    return client


def test_every_model_is_registered():
    from django.apps import apps

    ours = [m for m in apps.get_models() if m._meta.app_label in {"accounts", "projects", "events"}]
    assert ours and all(admin.site.is_registered(m) for m in ours)


@pytest.mark.parametrize(
    "model",
    [m for m in admin.site._registry if m._meta.app_label in {"accounts", "projects", "events", "token_blacklist"}],
    ids=lambda m: m._meta.label,
)
def test_changelist_with_search_and_filters_renders(staff_client, model):
    model_admin = admin.site._registry[model]
    url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
    assert staff_client.get(url).status_code == 200
    if model_admin.search_fields:
        assert staff_client.get(url, {"q": "机器"}).status_code == 200
    for name in model_admin.list_filter:
        if isinstance(name, str) and not name.endswith("_at") and name != "date_joined":
            assert staff_client.get(url, {f"{name}__exact": "x"}).status_code in (200, 302)


def test_project_admin_filters_by_status(staff_client):
    response = staff_client.get("/admin/projects/project/", {"status__exact": "recruiting"})
    assert response.status_code == 200
    assert "测试项目" in response.content.decode()


@pytest.mark.parametrize(
    ("language", "title", "index"),
    [("zh-hans", "孵化器管理", "站点管理"), ("en", "Incubator administration", "Site administration")],
)
def test_the_site_is_titled_for_the_product(staff_client, language, title, index):
    page = staff_client.get("/admin/", HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert f"<title>{index} | {title}</title>" in page  # not the same words twice
    assert f'<a href="/admin/">{title}</a>' in page
    assert "Django" not in page.split("<body", 1)[1]


def test_models_and_columns_read_in_chinese(staff_client):
    index = staff_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    for name in ("项目标签", "发件箱事件", "成员关系", "加入申请", "用户"):
        assert name in index
    for english in ("Project tags", "Outbox events", "Outstanding tokens", "Blacklisted tokens", "Token Blacklist"):
        assert english not in index
    changelist = staff_client.get("/admin/projects/project/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    header = changelist.split('class="column-tag_summary"', 1)[1].split("</th>", 1)[0]
    assert "标签" in header
    events = staff_client.get("/admin/events/event/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "主题" in events and "Subject type" not in events


def test_the_outbox_is_read_only(staff_client):
    from incubator.events.models import Event

    event = Event.objects.first()
    assert staff_client.get("/admin/events/event/add/").status_code == 403
    assert staff_client.get(f"/admin/events/event/{event.pk}/change/").status_code == 200
    assert staff_client.post(f"/admin/events/event/{event.pk}/change/", {"type": "x"}).status_code == 403
    assert staff_client.post(f"/admin/events/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.filter(pk=event.pk, type=event.type).exists()
