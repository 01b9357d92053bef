"""datasets.selectors against the database: visibility through the project, filters, exact cached totals,
versions and preview pages."""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.tests.factories import UserFactory
from datasets import selectors, services
from datasets.errors import VersionNotReady
from datasets.tests.factories import make_dataset, upload
from incubator.errors import InvalidInput, NotFound
from projects.tests.factories import add_member, make_project

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_projects(owner):
    public = make_project(owner, name="公开")
    private = make_project(owner, name="私有", visibility="private")
    return {
        "public": make_dataset(public, owner, content=None, name="公开数据"),
        "private": make_dataset(private, owner, content=None, name="私有数据"),
        "private_project": private,
    }


def visible(user):
    return set(selectors.dataset_list(user=user).values_list("name", flat=True))


def test_visibility_follows_the_project(two_projects, owner):
    member = UserFactory()
    add_member(two_projects["private_project"], "mentor", user=member)
    assert visible(AnonymousUser()) == {"公开数据"}
    assert visible(UserFactory()) == {"公开数据"}
    assert visible(member) == {"公开数据", "私有数据"}
    assert visible(owner) == {"公开数据", "私有数据"}
    assert visible(UserFactory(is_staff=True)) == {"公开数据", "私有数据"}


def test_filters_cannot_reach_past_visibility(two_projects):
    outsider = UserFactory()
    project_id = two_projects["private_project"].id
    assert not selectors.dataset_list(user=outsider, filters={"project": [project_id]}).exists()
    assert not selectors.dataset_list(user=outsider, filters={"search": "私有"}).exists()


def test_totals_are_exact_after_every_write(project, owner):
    def total(user, **filters):
        queryset = selectors.dataset_list(user=user, filters=filters)
        return selectors.dataset_list_total(queryset, user=user, filters=filters)

    outsider = UserFactory()
    assert total(owner) == total(outsider) == 0
    first = make_dataset(project, owner, content=None, name="第一")
    assert total(owner) == total(outsider) == 1
    make_dataset(project, owner, content=None, name="第二")
    assert total(owner) == 2 and total(owner, search="第二") == 1
    services.dataset_update(dataset=first, actor=owner, data={"name": "第二版"})
    assert total(owner, search="第二") == 2
    services.dataset_delete(dataset=first, actor=owner)
    assert total(owner) == 1 and total(owner, search="第二") == 1


def test_get_and_not_found(project, owner):
    dataset = make_dataset(project, owner, profile=False)
    assert selectors.dataset_get(dataset_id=dataset.id).latest_version.number == 1
    with pytest.raises(NotFound):
        selectors.dataset_get(dataset_id=dataset.id + 1000)
    assert selectors.version_get(dataset=dataset, number=1).status == "ready"
    with pytest.raises(NotFound):
        selectors.version_get(dataset=dataset, number=2)
    assert [v.number for v in selectors.version_list(dataset=dataset)] == [1]


def test_version_ready_refuses_processing_and_failed(project, owner):
    dataset = make_dataset(project, owner, content=None)
    services.dataset_version_add(dataset=dataset, actor=owner, upload=upload())
    with pytest.raises(VersionNotReady) as raised:
        selectors.version_ready(dataset=dataset, number=1)
    assert raised.value.details == {"status": "processing"}


def test_version_rows(project, owner):
    content = ("序号,值\n" + "".join(f"{n},{n * n}\n" for n in range(1, 8))).encode()
    dataset = make_dataset(project, owner, content=content, profile=False)
    version = selectors.version_ready(dataset=dataset, number=1)
    columns, rows = selectors.version_rows(version=version, page=2, page_size=3, columns=None)
    assert columns == ["序号", "值"]
    assert rows == [{"序号": 4, "值": 16}, {"序号": 5, "值": 25}, {"序号": 6, "值": 36}]
    columns, rows = selectors.version_rows(version=version, page=3, page_size=3, columns=["值"])
    assert (columns, rows) == (["值"], [{"值": 49}])
    assert selectors.version_rows(version=version, page=4, page_size=3, columns=None) == (["序号", "值"], [])
    with pytest.raises(InvalidInput) as raised:
        selectors.version_rows(version=version, page=1, page_size=3, columns=["值", "不存在"])
    assert raised.value.details["field"] == "columns"
    assert "不存在" in raised.value.details["message"]
