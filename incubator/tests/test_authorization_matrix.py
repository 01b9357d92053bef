"""The authorization matrix (issue 15; OWASP API1 object-level, API3 property-level, API5 function-level): every
operation of the OpenAPI document, called by anonymous, outsider (logged in, no membership), member, mentor,
maintainer, owner (projects.models.Membership.Role) and platform admin (User.is_staff, no membership), answers
exactly the status its row in MATRIX says.

Every path parameter (and every id a query or body names) is a real object of one PRIVATE project's team, so the
outsider probes another team's objects. VARIANTS adds the rows where the project's visibility or the caller's
relation to the object changes the answer: the PUBLIC project's objects, a child of the private project under a
parent the caller controls ("foreign parent"), a member leaving. The objects are built once per module in a
transaction rolled back at its end, and each case runs in a savepoint rolled back after it, so a write (a delete,
an approval, a transfer) never changes what the next case sees; a direct upload, which the bucket would remember,
is made afresh for its case. Bodies are valid for an authorized caller, so a status reflects authorization, not
validation. Beyond the status: no answer to anonymous or an outsider contains SECRET, which every name of the
private team carries (project, tag, datasets, model, application); no answer to anyone but a platform admin
contains another user's email address. Dataset files live on a moto S3 bucket for the module, so direct uploads
work and downloads redirect (302).

`test_every_operation_has_a_row` fails when an operation of the OpenAPI document has no row, or a row names an
operation that no longer exists: a new endpoint cannot skip the matrix.
"""

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from rest_framework.test import APIClient

from datasets.tests.s3 import bucket_storage

ROLES = ("anonymous", "outsider", "member", "mentor", "maintainer", "owner", "admin")
SECRET = "机密SECRET7Q"  # in every name of the private team's objects: never in an answer to anonymous or outsider
PASSWORD = "Incubator-Pass-2026"  # accounts.tests.factories.PASSWORD
NEW_PASSWORD = "Another-Str0ng-Passphrase-2026"
API = "/api/v1"


# --- expectations -------------------------------------------------------------------------------------------


def by_role(anonymous: int, outsider: int, member: int, mentor: int, maintainer: int, owner: int, admin: int):
    return dict(zip(ROLES, (anonymous, outsider, member, mentor, maintainer, owner, admin), strict=True))


def everyone(ok: int) -> dict[str, int]:
    """No login needed, and nothing of a team involved."""
    return by_role(ok, ok, ok, ok, ok, ok, ok)


def logged_in(ok: int) -> dict[str, int]:
    """Any logged-in user; anonymous callers get 401."""
    return by_role(401, ok, ok, ok, ok, ok, ok)


def team_read(ok: int = 200) -> dict[str, int]:
    """An object of the private project: its team and platform admins read it; to everyone else it does not exist,
    anonymous callers included (404, not 401: projects.access.ProjectActionPermission)."""
    return by_role(404, 404, ok, ok, ok, ok, ok)


def team_write(ok: int) -> dict[str, int]:
    """Its owner, maintainers and platform admins change it (WRITER_ROLES); members and mentors get 403."""
    return by_role(404, 404, 403, 403, ok, ok, ok)


def team_train(ok: int) -> dict[str, int]:
    """Owner, maintainers and members train (TRAINER_ROLES); mentors advise and read."""
    return by_role(404, 404, ok, 403, ok, ok, ok)


def team_owner(ok: int) -> dict[str, int]:
    """Only its owner (and platform admins)."""
    return by_role(404, 404, 403, 403, 403, ok, ok)


def team_logged_in(ok: int) -> dict[str, int]:
    """Any logged-in user who can see the project (LOGGED_IN): for a private one, its team and admins."""
    return by_role(404, 404, ok, ok, ok, ok, ok)


def body_names_team_object(team: dict[str, int]) -> dict[str, int]:
    """A create whose body names an object of the private project (`project`, `dataset`): an object the caller
    cannot see is a 400 INVALID_INPUT "no such ..." on that field, the same answer as an unknown id."""
    return {**team, "anonymous": 401, "outsider": 400}


def query_names_team_object(ok: int = 200) -> dict[str, int]:
    """A read (analytics) whose query names an object of the private project: 404 to whoever may not read it."""
    return by_role(401, 404, ok, ok, ok, ok, ok)


def platform_admin(ok: int) -> dict[str, int]:
    """Platform admins only (is_staff): 401 without a login, 403 for everyone else."""
    return by_role(401, 403, 403, 403, 403, 403, ok)


def creator_only(ok: int) -> dict[str, int]:
    """A per-user object (the owner's analytics export): its creator and platform admins; 404 to anyone else,
    the creator's own team included."""
    return by_role(401, 404, 404, 404, 404, ok, ok)


def public_read(ok: int = 200) -> dict[str, int]:
    return everyone(ok)


def public_write(ok: int) -> dict[str, int]:
    """A public project's object: everyone sees it, so refusals are 401/403, never 404."""
    return by_role(401, 403, 403, 403, ok, ok, ok)


# --- rows ---------------------------------------------------------------------------------------------------

Factory = Callable[[SimpleNamespace, str, dict[str, Any]], Any]  # (world, role, case context) -> value


@dataclass(frozen=True)
class Row:
    expect: dict[str, int]
    body: Any = None  # a dict, or a Factory returning one
    query: Any = None  # a dict, or a Factory returning one
    params: dict[str, Factory] = field(default_factory=dict)  # path parameters other than the defaults
    multipart: bool = False
    note: str = ""


def _user_of(w: SimpleNamespace, role: str) -> Any:
    """The caller's user, or for anonymous the spare account whose credentials it sends."""
    return w.users["spare" if role == "anonymous" else role]


def _refresh_of(w: SimpleNamespace, role: str, ctx: dict[str, Any]) -> dict[str, str]:
    from accounts.tokens import token_pair_for

    return {"refresh": str(token_pair_for(_user_of(w, role)))}


def _csv_file(w: SimpleNamespace, role: str, ctx: dict[str, Any]) -> dict[str, Any]:
    return {"file": SimpleUploadedFile("新版本.csv", "编号,名字\n1,甲\n2,乙\n".encode(), "text/csv")}


UPLOAD_BYTES = "编号,名字\n1,甲\n2,乙\n".encode()
UPLOAD_SHA256 = hashlib.sha256(UPLOAD_BYTES).hexdigest()


def _fresh_upload(*, put: bool) -> Factory:
    """A pending direct upload of the private dataset, made for this case (aborting or completing it changes the
    bucket, which no savepoint rolls back); with `put`, its one part sent, its ETag kept for the body."""

    def make(w: SimpleNamespace, role: str, ctx: dict[str, Any]) -> int:
        from datasets import services as dataset_services

        upload, urls = dataset_services.dataset_upload_start(
            dataset=w.dataset,
            actor=w.users["owner"],
            data={"file_name": "直传.csv", "size": len(UPLOAD_BYTES), "sha256": UPLOAD_SHA256},
        )
        if put:
            with httpx.Client(trust_env=False, timeout=30) as http:
                response = http.put(urls[0], content=UPLOAD_BYTES)
            assert response.status_code == 200, response.text
            ctx["parts"] = [{"part_number": 1, "etag": response.headers["ETag"]}]
        return upload.id

    return make


def _attr(name: str) -> Factory:
    return lambda w, role, ctx: getattr(w, name)


def _id_of(name: str) -> Factory:
    return lambda w, role, ctx: getattr(w, name).id


def _own_id(w: SimpleNamespace, role: str, ctx: dict[str, Any]) -> int:
    return _user_of(w, role).id


def _public(**extra: Factory) -> dict[str, Factory]:
    """Path parameters naming the PUBLIC project's objects."""
    return {
        "project_id": _id_of("public_project"),
        "dataset_id": _id_of("public_dataset"),
        "model_id": _id_of("public_model"),
        "number": _attr("public_model_version"),
        "application_id": _id_of("public_application"),
        "user_id": _id_of("public_target"),
        **extra,
    }


_FOREIGN_PROJECT = {"project_id": _id_of("foreign_project")}


def _foreign_dataset(*, put: bool) -> dict[str, Factory]:
    return {"dataset_id": _id_of("foreign_dataset"), "upload_id": _fresh_upload(put=put)}


P = f"{API}/projects/{{project_id}}"
D = f"{API}/datasets/{{dataset_id}}"
J = f"{API}/jobs/{{job_id}}"
M = f"{API}/models/{{model_id}}"
S = f"{API}/schemas/{{subject}}"
X = f"{API}/analytics/exports/{{export_id}}"
G = f"{API}/schema-migrations/{{migration_id}}"

MATRIX: dict[tuple[str, str], Row] = {
    # --- accounts: the credential is the body (login, refresh, logout) or the token; nothing of a team -------
    ("POST", f"{API}/users/register"): Row(
        everyone(201),
        body=lambda w, role, ctx: {
            "email": f"new-{role}@example.com",
            "username": f"new_{role}",
            "password": NEW_PASSWORD,
        },
    ),
    ("POST", f"{API}/users/login"): Row(
        everyone(200), body=lambda w, role, ctx: {"username": _user_of(w, role).username, "password": PASSWORD}
    ),
    ("POST", f"{API}/users/token/refresh"): Row(everyone(200), body=_refresh_of),
    ("POST", f"{API}/users/logout"): Row(everyone(204), body=_refresh_of),
    ("GET", f"{API}/users/me"): Row(logged_in(200)),
    ("PATCH", f"{API}/users/me"): Row(logged_in(200), body={"display_name": "改个名字"}),
    ("POST", f"{API}/users/me/password"): Row(
        logged_in(204), body={"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    ),
    ("GET", f"{API}/users/me/applications"): Row(logged_in(200)),
    ("GET", f"{API}/users/me/projects"): Row(logged_in(200)),
    # --- projects -------------------------------------------------------------------------------------------
    ("GET", f"{API}/projects"): Row(everyone(200)),
    ("POST", f"{API}/projects"): Row(logged_in(201), body={"name": "新项目 New project"}),
    ("GET", P): Row(team_read()),
    ("PUT", P): Row(team_write(200), body={"name": "改名的项目", "description": "新的说明"}),
    ("PATCH", P): Row(team_write(200), body={"status": "in_progress"}),
    ("DELETE", P): Row(
        by_role(404, 404, 403, 403, 403, 204, 204),
        note="the project has datasets and jobs: project.delete_with_work, its owner's (or an admin's) alone",
    ),
    ("GET", f"{P}/members"): Row(team_read()),
    ("POST", f"{P}/members"): Row(team_write(201), body=lambda w, role, ctx: {"user_id": w.users["newbie"].id}),
    ("PATCH", f"{P}/members/{{user_id}}"): Row(team_write(200), body={"role": "mentor"}),
    ("DELETE", f"{P}/members/{{user_id}}"): Row(team_write(204), note="removing another member (the target)"),
    ("POST", f"{P}/transfer-ownership"): Row(
        team_owner(200), body=lambda w, role, ctx: {"user_id": w.users["maintainer"].id}
    ),
    ("GET", f"{P}/applications"): Row(team_write(200)),
    ("POST", f"{P}/applications"): Row(
        by_role(404, 404, 409, 409, 409, 409, 201),
        body={"message": "想加入 I'd like to join"},
        note="LOGGED_IN: the team are members already (409 ALREADY_MEMBER); the admin is not",
    ),
    ("POST", f"{P}/applications/{{application_id}}/approve"): Row(team_write(200), body={"role": "member"}),
    ("POST", f"{P}/applications/{{application_id}}/reject"): Row(team_write(200), body={"reason": "名额已满"}),
    ("POST", f"{P}/applications/{{application_id}}/withdraw"): Row(
        by_role(404, 404, 403, 403, 403, 403, 403), note="SUBJECT: the applicant alone, not even the owner or an admin"
    ),
    ("GET", f"{API}/tags"): Row(everyone(200)),
    # --- datasets -------------------------------------------------------------------------------------------
    ("GET", f"{API}/datasets"): Row(everyone(200)),
    ("POST", f"{API}/datasets"): Row(
        body_names_team_object(team_write(201)),
        body=lambda w, role, ctx: {"project": w.project.id, "name": "新数据集 New data"},
    ),
    ("GET", D): Row(team_read()),
    ("PATCH", D): Row(team_write(200), body={"description": "清洗后的版本 Cleaned"}),
    ("DELETE", D): Row(team_write(204), params={"dataset_id": _id_of("spare_dataset")}),
    ("GET", f"{D}/versions"): Row(team_read()),
    ("POST", f"{D}/versions"): Row(team_write(201), body=_csv_file, multipart=True),
    ("GET", f"{D}/versions/{{number}}"): Row(team_read()),
    ("DELETE", f"{D}/versions/{{number}}"): Row(team_write(204), params={"dataset_id": _id_of("spare_dataset")}),
    ("GET", f"{D}/versions/{{number}}/rows"): Row(team_read()),
    ("GET", f"{D}/versions/{{number}}/profile"): Row(team_read()),
    ("GET", f"{D}/versions/{{number}}/download"): Row(team_read(302), note="object storage: a presigned URL"),
    ("POST", f"{D}/versions/{{number}}/preprocess"): Row(team_write(201), body={"pipeline": [{"type": "deduplicate"}]}),
    ("POST", f"{D}/uploads"): Row(
        team_write(201),
        body={"file_name": "大文件.csv", "size": 1024, "sha256": hashlib.sha256(b"x").hexdigest()},
    ),
    ("POST", f"{D}/uploads/{{upload_id}}/complete"): Row(
        team_write(201),
        params={"upload_id": _fresh_upload(put=True)},
        body=lambda w, role, ctx: {"parts": ctx["parts"]},
    ),
    ("POST", f"{D}/uploads/{{upload_id}}/abort"): Row(team_write(204), params={"upload_id": _fresh_upload(put=False)}),
    # --- training and models --------------------------------------------------------------------------------
    ("GET", f"{API}/algorithms"): Row(everyone(200)),
    ("GET", f"{API}/jobs"): Row(everyone(200)),
    ("POST", f"{API}/jobs"): Row(
        body_names_team_object(team_train(201)),
        body=lambda w, role, ctx: {"dataset": w.dataset.id, "algorithm": "logistic_regression", "target": "标签"},
    ),
    ("GET", J): Row(team_read()),
    ("POST", f"{J}/cancel"): Row(team_train(200), params={"job_id": _id_of("queued_job")}),
    ("POST", f"{J}/retry"): Row(team_train(201)),
    ("GET", f"{J}/metrics"): Row(team_read()),
    ("GET", f"{J}/logs"): Row(team_read()),
    ("GET", f"{API}/models"): Row(everyone(200)),
    ("POST", f"{API}/models"): Row(
        body_names_team_object(team_write(201)),
        body=lambda w, role, ctx: {"project": w.project.id, "name": "新模型 New model", "task": "classification"},
    ),
    ("GET", M): Row(team_read()),
    ("PATCH", M): Row(team_write(200), body={"description": "基线 Baseline"}),
    ("DELETE", M): Row(team_write(204)),
    ("GET", f"{M}/versions"): Row(team_read()),
    ("GET", f"{M}/versions/{{number}}"): Row(team_read()),
    ("PATCH", f"{M}/versions/{{number}}"): Row(team_write(200), body={"stage": "staging"}),
    ("DELETE", f"{M}/versions/{{number}}"): Row(team_write(204)),
    ("POST", f"{M}/versions/{{number}}/predict"): Row(
        team_logged_in(200), body=lambda w, role, ctx: {"rows": [w.predict_row]}
    ),
    # --- analytics ------------------------------------------------------------------------------------------
    ("GET", f"{API}/analytics/exports"): Row(logged_in(200)),
    ("POST", f"{API}/analytics/exports"): Row(
        by_role(401, 400, 202, 202, 202, 202, 202),
        body=lambda w, role, ctx: {"report": "jobs", "params": {"project": w.project.id}, "format": "csv"},
        note="params.project the caller may not read: 400 naming params.project",
    ),
    ("GET", X): Row(creator_only(200)),
    ("DELETE", X): Row(creator_only(204)),
    ("GET", f"{X}/download"): Row(creator_only(302)),
    ("GET", f"{API}/analytics/jobs/compare"): Row(
        query_names_team_object(), query=lambda w, role, ctx: {"ids": w.job.id}
    ),
    ("GET", f"{API}/analytics/models/leaderboard"): Row(
        query_names_team_object(), query=lambda w, role, ctx: {"dataset": w.dataset.id, "metric": "accuracy"}
    ),
    ("GET", f"{API}/analytics/overview"): Row(
        query_names_team_object(), query=lambda w, role, ctx: {"project": w.project.id}
    ),
    ("GET", f"{API}/analytics/projects/{{project_id}}/activity"): Row(query_names_team_object()),
    ("GET", f"{API}/analytics/trends"): Row(
        query_names_team_object(), query=lambda w, role, ctx: {"metric": "jobs_created", "project": w.project.id}
    ),
    # --- schema registry: anyone reads, platform admins write ------------------------------------------------
    ("GET", f"{API}/schema"): Row(everyone(200)),
    ("GET", f"{API}/schemas"): Row(everyone(200)),
    ("GET", S): Row(everyone(200)),
    ("PATCH", S): Row(platform_admin(200), body={"description": "项目的扩展信息"}),
    ("POST", f"{S}/compatibility"): Row(platform_admin(200), body=lambda w, role, ctx: {"schema": w.schema_v4}),
    ("GET", f"{S}/migration-plan"): Row(platform_admin(200), query={"from": 1, "to": 2}),
    ("GET", f"{S}/versions"): Row(everyone(200)),
    ("POST", f"{S}/versions"): Row(platform_admin(201), body=lambda w, role, ctx: {"schema": w.schema_v4}),
    ("GET", f"{S}/versions/{{number}}"): Row(everyone(200)),
    ("PATCH", f"{S}/versions/{{number}}"): Row(platform_admin(200), body={"deprecated": True}),
    ("DELETE", f"{S}/versions/{{number}}"): Row(platform_admin(204), params={"number": lambda w, role, ctx: 3}),
    ("GET", f"{API}/schema-migrations"): Row(platform_admin(200)),
    ("POST", f"{API}/schema-migrations"): Row(
        platform_admin(200),
        body=lambda w, role, ctx: {"subject": "project.extra", "from": 1, "to": 2, "plan": w.plan, "dry_run": True},
    ),
    ("GET", G): Row(platform_admin(200)),
    ("GET", f"{G}/log"): Row(platform_admin(200)),
    ("POST", f"{G}/rollback"): Row(platform_admin(202)),
    ("GET", f"{API}/admin/database/schema"): Row(platform_admin(200)),
    ("GET", f"{API}/admin/database/migrations"): Row(platform_admin(200)),
    # --- incubator: events of the team's topics, health ------------------------------------------------------
    ("GET", f"{API}/events"): Row(
        by_role(401, 403, 200, 200, 200, 200, 200),
        query=lambda w, role, ctx: {"topics": w.topics},
        note="a topic the caller may not read: 403 naming it (a topic's existence is not what is asked)",
    ),
    ("GET", f"{API}/events/stream"): Row(
        by_role(401, 403, 200, 200, 200, 200, 200), query=lambda w, role, ctx: {"topics": w.topics}
    ),
    ("GET", f"{API}/health"): Row(everyone(200)),
    ("GET", f"{API}/health/ready"): Row(everyone(200)),
}

# Rows where the answer depends on more than the operation: the PUBLIC project's objects (everyone sees them, so
# refusals are 401/403; LOGGED_IN actions open to any logged-in user), and a member leaving (themselves).
VARIANTS: dict[tuple[str, str, str], Row] = {
    ("GET", P, "public"): Row(public_read(), params=_public()),
    ("PATCH", P, "public"): Row(public_write(200), body={"status": "in_progress"}, params=_public()),
    ("DELETE", P, "public"): Row(
        by_role(401, 403, 403, 403, 403, 204, 204), params=_public(), note="it has a dataset: owner or admin"
    ),
    ("GET", f"{P}/members", "public"): Row(public_read(), params=_public()),
    ("POST", f"{P}/members", "public"): Row(
        public_write(201), body=lambda w, role, ctx: {"user_id": w.users["newbie"].id}, params=_public()
    ),
    ("DELETE", f"{P}/members/{{user_id}}", "public"): Row(public_write(204), params=_public()),
    ("GET", f"{P}/applications", "public"): Row(public_write(200), params=_public()),
    ("POST", f"{P}/applications", "public"): Row(
        by_role(401, 201, 409, 409, 409, 409, 201), body={"message": "想加入"}, params=_public()
    ),
    ("POST", f"{P}/applications/{{application_id}}/approve", "public"): Row(
        public_write(200), body={"role": "member"}, params=_public()
    ),
    ("POST", f"{P}/applications/{{application_id}}/withdraw", "public"): Row(
        by_role(401, 403, 403, 403, 403, 403, 403), params=_public()
    ),
    ("POST", f"{P}/transfer-ownership", "public"): Row(
        by_role(401, 403, 403, 403, 403, 200, 200),
        body=lambda w, role, ctx: {"user_id": w.users["maintainer"].id},
        params=_public(),
    ),
    ("GET", D, "public"): Row(public_read(), params=_public()),
    ("PATCH", D, "public"): Row(public_write(200), body={"description": "说明"}, params=_public()),
    ("GET", f"{D}/versions/{{number}}/rows", "public"): Row(
        public_read(), params=_public(number=_attr("public_dataset_version"))
    ),
    ("POST", f"{API}/datasets", "public"): Row(
        public_write(201), body=lambda w, role, ctx: {"project": w.public_project.id, "name": "新数据集"}
    ),
    ("POST", f"{API}/jobs", "public"): Row(
        by_role(401, 403, 201, 403, 201, 201, 201),
        body=lambda w, role, ctx: {"dataset": w.public_dataset.id, "algorithm": "ridge", "target": "price_usd"},
    ),
    ("GET", M, "public"): Row(public_read(), params=_public()),
    ("PATCH", M, "public"): Row(public_write(200), body={"description": "说明"}, params=_public()),
    ("POST", f"{M}/versions/{{number}}/predict", "public"): Row(
        logged_in(200),
        body=lambda w, role, ctx: {"rows": [w.public_predict_row]},
        params=_public(),
        note="model.predict is LOGGED_IN: any logged-in user who can see the model",
    ),
    ("GET", f"{API}/analytics/projects/{{project_id}}/activity", "public"): Row(logged_in(200), params=_public()),
    ("GET", f"{API}/events", "public"): Row(logged_in(200), query=lambda w, role, ctx: {"topics": w.public_topics}),
    # A child of the private project under a parent the caller controls (the outsider owns the private project
    # `foreign`, a platform admin sees it): the child is looked up within its parent, so 404 for everyone.
    **{
        (method, path, "foreign parent"): Row(by_role(404, 404, 404, 404, 404, 404, 404), body=body, params=params)
        for method, path, body, params in [
            ("POST", f"{P}/applications/{{application_id}}/approve", {"role": "member"}, _FOREIGN_PROJECT),
            ("POST", f"{P}/applications/{{application_id}}/reject", {}, _FOREIGN_PROJECT),
            ("POST", f"{P}/applications/{{application_id}}/withdraw", None, _FOREIGN_PROJECT),
            ("PATCH", f"{P}/members/{{user_id}}", {"role": "mentor"}, _FOREIGN_PROJECT),
            ("DELETE", f"{P}/members/{{user_id}}", None, _FOREIGN_PROJECT),
            ("POST", f"{D}/uploads/{{upload_id}}/abort", None, _foreign_dataset(put=False)),
            (
                "POST",
                f"{D}/uploads/{{upload_id}}/complete",
                lambda w, role, ctx: {"parts": ctx["parts"]},
                _foreign_dataset(put=True),
            ),
        ]
    },
    ("DELETE", f"{P}/members/{{user_id}}", "leave"): Row(
        by_role(404, 404, 204, 204, 204, 409, 404),
        params={"user_id": _own_id},
        note="member.leave (SUBJECT): anyone may leave; the owner cannot (409 OWNER_IMMUTABLE); a non-member has "
        "no membership to leave (404); anonymous names the spare account's id: member.remove, 404",
    ),
}


# --- the world: one private team's objects, built once per module ----------------------------------------------


@pytest.fixture(scope="module")
def matrix_bucket(moto_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """STORAGES["datasets"] on a moto S3 bucket for the whole module (datasets/tests/s3.py)."""
    with bucket_storage(moto_server, tmp_path_factory.mktemp("matrix-cache"), prefix="matrix"):
        yield


@pytest.fixture
def s3_storage(matrix_bucket: None) -> None:
    """Named like the datasets plugin's fixture so the root conftest's autouse `_datasets_storage` leaves the
    module's bucket in place (rather than a temporary directory per test)."""
    return None


def _build() -> SimpleNamespace:
    from accounts.tests.factories import UserFactory
    from accounts.tokens import token_pair_for
    from aimodels import services as aimodels_services
    from aimodels.tests.factories import houses_csv, run, training_csv
    from analytics import services as analytics_services
    from datasets.tests.factories import make_dataset
    from projects.models import Application
    from projects.tests.factories import add_member, make_project
    from schema_registry import services as registry_services
    from schema_registry.models import Subject
    from schema_registry.sandbox import EXTRA_PLAN, EXTRA_V2

    users = {
        "owner": UserFactory(username="m_owner"),
        "outsider": UserFactory(username="m_outsider"),
        "admin": UserFactory(username="m_admin", is_staff=True),
        "spare": UserFactory(username="m_spare"),  # whose credentials anonymous sends to login/refresh/logout
        "newbie": UserFactory(username="m_newbie"),  # added as a member by POST members
        "applicant": UserFactory(username="m_applicant"),
    }
    owner = users["owner"]
    project = make_project(owner, name=f"{SECRET} 私有项目", visibility="private", tags=[f"{SECRET}标签"])
    public_project = make_project(owner, name="公开项目 Public", visibility="public", tags=["公开"])
    for role in ("maintainer", "member", "mentor"):
        users[role] = UserFactory(username=f"m_{role}", role="mentor" if role == "mentor" else "member")
        add_member(project, role, users[role])
        add_member(public_project, role, users[role])
    target = add_member(project, "member")  # the member whom writers remove or re-role
    public_target = add_member(public_project, "member")
    application = Application.objects.create(project=project, applicant=users["applicant"], message=SECRET)
    foreign_project = make_project(users["outsider"], name="外人的项目 Another team's", visibility="private")
    foreign_dataset = make_dataset(foreign_project, users["outsider"], content=None, name="外人的数据")
    public_application = Application.objects.create(project=public_project, applicant=users["applicant"])

    dataset = make_dataset(
        project, owner, content=training_csv(), name=f"{SECRET} 训练数据", file_name="train.csv", profile=True
    )
    spare_dataset = make_dataset(project, owner, name=f"{SECRET} 备用", profile=False)
    version = dataset.latest_version
    job = run(
        aimodels_services.job_create(
            project=project,
            version=version,
            actor=owner,
            data={"algorithm": "logistic_regression", "target": "标签", "seed": 3, "model_name": f"{SECRET} 模型"},
        )
    )
    assert job.status == "succeeded", job.error_message
    queued_job = aimodels_services.job_create(
        project=project, version=version, actor=owner, data={"algorithm": "logistic_regression", "target": "标签"}
    )
    model_version = job.model_version

    public_dataset = make_dataset(
        public_project, owner, content=houses_csv(), name="House prices", file_name="h.csv", profile=False
    )
    public_job = run(
        aimodels_services.job_create(
            project=public_project,
            version=public_dataset.latest_version,
            actor=owner,
            data={"algorithm": "ridge", "target": "price_usd", "model_name": "房价 House price"},
        )
    )
    assert public_job.status == "succeeded", public_job.error_message

    export = analytics_services.export_create(user=owner, report="jobs", params={"project": project.id}, format="csv")
    analytics_services.export_run(export_id=export.id, task_id=export.task_id)
    export.refresh_from_db()
    assert export.status == "succeeded", export.error_code

    # project.extra: versions 1 (the projects' documents), 2 (EXTRA_V2) and 3 (unused, deletable); a pending
    # migration 1 -> 2 (rollback cancels it).
    admin = users["admin"]
    extra = Subject.objects.get(name="project.extra")
    extra = registry_services.subject_update(subject=extra, actor=admin, data={"compatibility": "NONE"})
    registry_services.schema_version_register(subject=extra, schema=EXTRA_V2, actor=admin)
    v3 = {**EXTRA_V2, "properties": {**EXTRA_V2["properties"], "phase": {"type": "string"}}}
    registry_services.schema_version_register(subject=extra, schema=v3, actor=admin)
    migration = registry_services.migration_create(
        subject=extra, from_number=1, to_number=2, plan=EXTRA_PLAN, actor=admin, defer=True
    )
    schema_v4 = {**EXTRA_V2, "properties": {**EXTRA_V2["properties"], "owner_note": {"type": "string"}}}

    signature = [column["name"] for column in model_version.signature["inputs"]]
    sample = {"城市": "北京", "x1": 0.5, "x2": 10, "amount": 1.5}
    public_signature = [column["name"] for column in public_job.model_version.signature["inputs"]]
    house = {"area_sqm": 88.5, "bedrooms": 2, "district": "Riverside", "year_built": 2008, "has_garden": False}

    tokens = {role: str(token_pair_for(users[role]).access_token) for role in ROLES if role != "anonymous"}
    return SimpleNamespace(
        users={**users, "target": target},
        tokens=tokens,
        project=project,
        public_project=public_project,
        target=target,
        public_target=public_target,
        foreign_project=foreign_project,
        foreign_dataset=foreign_dataset,
        application=application,
        public_application=public_application,
        dataset=dataset,
        dataset_version=version.number,
        spare_dataset=spare_dataset,
        job=job,
        queued_job=queued_job,
        model=model_version.model,
        model_version=model_version.number,
        predict_row={name: sample[name] for name in signature},
        public_dataset=public_dataset,
        public_dataset_version=public_dataset.latest_version.number,
        public_model=public_job.model_version.model,
        public_model_version=public_job.model_version.number,
        public_predict_row={name: house[name] for name in public_signature},
        export=export,
        migration=migration,
        schema_v4=schema_v4,
        plan=EXTRA_PLAN,
        topics=f"project:{project.id},dataset:{dataset.id},job:{job.id}",
        public_topics=f"project:{public_project.id}",
    )


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any, matrix_bucket: None) -> Iterator[SimpleNamespace]:
    """The objects every case probes, in a transaction rolled back when the module ends."""
    from aimodels import inference

    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            inference.models_forget()
            yield _build()
        finally:
            inference.models_forget()  # ids come back after the rollback: no other module may see these models
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


# --- the cases ----------------------------------------------------------------------------------------------


def _default_params(path: str, w: SimpleNamespace) -> dict[str, Any]:
    """The private team's objects, by path parameter (`number` by the resource it numbers)."""
    if path.startswith(f"{API}/datasets/"):
        number = w.dataset_version
    elif path.startswith(f"{API}/models/"):
        number = w.model_version
    else:
        number = 1  # a schema version
    return {
        "project_id": w.project.id,
        "user_id": w.target.id,
        "application_id": w.application.id,
        "dataset_id": w.dataset.id,
        "number": number,
        "upload_id": None,  # every upload row makes its own
        "job_id": w.job.id,
        "model_id": w.model.id,
        "subject": "project.extra",
        "migration_id": w.migration.id,
        "export_id": w.export.public_id,
    }


def _value(value: Any, w: SimpleNamespace, role: str, ctx: dict[str, Any]) -> Any:
    return value(w, role, ctx) if callable(value) else value


def _call(w: SimpleNamespace, method: str, path: str, row: Row, role: str) -> Any:
    ctx: dict[str, Any] = {}
    params = _default_params(path, w)
    for name, factory in row.params.items():
        params[name] = factory(w, role, ctx)
    url = path.format(**params)
    client = APIClient()
    if role != "anonymous":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {w.tokens[role]}")
    body = _value(row.body, w, role, ctx)
    query = _value(row.query, w, role, ctx)
    if method == "GET":
        return client.get(url, query)
    if query:
        url = f"{url}?{httpx.QueryParams(query)}"
    fmt = "multipart" if row.multipart else "json"
    return getattr(client, method.lower())(url, body, format=fmt) if body is not None else client.generic(method, url)


def _cases() -> list[Any]:
    cases = []
    for (method, path), row in MATRIX.items():
        for role in ROLES:
            cases.append(pytest.param(method, path, row, role, id=f"{method} {path} as {role}"))
    for (method, path, variant), row in VARIANTS.items():
        for role in ROLES:
            cases.append(pytest.param(method, path, row, role, id=f"{method} {path} [{variant}] as {role}"))
    return cases


CASES = _cases()


# django_db: the test database exists, and each case runs in a savepoint (pytest-django's per-test atomic, nested in
# the module's) rolled back after it, so whatever a case wrote is gone for the next.
@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "row", "role"), CASES)
def test_authorization(world: SimpleNamespace, s3_storage: None, method: str, path: str, row: Row, role: str):
    response = _call(world, method, path, row, role)
    expected = row.expect[role]
    content = b"" if getattr(response, "streaming", False) else response.content
    assert response.status_code == expected, (
        f"{method} {path} as {role}: {response.status_code}, expected {expected}"
        + (f" ({row.note})" if row.note else ""),
        content[:600],
    )
    if expected >= 400:
        body = response.json()
        assert body["status_code"] == expected and body["error_code"], body  # the contract's error body
    text = content.decode("utf-8", "replace")
    if role in ("anonymous", "outsider"):
        # Nothing of the private team reaches a caller outside it, not even inside an answer or an error.
        assert SECRET not in text, (method, path, role, content[:600])
    if role != "admin":
        # API3: another user's email address is nobody's business but theirs and the platform admins'.
        caller = _user_of(world, role)
        leaked = [user.email for user in world.users.values() if user.pk != caller.pk and user.email in text]
        assert not leaked, (method, path, role, leaked)


# --- completeness -------------------------------------------------------------------------------------------

HTTP_METHODS = ("get", "put", "post", "patch", "delete")


def _openapi_operations() -> set[tuple[str, str]]:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (method.upper(), path) for path, item in schema["paths"].items() for method in item if method in HTTP_METHODS
    }


def test_every_operation_has_a_row():
    operations = _openapi_operations()
    missing = sorted(operations - set(MATRIX))
    stale = sorted(set(MATRIX) - operations)
    assert not (missing or stale), (
        f"operations of the OpenAPI document without a row in the authorization matrix: {missing}; "
        f"rows for operations that no longer exist: {stale}"
    )
    variants = {(method, path) for method, path, _ in VARIANTS}
    assert variants <= operations, sorted(variants - operations)
    for key, row in {**MATRIX, **{k[:2]: v for k, v in VARIANTS.items()}}.items():
        assert set(row.expect) == set(ROLES), key
    print(
        f"\nauthorization matrix: {len(MATRIX)} operations x {len(ROLES)} roles = {len(MATRIX) * len(ROLES)} cases, "
        f"+ {len(VARIANTS)} variant rows x {len(ROLES)} = {len(VARIANTS) * len(ROLES)}; {len(CASES)} cases in all"
    )
    assert len(CASES) == (len(MATRIX) + len(VARIANTS)) * len(ROLES)
