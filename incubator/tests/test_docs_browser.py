"""The API documentation pages in a real headless browser (Debian's chromium, driven by Playwright) against a real
ASGI server, used the way the frontend team uses them: in Swagger UI a person logs in with "Try it out" on the
login operation, pastes the access token into "Authorize", lists the projects and uploads a CSV file as a new
dataset; Redoc renders every operation. Neither page loads anything from outside 127.0.0.1 (no CDN, no fonts, no
logo, no validator badge), nor logs a console error or throws. Screenshots of each step are kept in
var/artifacts/ for CI (docs-swagger-*.png, docs-redoc.png)."""

import hashlib
import json
from typing import Any

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from accounts.models import User
from accounts.tests.factories import PASSWORD, UserFactory
from datasets.models import Dataset
from incubator.tests.browser import ARTIFACTS, browser_missing, chromium, record
from incubator.tests.live import asgi_server
from projects.models import Project
from projects.tests.factories import make_project

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]

requires_browser = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")

PROJECT = "城市空气质量预测"  # private: only a logged-in owner sees it, so the list proves "Authorize" worked
DATASET = "北京空气质量 2026"
CSV = "城市,日期,AQI,等级\n北京,2026-01-01,52,良\n上海,2026-01-01,38,优\n广州,2026-01-02,41,优\n".encode()
METADATA = {"source": "中国环境监测总站", "license": "CC-BY-4.0"}
TIMEOUT_MS = 15_000  # any single wait; a step that takes longer is a failure, not a hang


def _seed() -> Project:
    owner = UserFactory(username="lilei", display_name="李雷")
    # The tests hash with MD5 (conftest), which the server process does not accept: its own default hasher.
    User.objects.filter(pk=owner.pk).update(password=PBKDF2PasswordHasher().encode(PASSWORD, "docs-salt"))
    make_project(UserFactory(), name="Speech to text")  # someone else's, public
    return make_project(owner, name=PROJECT, visibility=Project.Visibility.PRIVATE, tags=["机器学习"])


def _shot(page: Any, name: str, operation: Any = None) -> None:
    """The viewport; or, given an operation, the page from its summary down to the end of its server response
    (not its long list of documented responses)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if operation is None:
        page.screenshot(path=str(ARTIFACTS / name))
        return
    scroll = page.evaluate("() => window.scrollY")
    top = operation.bounding_box()
    bottom = operation.locator(".live-responses-table").bounding_box()
    clip = {"x": top["x"], "y": top["y"] + scroll, "width": top["width"]}
    clip["height"] = bottom["y"] + bottom["height"] - top["y"]
    page.screenshot(path=str(ARTIFACTS / name), full_page=True, clip=clip)


def _try_it_out(page: Any, tag: str, operation_id: str) -> Any:
    """Opens an operation (as a person does: a click on its summary) and presses "Try it out"."""
    operation = page.locator(f"#operations-{tag}-{operation_id}")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    return operation


def _execute(page: Any, operation: Any, method: str, path: str) -> tuple[int, str, Any]:
    """Presses "Execute"; returns the status and body the response panel shows, and the request the page sent."""

    def sends(request: Any) -> bool:
        return request.method == method and request.url.split("?")[0].endswith(path)

    with page.expect_request(sends) as sent:
        operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    live.locator(".response-col_status").wait_for()
    status = int(live.locator(".response-col_status").inner_text().strip())
    body = live.locator(".response-col_description pre").first.inner_text()
    return status, body, sent.value


def _swagger(base: str, project: Project) -> dict:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        log = record(page)

        page.goto(f"{base}/api/v1/docs")
        page.locator("#operations-projects-projects_list").wait_for()
        validator = page.evaluate("() => ui.getConfigs().validatorUrl")
        _shot(page, "docs-swagger-1-loaded.png")

        # Log in with Swagger UI's own "Try it out", and read the access token off the response panel.
        login = _try_it_out(page, "users", "users_login_create")
        login.locator("textarea.body-param__text").fill(json.dumps({"username": "lilei", "password": PASSWORD}))
        login_status, login_body, _ = _execute(page, login, "POST", "/api/v1/users/login")
        _shot(page, "docs-swagger-2-login.png", login)
        assert login_status == 200, login_body
        access = json.loads(login_body)["access"]

        # "Authorize": paste the token as the bearer value, authorize, close.
        page.locator(".scheme-container button.authorize").click()
        dialog = page.locator(".modal-ux")
        dialog.locator(".auth-container input").fill(access)
        dialog.locator(".auth-btn-wrapper button.authorize").click()
        dialog.get_by_role("heading", name="Authorized", exact=True).wait_for()
        _shot(page, "docs-swagger-3-authorized.png")
        dialog.locator(".auth-btn-wrapper button.btn-done").click()
        dialog.wait_for(state="detached")
        authorized = "locked" in (page.locator(".scheme-container button.authorize").get_attribute("class") or "")

        # The project list, as the logged-in owner.
        projects = _try_it_out(page, "projects", "projects_list")
        list_status, list_body, list_request = _execute(page, projects, "GET", "/api/v1/projects")
        _shot(page, "docs-swagger-4-projects.png", projects)

        # A dataset upload: the multipart form, with a CSV file chosen through the file input.
        upload = _try_it_out(page, "datasets", "datasets_create")
        content_type = upload.get_by_label("Request content type").input_value()
        form = upload.locator(".opblock-section-request-body")
        form.get_by_placeholder("project", exact=True).fill(str(project.pk))
        form.get_by_placeholder("name", exact=True).fill(DATASET)
        form.get_by_placeholder("description", exact=True).fill("三个城市一天的 AQI。")
        # In a multipart form the metadata object is a JSON string. (Cleared, Swagger UI ticks "Send empty
        # value" by itself and sends metadata="", which the API refuses as invalid JSON.)
        form.get_by_placeholder("metadata", exact=True).fill(json.dumps(METADATA, ensure_ascii=False))
        form.locator("tr[data-property-name=file] input[type=file]").set_input_files(
            {"name": "空气质量.csv", "mimeType": "text/csv", "buffer": CSV}
        )
        upload_status, upload_body, upload_request = _execute(page, upload, "POST", "/api/v1/datasets")
        _shot(page, "docs-swagger-5-upload.png", upload)
    return {
        "log": log,
        "validator": validator,
        "login_status": login_status,
        "authorized": authorized,
        "list": (list_status, list_body, list_request.headers.get("authorization")),
        "upload": (upload_status, upload_body, upload_request.headers.get("content-type", "")),
        "access": access,
        "content_type": content_type,
    }


@requires_browser
def test_swagger_ui_logs_in_lists_projects_and_uploads_a_dataset_offline(tmp_path):
    project = _seed()
    with asgi_server(MEDIA_ROOT=str(tmp_path / "media")) as base:
        seen = _swagger(base, project)

    log = seen["log"]
    assert log.foreign_requests(base) == [], f"requests that left 127.0.0.1: {log.foreign_requests(base)}"
    assert any(url.endswith("/api/v1/openapi.json") for url in log.requests)
    assert not seen["validator"]  # the "valid" badge would send the schema's address to validator.swagger.io

    assert seen["authorized"]
    list_status, list_body, list_auth = seen["list"]
    assert list_auth == f"Bearer {seen['access']}"
    assert 200 <= list_status < 300, list_body
    names = [item["name"] for item in json.loads(list_body)["projects"]]
    assert PROJECT in names and "Speech to text" in names, names  # the private one: the token was sent

    upload_status, upload_body, upload_content_type = seen["upload"]
    assert seen["content_type"] == "multipart/form-data"
    assert upload_content_type.startswith("multipart/form-data; boundary="), upload_content_type
    assert upload_status in (201, 202), upload_body
    created = json.loads(upload_body)
    dataset = Dataset.objects.select_related("latest_version").get(pk=created["id"])
    assert (dataset.project_id, dataset.name, dataset.description) == (project.pk, DATASET, "三个城市一天的 AQI。")
    assert dataset.metadata == METADATA
    version = dataset.latest_version
    assert version is not None and version.number == 1
    assert (version.file_name, version.format, version.size) == ("空气质量.csv", "csv", len(CSV))
    assert version.sha256 == hashlib.sha256(CSV).hexdigest()
    assert (tmp_path / "media" / "datasets" / version.original).read_bytes() == CSV  # stored by the server

    # Last, so that a failed step above names itself rather than the console line its error status printed.
    assert log.errors() == []


@requires_browser
def test_redoc_renders_every_operation_offline():
    with asgi_server() as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1360, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        log = record(page)
        page.goto(f"{base}/api/v1/redoc")
        # Redoc draws every operation at once, with its summary as the heading (a second or two; more on a busy
        # machine, hence the longer wait).
        heading = page.locator("h2:text-is('List projects')")
        heading.wait_for(timeout=2 * TIMEOUT_MS)
        assert page.locator("h2:text-is('Create a dataset')").count() == 1
        heading.evaluate("heading => heading.scrollIntoView()")
        page.wait_for_load_state("networkidle")
        _shot(page, "docs-redoc.png")
        text = page.inner_text("body")

    assert log.foreign_requests(base) == [], f"requests that left 127.0.0.1: {log.foreign_requests(base)}"
    assert any(url.endswith("/redoc/bundles/redoc.standalone.js") for url in log.requests)
    assert log.errors() == []
    assert "Incubator API" in text and "Log in with username or email" in text
