"""Schemathesis over every operation of the OpenAPI document, against a real server process on the test database.

Run by .ci/run on PostgreSQL + Redis (`.venv/bin/pytest fuzz -p no:cov`); not part of `make test`. Every operation
gets the document's examples, schemathesis's coverage cases (boundary values, missing and undocumented parameters,
undocumented methods) and FUZZ_MAX_EXAMPLES random ones (positive and negative), within FUZZ_BUDGET_SECONDS overall.

Real objects of every kind the document names are seeded before an operation runs, only those its path needs: a
project with a member and a pending application, a converted dataset, a trained model (its job, its version), a
queued job, a finished export, a pending direct upload, a schema subject with a second version, a finished
document migration. A hook puts their ids into the path, and into the body and query parameters that name one
(`project`, `dataset`, `ids`, `user_id`, `subject`, a refresh token, the seeded user's login); one case in
RANDOM_IDS_ONE_IN keeps what was generated, so "not found" is exercised too. Each operation is called as the user
it is meant for (staff for the registry's writes, migrations and the database; the applicant withdraws; an
outsider applies; the owner does the rest). A case that changed something (a write answered 2xx) makes the next
case seed afresh.

The gate is complete, not just green: after the run, test_no_findings fails if an operation of the document was
not exercised, or never answered anything but 401, 403 or 404 (the handler never saw a real object), or never
answered 2xx (except the operations in NO_SUCCESS_HERE, whose success needs what this run does not have). Every
distinct failure of a check is collected rather than stopping at the first, written to FUZZ_FINDINGS with the
coverage table, and fails test_no_findings; the summary line goes to the terminal (fuzz/conftest.py).
"""

import json
import os
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import RequestFactory, override_settings
from django.urls import resolve
from django.utils import timezone
from hypothesis import HealthCheck, Phase, settings
from rest_framework_simplejwt.tokens import RefreshToken
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
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
from schemathesis.transport.serialization import Binary

from accounts.tests.factories import PASSWORD, UserFactory
from aimodels import services as aimodels_services
from aimodels.tests.factories import houses_csv, trained_houses
from analytics import services as analytics_services
from datasets.models import DatasetUpload
from datasets.tests.factories import CSV, make_dataset
from incubator.tests.live import asgi_server
from projects import services
from projects.tests.factories import add_member, make_project
from schema_registry import services as registry_services
from schema_registry.models import Subject

pytestmark = [pytest.mark.live_server, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "20"))
BUDGET_SECONDS = float(os.environ.get("FUZZ_BUDGET_SECONDS", "240"))
FINDINGS = Path(os.environ.get("FUZZ_FINDINGS", "/tmp/schemathesis_findings.txt"))
SERVER = os.environ.get("FUZZ_SERVER", "granian")
# To see what an operation was sent and answered: FUZZ_TRACE="POST /api/v1/datasets" appends every call of the
# operations whose "METHOD /path" contains it, and the start of each answer, to FUZZ_TRACE_FILE.
TRACE = os.environ.get("FUZZ_TRACE", "")
TRACE_FILE = Path(os.environ.get("FUZZ_TRACE_FILE", "/tmp/schemathesis_trace.txt"))
# One case in this many keeps the generated ids (almost always a 404) instead of the seeded ones.
RANDOM_IDS_ONE_IN = 8
# Once the budget is spent, an operation still gets cases until it has answered 2xx, at most this many: the
# completeness checks below hold on a slow machine too, and the overrun stays small.
CASES_PAST_BUDGET = 10

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
    "POST /api/v1/projects/{project_id}/applications/{application_id}/withdraw": "applicant",
    "POST /api/v1/projects/{project_id}/applications": "outsider",
    "GET /api/v1/users/me/applications": "applicant",
}
# The same, for every operation starting so: staff for the database, migrations and the registry's writes.
ACTOR_PREFIX = {
    "GET /api/v1/admin/": "admin",
    "GET /api/v1/schema-migrations": "admin",
    "POST /api/v1/schema-migrations": "admin",
    "POST /api/v1/schemas/": "admin",
    "PATCH /api/v1/schemas/": "admin",
    "DELETE /api/v1/schemas/": "admin",
    "GET /api/v1/schemas/{subject}/migration-plan": "admin",
}
# Operations whose success this run cannot reach, and why; each must still reach its handler (not 401/403/404).
NO_SUCCESS_HERE = {
    "POST /api/v1/datasets/{dataset_id}/uploads": "direct uploads need object storage: 409 OBJECT_STORAGE_REQUIRED",
    "POST /api/v1/datasets/{dataset_id}/uploads/{upload_id}/complete": "the same (and the parts' ETags)",
    "POST /api/v1/datasets/{dataset_id}/uploads/{upload_id}/abort": "the same",
}
# The subject the registry's operations work on: a second version is registered on it (under NONE).
SUBJECT = "project.extra"
SUBJECT_V2 = {
    "type": "object",
    "properties": {"budget": {"type": "number", "minimum": 0}, "stage": {"enum": ["idea", "prototype", "pilot"]}},
}
MIGRATION_PLAN = [{"op": "add_field", "path": "stage", "default": "idea"}]
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
NOT_REACHED = {401, 403, 404}


def _actor(label: str) -> str:
    if label in ACTOR:
        return ACTOR[label]
    return next((who for prefix, who in ACTOR_PREFIX.items() if label.startswith(prefix)), "owner")


@dataclass
class Seeded:
    """What an operation's cases put into the path, the query and the body."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """The seeded rows of the operation under test, and what the run has seen so far."""

    operation: str = ""
    stale: bool = True
    seeded: Seeded = field(default_factory=Seeded)
    tokens: dict[str, str] = field(default_factory=dict)
    started: float = 0.0
    seed_seconds: float = 0.0
    examples: Counter = field(default_factory=Counter)
    requests: int = 0
    skipped: Counter = field(default_factory=Counter)
    methods: Counter = field(default_factory=Counter)
    statuses: dict[str, Counter] = field(default_factory=dict)
    findings: dict[tuple[str, str, str], str] = field(default_factory=dict)

    def seed(self, operation: str) -> None:
        started = time.monotonic()
        path = operation.split(" ", 1)[1]
        owner, applicant, outsider = UserFactory(), UserFactory(), UserFactory()
        admin = UserFactory(is_staff=True, is_superuser=True)
        project = make_project(
            owner,
            name="模糊测试 fuzz",
            description="Seeded for schemathesis",
            tags=["fuzz", "测试"],
            status="recruiting",
        )
        member = add_member(project, "member")
        application = services.application_submit(project=project, applicant=applicant, message="请让我加入")
        if path in ("/api/v1/users/login", "/api/v1/users/me/password"):
            # The server checks passwords with its own hashers (tests use MD5 only): PBKDF2, cheaply iterated.
            hasher = PBKDF2PasswordHasher()
            owner.password = hasher.encode(PASSWORD, hasher.salt(), iterations=1000)
            owner.save(update_fields=["password"])
        refresh = RefreshToken.for_user(owner)
        seeded = Seeded(
            path={"project_id": project.pk, "user_id": member.pk, "application_id": application.pk},
            query={"project": project.pk},
            body={
                "project": project.pk,
                # a new member is someone outside; ownership goes to a member
                "user_id": member.pk if path.endswith("/transfer-ownership") else outsider.pk,
                "refresh": str(refresh),
                "current_password": PASSWORD,
            },
        )
        if path == "/api/v1/users/login":  # (registering, the generated name is the one that is free)
            seeded.body.update(username=owner.username, password=PASSWORD)
        if path.startswith("/api/v1/events"):
            topics = [f"project:{project.pk}", f"user:{owner.pk}"]
            seeded.query.update(topics=topics if path == "/api/v1/events" else ",".join(topics))
        if path.startswith("/api/v1/analytics/exports"):
            export = analytics_services.export_create(user=owner, report="jobs", params={}, format="csv")
            seeded.path.update(export_id=str(export.public_id))  # tasks are eager here: finished, its file stored
        elif path.startswith(("/api/v1/jobs", "/api/v1/models", "/api/v1/analytics/")):
            self._seed_models(operation, project, owner, seeded)
        elif path.startswith("/api/v1/datasets"):
            dataset = make_dataset(project, owner)
            seeded.path.update(dataset_id=dataset.pk, number=1)
            seeded.query.update(dataset=dataset.pk)
            seeded.body.update(dataset=dataset.pk, file=Binary(CSV))  # as schemathesis generates files
            if "{upload_id}" in path:
                seeded.path.update(upload_id=_pending_upload(dataset, owner).pk)
        if path.startswith(("/api/v1/schemas/{subject}", "/api/v1/schema-migrations")):
            self._seed_registry(path, admin, seeded)
        self.operation, self.stale, self.seeded = operation, False, seeded
        self.tokens = {
            name: str(RefreshToken.for_user(user).access_token)
            for name, user in (("owner", owner), ("applicant", applicant), ("outsider", outsider), ("admin", admin))
        }
        self.seed_seconds += time.monotonic() - started

    @staticmethod
    def _seed_models(operation: str, project: Any, owner: Any, seeded: Seeded) -> None:
        """A ridge model of house prices trained by its job (version 1); a job that can be cancelled is one
        still queued (no running slot free), which needs no training."""
        if operation == "POST /api/v1/jobs/{job_id}/cancel":
            dataset = make_dataset(project, owner, content=houses_csv(), name="House prices", profile=False)
            with override_settings(AIMODELS_MAX_RUNNING_PER_USER=0):
                job = aimodels_services.job_create(
                    project=project,
                    version=dataset.latest_version,
                    actor=owner,
                    data={"algorithm": "ridge", "target": "price_usd"},
                )
            seeded.path.update(job_id=job.pk)
            seeded.query.update(dataset=dataset.pk)
            seeded.body.update(dataset=dataset.pk)
            return
        version = trained_houses(project, owner)
        job = version.job
        dataset_id = job.dataset_version.dataset_id
        seeded.path.update(job_id=job.pk, model_id=version.model_id, number=version.number)
        seeded.query.update(dataset=dataset_id, ids=[job.pk])
        if operation == "GET /api/v1/analytics/models/leaderboard":
            seeded.query.update(metric="r2")
        seeded.body.update(dataset=dataset_id)

    @staticmethod
    def _seed_registry(path: str, admin: Any, seeded: Seeded) -> None:
        """SUBJECT with a second version (its stored documents are under the first); for a migration's
        operations, a finished migration from 1 to 2 (tasks are eager here), which can be rolled back."""
        subject = Subject.objects.get(name=SUBJECT)
        # A rollback the server accepted waits for a worker this run does not have: it is over.
        subject.migrations.filter(status__in=["pending", "running", "rolling_back"]).update(status="aborted")
        subject = registry_services.subject_update(subject=subject, actor=admin, data={"compatibility": "NONE"})
        version, _ = registry_services.schema_version_register(subject=subject, schema=SUBJECT_V2, actor=admin)
        seeded.path.update(subject=SUBJECT, number=version.number)
        seeded.query.update(subject=SUBJECT, **{"from": 1, "to": version.number})
        seeded.body.update(subject=SUBJECT, **{"from": 1, "to": version.number})
        if path.startswith("/api/v1/schema-migrations"):
            migration = registry_services.migration_create(
                subject=subject, from_number=1, to_number=version.number, plan=MIGRATION_PLAN, actor=admin
            )
            seeded.path.update(migration_id=migration.pk)


def _pending_upload(dataset: Any, owner: Any) -> DatasetUpload:
    """A pending direct upload as dataset_upload_start leaves it (it needs object storage to be made there)."""
    return DatasetUpload.objects.create(
        dataset=dataset,
        created_by=owner,
        file_name="大文件.csv",
        format="csv",
        content_type="text/csv",
        size=10 * 1024 * 1024,
        sha256="0" * 64,
        object_name=f"datasets/fuzz/{dataset.pk}/original.csv",
        upload_id="fuzz-upload",
        part_size=5 * 1024 * 1024,
        part_count=2,
        expires_at=timezone.now() + timedelta(hours=1),
    )


WORLD = World()


def _keeps_generated_ids(case: Any) -> bool:
    return zlib.crc32(case.id.encode()) % RANDOM_IDS_ONE_IN == 0


def _fits(generated: Any, seeded: Any) -> bool:
    """A seeded value replaces a generated one of its kind (the coverage phase sends ids as strings)."""
    if isinstance(generated, bool) or isinstance(seeded, bool) or generated is None:
        return False
    if isinstance(seeded, int):
        return isinstance(generated, int) or (isinstance(generated, str) and generated.isdigit())
    if isinstance(seeded, list):
        return isinstance(generated, list | str)
    return isinstance(generated, type(seeded))


def _fill(values: Any, seeded: dict[str, Any]) -> None:
    if not isinstance(values, dict):
        return
    for name, value in list(values.items()):
        if name in seeded and _fits(value, seeded[name]):
            values[name] = (
                ",".join(seeded[name]) if isinstance(value, str) and isinstance(seeded[name], list) else (seeded[name])
            )


def _seeds(case: Any, location: ParameterLocation) -> bool:
    """Seeded values go into the path unless the path is what a negative case made invalid (a string for an id,
    an id of 0), and into the query and the body of positive cases only: a negative case keeps what it generated
    there, so the server's rejection of it is what is checked. Read from the metadata as generated (`_meta`:
    `meta` validates edits again, and a multipart body with a file never validates)."""
    if _keeps_generated_ids(case):
        return False
    meta = case._meta
    if meta is None:
        return True  # an example of the document
    if location == ParameterLocation.PATH:
        return not meta.is_negative_at(location)
    return not meta.generation.mode.is_negative


def _fill_case(case: Any) -> bool:
    """Seeded values in the path, the query and the body, unless the case keeps what it generated; made before
    case.call(), which takes the case as it then is for what was generated (a before_call hook's edits would be
    validated again). Returns whether the path names seeded rows only (only then is a 404 not the right answer
    to a probe without credentials)."""
    where = {location: _seeds(case, location) for location in ParameterLocation}  # before any edit
    if where[ParameterLocation.QUERY]:
        _fill(case.query, WORLD.seeded.query)
    if where[ParameterLocation.BODY]:
        _fill(case.body, WORLD.seeded.body)
    if not where[ParameterLocation.PATH]:
        return False
    parameters = case.path_parameters or {}
    _fill(parameters, WORLD.seeded.path)
    return all(WORLD.seeded.path.get(name) == value for name, value in parameters.items())


# Dataset files: the server and the seeding (in this process) must use the same directory.
MEDIA = Path(tempfile.mkdtemp(prefix="incubator-fuzz-media-"))


@pytest.fixture(autouse=True)
def _datasets_storage() -> Any:
    """Overrides the root conftest's per-test directory with the one the server reads."""
    from django.conf import settings as django_settings

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
OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if method in {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
)
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_the_server_serves_this_document(server: str) -> None:
    assert httpx.get(f"{server}/api/v1/openapi.json", timeout=30).json() == DOCUMENT


def _past_budget(label: str, case: Any) -> bool:
    """Each operation's share of the budget ends where the operations so far have had theirs (what one leaves
    unused goes to the next), so none is starved by the slow ones before it. Past it, only cases made of valid
    data on the seeded rows run, until one succeeds."""
    operations_so_far = len(WORLD.examples) + (label not in WORLD.examples)
    if time.monotonic() - WORLD.started <= BUDGET_SECONDS * operations_so_far / len(OPERATIONS):
        return False
    if case.method != case.operation.method.upper() or not all(_seeds(case, where) for where in ParameterLocation):
        return True
    statuses = WORLD.statuses.get(label, Counter())
    succeeded = any(200 <= status < 300 for status in statuses)
    return succeeded or sum(statuses.values()) >= CASES_PAST_BUDGET


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
    if _past_budget(label, case):
        WORLD.skipped[label] += 1
        return
    if WORLD.operation != label or WORLD.stale:
        WORLD.seed(label)  # fresh rows for a new operation, and after a case changed (or deleted) them
    token = WORLD.tokens[_actor(label)]
    WORLD.examples[label] += 1
    WORLD.methods[case.method] += 1
    headers = {"Authorization": f"Bearer {token}"}
    if _fill_case(case) and _requires_auth(case):
        _probe_without_credentials(case, label, server)
    response = case.call(base_url=server, headers=headers, timeout=30)
    WORLD.requests += 1
    if case.method == case.operation.method.upper():  # not the undocumented methods' 405s
        WORLD.statuses.setdefault(label, Counter())[response.status_code] += 1
    if case.method in WRITES and 200 <= response.status_code < 300 and ("{" in label or "/users/" in label):
        WORLD.stale = True  # it changed a seeded row (or the owner's credentials); a new one changed nothing seeded
    if TRACE and TRACE in label:
        with TRACE_FILE.open("a") as trace:
            trace.write(f"{case.as_curl_command(base_url=server)}\n-> {response.status_code} {response.text[:300]}\n")
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


def _requires_auth(case: Any) -> bool:
    """The operation's document names no anonymous alternative ({}) among its security requirements."""
    security = case.operation.definition.raw.get("security", [])
    return bool(security) and {} not in security


def _probe_without_credentials(case: Any, label: str, server: str) -> None:
    """schemathesis' ignored_auth replays a case without credentials after the real call, when a DELETE has
    already removed the row (or a PUT made it private): its 404 is then right. The same probe, made first on
    the freshly seeded rows, must get a 401."""
    response = case.call(base_url=server, headers={}, timeout=30)
    WORLD.requests += 1
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
    "in header - object with unexpected properties",  # servers ignore headers they do not know (RFC 9110 5.1)
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


def coverage_gaps() -> list[str]:
    """Every operation of the document that was not exercised, never reached its handler with a real object,
    or never succeeded (unless NO_SUCCESS_HERE says why it cannot)."""
    gaps = []
    for label in OPERATIONS:
        statuses = WORLD.statuses.get(label, Counter())
        if not statuses:
            gaps.append(f"{label}: not exercised")
        elif not set(statuses) - NOT_REACHED:
            gaps.append(f"{label}: never reached its handler with a real object ({_statuses(statuses)})")
        elif label not in NO_SUCCESS_HERE and not any(200 <= status < 300 for status in statuses):
            gaps.append(f"{label}: never answered 2xx ({_statuses(statuses)})")
    return gaps


def _statuses(statuses: Counter) -> str:
    return " ".join(f"{status}×{count}" for status, count in sorted(statuses.items()))


def summary() -> str:
    elapsed = time.monotonic() - WORLD.started if WORLD.started else 0.0
    line = (  # examples: the cases run (skipped ones not counted); requests: with the probes without credentials
        f"schemathesis: {len(WORLD.statuses)}/{len(OPERATIONS)} operations, {sum(WORLD.examples.values())} examples, "
        f"{len(WORLD.findings)} findings, {len(coverage_gaps())} coverage gaps "
        f"({WORLD.requests} requests, {WORLD.seed_seconds:.0f} s of {elapsed:.0f} s seeding)"
    )
    if WORLD.skipped:
        line += f"; time budget ran out: {sum(WORLD.skipped.values())} cases skipped in {len(WORLD.skipped)} operations"
    return line


def test_no_findings() -> None:
    """Runs after the operations: the summary, the findings file with the coverage table, and a failure naming
    every finding and every operation the run did not cover."""
    gaps = coverage_gaps()
    lines = [summary(), f"{len(WORLD.findings)} distinct findings, {len(gaps)} coverage gaps", ""]
    for number, ((label, kind, _), text) in enumerate(sorted(WORLD.findings.items()), 1):
        lines += [f"=== {number}. {label}: {kind}", text, ""]
    lines += ["=== coverage gaps", *gaps, ""] if gaps else []
    lines += ["=== statuses per operation (examples: status×count)"]
    lines += [f"{label}  {_statuses(WORLD.statuses.get(label, Counter()))}" for label in OPERATIONS]
    FINDINGS.write_text("\n".join(lines) + "\n")
    titles = [f"{label}: {text.splitlines()[0]}" for (label, _, _), text in sorted(WORLD.findings.items())]
    problems = titles + [f"coverage: {gap}" for gap in gaps]
    assert not problems, f"{len(titles)} findings, {len(gaps)} coverage gaps (details in {FINDINGS}):\n" + "\n".join(
        problems
    )
