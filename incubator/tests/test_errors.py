"""Every kind of error leaves in the contract's body, in the caller's language."""

import logging

import pytest
from django.test import override_settings

pytestmark = [pytest.mark.django_db, pytest.mark.urls("incubator.tests.urls")]


def assert_error(response, status_code, error_code):
    assert response.status_code == status_code, response.content
    body = response.json()
    assert set(body) == {"status_code", "error_code", "message", "details"}
    assert body["status_code"] == status_code
    assert body["error_code"] == error_code
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["details"], dict)
    return body


def test_validation_error_names_first_field_and_keeps_all(api_client):
    response = api_client.post("/api/v1/users/register", {"email": "not-an-email", "username": ""}, format="json")
    body = assert_error(response, 400, "INVALID_INPUT")
    assert body["details"]["field"] == "email"
    assert body["details"]["message"]
    assert set(body["details"]["errors"]) == {"email", "username", "password"}


def test_not_authenticated(api_client):
    assert_error(api_client.get("/api/v1/users/me"), 401, "NOT_AUTHENTICATED")


def test_garbage_token_is_token_invalid(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert_error(api_client.get("/api/v1/users/me"), 401, "TOKEN_INVALID")


def test_permission_denied(api_client):
    assert_error(api_client.get("/api/v1/test/forbidden"), 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/nothing/here/", "/api/v2/users/me", "/api/"])
def test_unknown_api_url_is_json_404(api_client, path):
    assert_error(api_client.get(path), 404, "NOT_FOUND")


@override_settings(DEBUG=True)
def test_unknown_api_url_is_json_even_in_debug(api_client):
    assert_error(api_client.post("/api/v1/nothing-here", {}, format="json"), 404, "NOT_FOUND")


def test_method_not_allowed(api_client):
    body = assert_error(api_client.delete("/api/v1/users/login"), 405, "METHOD_NOT_ALLOWED")
    assert "DELETE" in body["message"]


def test_malformed_json(api_client):
    response = api_client.generic(
        "POST", "/api/v1/users/login", '{"email": "a@b.cn", ', content_type="application/json"
    )
    body = assert_error(response, 400, "PARSE_ERROR")
    assert "reason" in body["details"]


def test_body_over_limit_is_413(api_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api_client.generic(
        "POST", "/api/v1/users/register", '{"bio": "' + "x" * 2000 + '"}', content_type="application/json"
    )
    body = assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert body["details"]["limit_bytes"] == 1000
    # Refused before LocaleMiddleware runs, in the request's language all the same.
    english = api_client.generic(
        "POST", "/api/v1/users/register", "x" * 2000, content_type="application/json", HTTP_ACCEPT_LANGUAGE="en"
    )
    chinese = api_client.generic(
        "POST", "/api/v1/users/register", "x" * 2000, content_type="application/json", HTTP_ACCEPT_LANGUAGE="zh-CN"
    )
    assert english.json()["message"] != chinese.json()["message"]
    assert english.json()["message"].isascii() and not chinese.json()["message"].isascii()


def test_unsupported_media_type(api_client):
    response = api_client.generic(
        "POST", "/api/v1/users/login", "email=a&password=b", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_unhandled_error_is_500_without_stack_trace(api_client, caplog):
    api_client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="incubator.errors"):
        response = api_client.get("/api/v1/test/boom", HTTP_X_REQUEST_ID="req-abc-123")
    body = assert_error(response, 500, "INTERNAL_ERROR")
    assert "secret internal detail" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert body["details"]["request_id"] == "req-abc-123"
    assert response["X-Request-ID"] == "req-abc-123"
    assert any("secret internal detail" in (r.exc_text or str(r.exc_info)) for r in caplog.records)


def test_database_down_is_503(api_client):
    body = assert_error(api_client.get("/api/v1/test/db-down"), 503, "SERVICE_UNAVAILABLE")
    assert body["details"]["unavailable"] == ["database"]


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (None, "身份认证信息未提供。"),
        ("zh-hans", "身份认证信息未提供。"),
        ("zh-CN,zh;q=0.9", "身份认证信息未提供。"),
        ("en-US,en;q=0.9", "Authentication credentials were not provided."),
    ],
)
def test_message_follows_accept_language(api_client, language, expected):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    body = assert_error(api_client.get("/api/v1/users/me", **headers), 401, "NOT_AUTHENTICATED")
    assert body["message"] == expected


def test_own_messages_are_translated(api_client):
    zh = api_client.post("/api/v1/users/login", {"email": "nobody@example.com", "password": "x"}, format="json")
    en = api_client.post(
        "/api/v1/users/login",
        {"email": "nobody@example.com", "password": "x"},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert assert_error(zh, 401, "AUTHENTICATION_FAILED")["message"] == "用户名/邮箱或密码错误。"
    assert assert_error(en, 401, "AUTHENTICATION_FAILED")["message"] == "Incorrect username/email or password."


@pytest.mark.parametrize("suffix", ["", "/"])
def test_trailing_slash_optional_for_every_method(api_client, user, auth_client, suffix):
    from accounts.tests.factories import PASSWORD

    login = api_client.post(
        f"/api/v1/users/login{suffix}", {"username": user.username, "password": PASSWORD}, format="json"
    )
    assert login.status_code == 200
    client = auth_client(user)
    assert client.get(f"/api/v1/users/me{suffix}").status_code == 200
    assert client.patch(f"/api/v1/users/me{suffix}", {"bio": "你好"}, format="json").status_code == 200
    assert api_client.get(f"/api/v1/health{suffix}").status_code == 200


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        ("endpoint", True),
        ("read-timeout", True),
        ("connection-closed", True),
        ("connect-timeout", True),
        ("status-500", True),
        ("status-503", True),
        ("status-404", False),
        ("status-403", False),
        ("other", False),
    ],
)
def test_object_storage_out_of_reach_is_told_apart_from_its_refusals(error, unreachable):
    from botocore import exceptions as boto

    from incubator.exceptions import object_storage_unreachable

    made = {
        "endpoint": lambda: boto.EndpointConnectionError(endpoint_url="http://s3"),
        "read-timeout": lambda: boto.ReadTimeoutError(endpoint_url="http://s3"),
        "connection-closed": lambda: boto.ConnectionClosedError(endpoint_url="http://s3"),
        "connect-timeout": lambda: boto.ConnectTimeoutError(endpoint_url="http://s3"),
        "other": lambda: ValueError("no"),
    }
    if error.startswith("status-"):
        status = int(error.removeprefix("status-"))
        exc = boto.ClientError({"Error": {"Code": "X"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")
    else:
        exc = made[error]()
    assert object_storage_unreachable(exc) is unreachable
