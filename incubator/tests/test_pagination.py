"""The one list shape, page bounds and strict ordering."""

import pytest

pytestmark = [pytest.mark.django_db, pytest.mark.urls("incubator.tests.urls")]


@pytest.fixture
def users(make_user):
    return make_user.create_batch(45)


def test_list_shape_and_defaults(api_client, users):
    body = api_client.get("/api/v1/test/users").json()
    assert set(body) == {"users", "pagination"}
    assert len(body["users"]) == 20
    assert body["pagination"] == {
        "page": 1,
        "page_size": 20,
        "total": 45,
        "total_pages": 3,
        "next": "http://testserver/api/v1/test/users?page=2",
        "previous": None,
    }


def test_last_page_and_links(api_client, users):
    body = api_client.get("/api/v1/test/users?page=3&page_size=20").json()
    assert len(body["users"]) == 5
    assert body["pagination"]["next"] is None
    assert body["pagination"]["previous"] == "http://testserver/api/v1/test/users?page=2&page_size=20"


def test_links_keep_every_other_parameter_as_sent(api_client, users):
    query = "ordering=-id&page=2&page_size=10&note=%E6%9C%BA%E5%99%A8%E5%AD%A6%E4%B9%A0&note=b+c"
    pagination = api_client.get(f"/api/v1/test/users?{query}").json()["pagination"]
    base = "http://testserver/api/v1/test/users"
    assert pagination["next"] == f"{base}?{query.replace('page=2', 'page=3')}"
    assert pagination["previous"] == f"{base}?{query.replace('page=2&', '')}"
    # The links lead where they say.
    assert api_client.get(pagination["next"]).json()["pagination"]["page"] == 3
    assert api_client.get(pagination["previous"]).json()["pagination"]["page"] == 1


def test_an_encoded_or_repeated_page_is_replaced_not_kept(api_client, users):
    pagination = api_client.get("/api/v1/test/users?pag%65=1&page_size=10&page=2").json()["pagination"]
    assert pagination["page"] == 2
    assert pagination["next"] == "http://testserver/api/v1/test/users?page=3&page_size=10"


def test_page_size_is_capped_at_100(api_client, users):
    body = api_client.get("/api/v1/test/users?page_size=1000").json()
    assert body["pagination"]["page_size"] == 100
    assert len(body["users"]) == 45


def test_page_past_the_end_is_404(api_client, users):
    response = api_client.get("/api/v1/test/users?page=4")
    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "query", ["page=0", "page=abc", "page=", "page_size=0", "page_size=-3", "page_size=x", "page_size="]
)
def test_bad_page_parameters_are_400(api_client, users, query):
    response = api_client.get(f"/api/v1/test/users?{query}")
    assert response.status_code == 400
    assert response.json()["details"]["field"] in {"page", "page_size"}


def test_empty_list_is_one_empty_page(api_client, db):
    body = api_client.get("/api/v1/test/users").json()
    assert body["users"] == []
    assert body["pagination"]["total"] == 0 and body["pagination"]["total_pages"] == 1


def test_ordering_both_ways(api_client, users):
    ids = [u["id"] for u in api_client.get("/api/v1/test/users?ordering=-id&page_size=100").json()["users"]]
    assert ids == sorted(ids, reverse=True)


def test_unknown_ordering_field_is_400(api_client, users):
    response = api_client.get("/api/v1/test/users?ordering=password")
    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "INVALID_INPUT"
    assert body["details"]["field"] == "ordering"
