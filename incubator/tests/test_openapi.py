"""The OpenAPI document, Swagger UI and Redoc, served offline."""

import pytest

pytestmark = pytest.mark.django_db


def test_error_codes_are_documented_in_openapi(api_client):
    schema = api_client.get("/api/v1/openapi.json").json()
    error = schema["components"]["schemas"]["Error"]
    for code in ["INVALID_INPUT", "NOT_AUTHENTICATED", "TOKEN_INVALID", "RATE_LIMITED", "SERVICE_UNAVAILABLE"]:
        assert code in error["properties"]["error_code"]["enum"]
    me = schema["paths"]["/api/v1/users/me"]["get"]["responses"]
    assert me["401"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"


def test_openapi_is_json_and_lists_every_endpoint(api_client):
    response = api_client.get("/api/v1/openapi.json")
    assert response["Content-Type"].startswith("application/json")
    paths = response.json()["paths"]
    for path in [
        "/api/v1/users/register",
        "/api/v1/users/login",
        "/api/v1/users/token/refresh",
        "/api/v1/users/logout",
        "/api/v1/users/me",
        "/api/v1/users/me/password",
        "/api/v1/health",
        "/api/v1/health/ready",
    ]:
        assert path in paths, path


@pytest.mark.parametrize("path", ["/api/v1/docs/", "/api/v1/redoc/", "/api/v1/docs"])
def test_docs_pages_use_bundled_assets(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn.jsdelivr" not in html and "unpkg.com" not in html
