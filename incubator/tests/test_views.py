"""The plumbing's own pages: the landing page, the favicon, and the JSON 404 for every method under /api/."""

import re

import pytest
from django.test import Client

METHODS = ["get", "post", "put", "patch", "delete", "options", "head"]


@pytest.fixture
def browser():
    """What a real client meets: Django's test client with CSRF checks on (APIClient turns them off)."""
    return Client(enforce_csrf_checks=True)


@pytest.mark.django_db
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/nope/", "/api/v1/projects/1/nope", "/api/v2/projects"])
@pytest.mark.parametrize("with_body", [False, True], ids=["no-body", "json-body"])
def test_unknown_api_path_is_404_for_every_method(browser, method, path, with_body):
    if with_body:
        response = browser.generic(method.upper(), path, '{"name": "x"}', content_type="application/json")
    else:
        response = getattr(browser, method)(path)
    assert response.status_code == 404, response.content
    assert response["Content-Type"].startswith("application/json")
    if method == "head":
        return
    body = response.json()
    assert set(body) == {"status_code", "error_code", "message", "details"}
    assert body["status_code"] == 404 and body["error_code"] == "NOT_FOUND"


@pytest.mark.django_db
def test_unknown_api_path_with_a_session_cookie_is_still_404(browser, make_user):
    """A logged-in admin's session cookie without a CSRF token must not turn the 404 into a 403."""
    browser.force_login(make_user(is_staff=True, is_superuser=True))
    assert browser.post("/api/v1/nope", data="{}", content_type="application/json").status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "html_lang", "phrase"), [("en", "en", "API documentation"), ("zh-CN,zh;q=0.9", "zh-hans", "接口文档")]
)
def test_landing_page_links_the_docs(client, language, html_lang, phrase):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'<html lang="{html_lang}">' in html
    assert phrase in html
    for href in ["/api/v1/docs", "/api/v1/redoc", "/api/v1/openapi.json", "/admin/", "/api/v1/health"]:
        assert f'href="{href}"' in html
    assert 'href="/favicon.ico"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from a CDN: it works offline
    assert "Accept-Language" in response["Vary"]


def test_favicon_is_a_small_cacheable_icon(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    content = b"".join(response) if response.streaming else response.content
    assert content[:4] == b"\x00\x00\x01\x00"  # an ICO header
    assert 0 < len(content) < 10_000
    assert "max-age=" in response["Cache-Control"]
    assert response.has_header("ETag")
    assert client.get("/favicon.ico", HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_documentation_pages_load_nothing_from_another_host(client, path):
    """Served offline and behind firewalls: no CDN, no web fonts (Redoc's template linked Google Fonts)."""
    page = client.get(path).content.decode()
    assert "googleapis" not in page and "gstatic" not in page and "cdn." not in page


def test_a_browser_app_on_an_allowed_origin_may_send_and_read_the_headers_the_api_documents(client, make_user):
    """A React app on the dev server's origin: its preflight for a safe retry, a conditional or a range request is
    granted, and the answers' ETag, Location, Content-Disposition... are readable from JavaScript (CORS hides any
    header not exposed)."""
    origin = "http://localhost:5173"
    sent = (
        "authorization, content-type, accept-language, idempotency-key, if-none-match, if-match, if-range, range, "
        "last-event-id, x-request-id"
    )
    preflight = client.options(
        "/api/v1/projects",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=sent,
    )
    assert preflight.status_code == 200
    assert preflight["Access-Control-Allow-Origin"] == origin
    allowed = {name.strip() for name in preflight["Access-Control-Allow-Headers"].split(",")}
    assert {name.strip() for name in sent.split(",")} <= allowed
    answer = client.get("/api/v1/schema", HTTP_ORIGIN=origin)
    assert answer["Access-Control-Allow-Origin"] == origin and answer.has_header("ETag")
    exposed = {name.strip().lower() for name in answer["Access-Control-Expose-Headers"].split(",")}
    assert {
        "etag",
        "location",
        "content-disposition",
        "content-range",
        "content-length",
        "accept-ranges",
        "idempotent-replayed",
        "retry-after",
        "x-request-id",
    } <= exposed
    elsewhere = client.options(
        "/api/v1/projects",
        HTTP_ORIGIN="https://evil.example",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS=sent,
    )
    assert not elsewhere.has_header("Access-Control-Allow-Origin")


@pytest.mark.parametrize(
    "path", ["/api/v1/schemas/%00", "/api/v1/schemas/x%00/versions/1", "/api/v1/projects/1%00", "/admin/%00/"]
)
@pytest.mark.parametrize("method", ["get", "head", "patch", "delete", "options"])
def test_a_nul_in_the_path_names_nothing(client, path, method):
    response = getattr(client, method)(path, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    if method != "head":
        assert response.json()["error_code"] == "NOT_FOUND" and response.json()["message"] == "Not found."
