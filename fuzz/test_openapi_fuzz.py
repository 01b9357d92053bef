"""Schemathesis over the whole OpenAPI document, against a real server process on the test database.

Run by .ci/run on PostgreSQL + Redis (`.venv/bin/pytest fuzz -p no:cov`); not part of `make test`. Every operation
gets the document's examples, schemathesis's coverage cases (boundary values, missing and undocumented parameters,
undocumented methods) and FUZZ_MAX_EXAMPLES random ones (positive and negative), within FUZZ_BUDGET_SECONDS overall.
Before each operation a fresh owner, project, member and pending application are seeded, and a hook puts their ids
into the path (a few cases keep the generated id, so "not found" is exercised too). Each operation is called as the
user it is meant for (the applicant withdraws, an outsider applies, the owner does the rest). Every distinct
failure is collected rather than stopping at the first, written to FUZZ_FINDINGS, and fails test_no_findings.
"""

import json
import os
import tempfile
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from django.test import RequestFactory
from django.urls import resolve
from hypothesis import HealthCheck, Phase, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    missing_required_header,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from accounts.tests.factories import UserFactory
from datasets.tests.factories import make_dataset
from incubator.tests.live import asgi_server
from projects import services
from projects.tests.factories import add_member, make_project

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "240"))
FINDINGS = Path(os.environ.get("FUZZ_FINDINGS", "/tmp/schemathesis_findings.txt"))
SERVER = os.environ.get("FUZZ_SERVER", "granian")
# One case in this many keeps the generated path ids (almost always a 404) instead of the seeded ones.
RANDOM_IDS_ONE_IN = 8

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    negative_data_rejection,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
]
# Rate limits and the login lockout would answer 429 to a fuzzer long before it has seen the API.
SERVER_ENV = {
    "THROTTLE_ANON": "1000000/min",
    "THROTTLE_USER": "1000000/min",
    "THROTTLE_REGISTER": "1000000/min",
    "LOGIN_FAILURES_PER_ACCOUNT": "1000000",
    "LOGIN_FAILURES_PER_ADDRESS": "1000000",
}
# Who calls an operation; every other operation is called by the project's owner.
ACTOR = {
    "POST /api/v1/projects/{project_id}/applications": "outsider",
    "POST /api/v1/projects/{project_id}/applications/{application_id}/withdraw": "applicant",
    "GET /api/v1/users/me/applications": "applicant",
}


@dataclass
class World:
    """The seeded rows of the operation under test, and what the run has seen so far."""

    operation: str = ""
    ids: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    examples: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    methods: dict[str, int] = field(default_factory=dict)
    findings: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def seed(self, operation: str) -> None:
        owner, applicant, outsider = UserFactory(), UserFactory(), UserFactory()
        project = make_project(
            owner,
            name="模糊测试 fuzz",
            description="Seeded for schemathesis",
            tags=["fuzz", "测试"],
            status="recruiting",
        )
        member = add_member(project, "member")
        application = services.application_submit(project=project, applicant=applicant, message="请让我加入")
        self.operation = operation
        self.ids = {"project_id": project.pk, "user_id": member.pk, "application_id": application.pk}
        if " /api/v1/datasets/" in operation:  # a converted version costs time: only where it is used
            self.ids.update(dataset_id=make_dataset(project, owner).pk, number=1)
        self.tokens = {
            name: str(RefreshToken.for_user(user).access_token)
            for name, user in (("owner", owner), ("applicant", applicant), ("outsider", outsider))
        }


WORLD = World()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Seeded ids in the path, unless the case generated an invalid one on purpose (a negative case)."""
    if zlib.crc32(case.id.encode()) % RANDOM_IDS_ONE_IN == 0:
        return
    for name, value in list(case.path_parameters.items()):
        if name in WORLD.ids and isinstance(value, int) and not isinstance(value, bool):
            case.path_parameters[name] = WORLD.ids[name]


# Dataset files: the server and the seeding (in this process) must use the same directory.
MEDIA = Path(tempfile.mkdtemp(prefix="incubator-fuzz-media-"))


@pytest.fixture(autouse=True)
def _datasets_storage() -> Any:
    """Overrides the root conftest's per-test directory with the one the server reads."""
    from django.conf import settings as django_settings
    from django.test import override_settings

    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": MEDIA / "datasets"}}
    with override_settings(STORAGES={**django_settings.STORAGES, "datasets": storage}):
        yield


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker) -> Any:
    with asgi_server(SERVER, **SERVER_ENV, MEDIA_ROOT=str(MEDIA)) as base:
        yield base


def _document() -> dict[str, Any]:
    """The document /api/v1/openapi.json serves, rendered in-process: the tests are made from it at collection
    (schemathesis's fixture-loaded schemas do not work with pytest 9); test_the_server_serves_this_document
    checks that the server answers the same."""
    request = RequestFactory().get("/api/v1/openapi.json")
    response = resolve(request.path).func(request)
    response.render()
    return json.loads(response.content)


DOCUMENT = _document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_server_serves_this_document(server: str) -> None:
    assert httpx.get(f"{server}/api/v1/openapi.json", timeout=30).json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_operation_conforms_to_the_document(case: Any, server: str) -> None:
    label = f"{case.operation.method.upper()} {case.operation.path}"
    WORLD.started = WORLD.started or time.monotonic()
    if time.monotonic() - WORLD.started > BUDGET_SECONDS:
        WORLD.skipped[label] = WORLD.skipped.get(label, 0) + 1
        return
    if WORLD.operation != label or case.method in ("DELETE", "PUT", "PATCH"):
        WORLD.seed(label)  # fresh rows for every case that may delete them or make them private
    token = WORLD.tokens[ACTOR.get(label, "owner")]
    WORLD.examples[label] = WORLD.examples.get(label, 0) + 1
    WORLD.methods[case.method] = WORLD.methods.get(case.method, 0) + 1
    headers = {"Authorization": f"Bearer {token}"}
    if _requires_auth(case) and _seeded_path(case):
        _probe_without_credentials(case, label, server)
    response = case.call(base_url=server, headers=headers, timeout=30)
    try:
        case.validate_response(
            response,
            checks=CHECKS,
            headers=headers,
            transport_kwargs={"base_url": server, "headers": headers, "timeout": 30},
        )
    except FailureGroup as group:
        for failure in group.exceptions:
            if _known_false_positive(failure):
                continue
            key = (label, type(failure).__name__, str(failure._unique_key))
            if key not in WORLD.findings:
                WORLD.findings[key] = _describe(case, failure, response, server)


def _seeded_path(case: Any) -> bool:
    """Puts the seeded ids in the path now (as the before_call hook does) and says whether every path
    parameter is one: only then is a 404 not the right answer to a probe without credentials."""
    if zlib.crc32(case.id.encode()) % RANDOM_IDS_ONE_IN == 0:
        return False
    parameters = case.path_parameters or {}
    if any(
        name not in WORLD.ids or not isinstance(value, int) or isinstance(value, bool)
        for name, value in parameters.items()
    ):
        return False  # a negative case (a path id that is not an integer) stays as generated
    for name in parameters:
        parameters[name] = WORLD.ids[name]
    return True


def _requires_auth(case: Any) -> bool:
    """The operation's document names no anonymous alternative ({}) among its security requirements."""
    security = case.operation.definition.raw.get("security", [])
    return bool(security) and {} not in security


def _probe_without_credentials(case: Any, label: str, server: str) -> None:
    """schemathesis' ignored_auth replays a case without credentials after the real call, when a DELETE has
    already removed the row (or a PUT made it private): its 404 is then right. The same probe, made first on
    the freshly seeded rows, must get a 401."""
    response = case.call(base_url=server, headers={}, timeout=30)
    if response.status_code != 401:
        key = (label, "IgnoredAuth", str(response.status_code))
        WORLD.findings.setdefault(
            key,
            f"[IgnoredAuth] {case.method} without credentials answered {response.status_code}, not 401\n"
            f"request:  {case.as_curl_command(base_url=server).replace(server, '')}\n"
            f"response: {response.status_code}\n{response.text[:800]}",
        )


# schemathesis counts a query parameter the document does not declare as negative data, though servers may
# ignore unknown parameters (schemathesis/schemathesis#3730, #4762); and a negative case whose only header
# mutation drops Authorization is undone here, since every call sends the caller's token. A failure made of
# nothing else is not a finding.
_FALSE_POSITIVE_COMPONENTS = (
    "query: violates `additionalProperties`",
    "header: violates `required` (was Authorization)",
)


def _known_false_positive(failure: Any) -> bool:
    if type(failure).__name__ != "AcceptedNegativeData":
        return False
    text = failure.message
    if "Invalid component" not in text:
        return False
    components = [line.strip(" -") for line in text.split("Invalid component:", 1)[1].strip().splitlines()]
    components = [line for line in components if line]
    return bool(components) and all(line in _FALSE_POSITIVE_COMPONENTS for line in components)


def _describe(case: Any, failure: Any, response: Any, server: str) -> str:
    checks = ", ".join(getattr(failure, "checks", ())) or failure.code
    curl = case.as_curl_command(headers=dict(response.request.headers), base_url=server)  # credentials filtered
    body = response.text if len(response.text) <= 800 else response.text[:800] + " ..."
    return (
        f"[{failure.code}] {failure.title} (check: {checks})\n"
        f"{failure.message.strip()}\n\n"
        f"request:  {curl.replace(server, '')}\n"
        f"response: {response.status_code} {response.headers.get('content-type', [''])[0]}\n{body}"
    )


def test_no_findings() -> None:
    """Runs after the operations: the summary, the findings file, and a failure naming every finding."""
    operations, examples = len(WORLD.examples), sum(WORLD.examples.values())
    elapsed = time.monotonic() - WORLD.started if WORLD.started else 0.0
    methods = ", ".join(f"{count} {method}" for method, count in sorted(WORLD.methods.items()))
    summary = f"schemathesis: {operations} operations, {examples} requests checked ({methods}) in {elapsed:.0f} s"
    if WORLD.skipped:
        summary += f"; time budget ran out, {sum(WORLD.skipped.values())} cases skipped in {len(WORLD.skipped)}"
    lines = [summary, f"{len(WORLD.findings)} distinct findings", ""]
    for number, ((label, kind, _), text) in enumerate(sorted(WORLD.findings.items()), 1):
        lines += [f"=== {number}. {label}: {kind}", text, ""]
    FINDINGS.write_text("\n".join(lines))
    print("\n" + summary)
    assert operations, "no operation was exercised"
    titles = [f"{label}: {text.splitlines()[0]}" for (label, _, _), text in sorted(WORLD.findings.items())]
    assert not titles, f"{len(titles)} findings (details in {FINDINGS}):\n" + "\n".join(titles)
