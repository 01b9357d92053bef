"""/metrics: who may read it, that each metric moves with the action it counts, that processes add up, and that
a request's id reaches the tasks it sends and their log lines."""

import asyncio
import concurrent.futures
import logging
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from celery import shared_task, signals
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import path
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from incubator import batch, metrics
from incubator.celery import _request_id_into_message, app
from incubator.logging import RequestIdFilter
from incubator.metrics import files as metric_files
from incubator.metrics import views as metric_views
from incubator.request_id import current_request_id, reset_request_id, set_request_id
from incubator.servers import free_port
from incubator.tasks import ping
from projects.tests.factories import make_project

from .communicator import run
from .live import ROOT, asgi_server
from .live import test_database_url as database_url
from .test_errors import assert_error
from .test_stream import authed, in_thread, record, subscribe

task_logger = logging.getLogger("incubator.tests.metrics")


@shared_task(name="incubator.tests.metrics_log", soft_time_limit=10, time_limit=20)
def log_request_id(then_send: bool = False) -> str:
    """Logs one line; with then_send, sends itself once more (a task enqueued by a task)."""
    task_logger.warning("metrics task ran (then_send=%s)", then_send)
    if then_send:
        log_request_id.delay(False)
    return current_request_id()


@shared_task(name="incubator.tests.metrics_fail")
def always_fails() -> None:
    raise RuntimeError("planned failure")


def _enqueue_on_commit(request):
    with transaction.atomic():
        transaction.on_commit(lambda: log_request_id.delay(True))
    return HttpResponse("sent")


urlpatterns = [path("enqueue", _enqueue_on_commit)]


# --- reading the exposition --------------------------------------------------------------------------------


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the sample `name` with these labels (among others), None when the page has none."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return item.value
    return None


def scrape(**extra) -> str:
    response = Client().get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def current(name: str, **labels: str) -> float:
    """This machine's value without the scrape-time collectors (no database: usable from an event loop)."""
    if metrics.MULTIPROCESS:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return sample(generate_latest(registry).decode(), name, **labels) or 0.0


# --- access ------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_allowed_network_reads_without_a_token_and_others_are_refused(settings):
    settings.METRICS_TOKEN = ""
    assert "incubator_training_jobs" in scrape(REMOTE_ADDR="127.0.0.1")
    assert "incubator_training_jobs" in scrape(REMOTE_ADDR="::1")
    assert_error(Client().get("/metrics", REMOTE_ADDR="10.1.2.3"), 403, "PERMISSION_DENIED")
    # Through a proxy on this machine every client looks local: the token is needed then.
    assert_error(
        Client().get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8"), 403, "PERMISSION_DENIED"
    )
    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert "incubator_training_jobs" in scrape(REMOTE_ADDR="10.1.2.3")
    assert_error(Client().get("/metrics", REMOTE_ADDR="127.0.0.1"), 403, "PERMISSION_DENIED")
    settings.METRICS_ALLOWED_NETWORKS = []
    assert_error(Client().get("/metrics", REMOTE_ADDR="10.1.2.3"), 403, "PERMISSION_DENIED")


@pytest.mark.django_db
def test_the_token_opens_it_from_anywhere_and_a_wrong_one_is_refused(settings):
    settings.METRICS_TOKEN = "scrape-token-0123456789"
    settings.METRICS_ALLOWED_NETWORKS = []
    assert "incubator_" in scrape(REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer scrape-token-0123456789")
    assert "incubator_" in scrape(HTTP_AUTHORIZATION="bearer scrape-token-0123456789", HTTP_X_FORWARDED_FOR="1.2.3.4")
    for wrong in (
        "Bearer scrape-token-012345678",
        "Bearer ",
        "Basic scrape-token-0123456789",
        "scrape-token-0123456789",
    ):
        assert_error(
            Client().get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION=wrong), 403, "PERMISSION_DENIED"
        )
    # A wrong token is refused even from an allowed network.
    settings.METRICS_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    assert_error(Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope"), 403, "PERMISSION_DENIED")
    assert Client().post("/metrics").status_code == 405


def test_metrics_is_not_in_the_openapi_document():
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert paths and "/metrics" not in paths and not any(p.startswith("/metrics") for p in paths)


def test_a_bad_network_setting_stops_the_start():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            **os.environ,
            "METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-network",
            "DJANGO_SETTINGS_MODULE": "incubator.settings",
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "METRICS_ALLOWED_NETWORKS" in result.stderr


# --- HTTP --------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_request_is_counted_under_its_route_template_with_its_queries(user):
    project = make_project(user)
    route = "api/v1/projects/<int:project_id>"
    before = scrape()
    with CaptureQueriesContext(connection) as queries:
        assert Client().get(f"/api/v1/projects/{project.pk}").status_code == 200
    executed = len(queries)  # the next request resets the connection's log
    assert Client().get("/api/v1/projects/999999").status_code == 404
    assert Client().get("/no/such/page").status_code == 404
    after = scrape()

    def delta(name, **labels):
        return (sample(after, name, **labels) or 0) - (sample(before, name, **labels) or 0)

    assert delta("incubator_http_requests_total", method="GET", route=route, status="200") == 1
    assert delta("incubator_http_requests_total", method="GET", route=route, status="404") == 1
    assert delta("incubator_http_requests_total", method="GET", route="<unmatched>", status="404") == 1
    routes = {
        item.labels.get("route")
        for family in text_string_to_metric_families(after)
        for item in family.samples
        if "route" in item.labels
    }
    assert route in routes and not any(re.search(r"/\d", r) for r in routes)  # never a raw path
    assert delta("incubator_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert delta("incubator_http_request_duration_seconds_sum", method="GET", route=route) > 0
    assert delta("incubator_http_request_db_queries_count", route=route) == 2
    # The histogram's sum for the first request is exactly what Django executed for it.
    assert executed > 0
    assert delta("incubator_http_request_db_queries_sum", route=route) >= executed
    assert delta("incubator_http_request_redis_round_trips_count", route=route) == 2


@pytest.mark.django_db
def test_query_count_is_exact(user):
    project = make_project(user)
    route = "api/v1/projects/<int:project_id>"
    before = current("incubator_http_request_db_queries_sum", route=route)
    with CaptureQueriesContext(connection) as queries:
        Client().get(f"/api/v1/projects/{project.pk}")
    assert current("incubator_http_request_db_queries_sum", route=route) - before == len(queries)


def test_an_unknown_method_is_not_a_label():
    before = current("incubator_http_requests_total", method="other", route="<unmatched>", status="404")
    Client().generic("BREW", "/no/such/page")
    assert current("incubator_http_requests_total", method="other", route="<unmatched>", status="404") == before + 1


def test_redis_round_trips_of_the_request_are_counted(monkeypatch):
    """The hook in incubator.cache.redis_execute, without a Redis: each pipeline sent is one round trip of the
    request, whoever sends it (the cache batch, a raw write, a generation bump)."""
    from incubator import cache as cache_module

    class FakeConnection:
        def pack_commands(self, commands):
            self.commands = list(commands)
            return b""

        def send_packed_command(self, packed, check_health=False):
            sent.append(self.commands)

        def read_response(self):
            return b"1"

    sent = []
    monkeypatch.setattr(cache_module, "_current_target", lambda: SimpleNamespace(prefix=""))
    monkeypatch.setattr(cache_module, "_connection", lambda target: FakeConnection())
    monkeypatch.setattr(batch, "redis_enabled", lambda: True)
    stats = metrics.RequestStats()
    token = metrics.request_stats.set(stats)
    try:
        batch.count_and_read([("a", 60)], ["b"])
        batch.count_and_read([], [])  # nothing to send: no round trip
        batch.cache_set_raw("c", "1", 60)
    finally:
        metrics.request_stats.reset(token)
    assert len(sent) == 2 and stats.redis_round_trips == 2
    batch.count_and_read([("a", 60)], [])  # outside a request: counted against nothing
    assert stats.redis_round_trips == 2


@pytest.mark.redis
@pytest.mark.django_db
def test_an_api_request_makes_one_round_trip_to_redis(user):
    route = "api/v1/projects"
    # The first request after a flush also creates the list's generation token: a trip of its own, once.
    assert Client().get("/api/v1/projects").status_code == 200
    before = current("incubator_http_request_redis_round_trips_sum", route=route)
    count_before = current("incubator_http_request_redis_round_trips_count", route=route)
    assert Client().get("/api/v1/projects").status_code == 200
    assert current("incubator_http_request_redis_round_trips_count", route=route) == count_before + 1
    assert current("incubator_http_request_redis_round_trips_sum", route=route) - before == 1


@pytest.mark.django_db
@pytest.mark.urls("incubator.tests.urls")
def test_a_throttled_request_counts_a_rejection_by_scope(settings, rate_clock):
    current_rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**current_rates, "anon": "1/min"},
    }
    before = current("incubator_rate_limit_rejections_total", scope="anon")
    assert Client().get("/api/v1/test/users", REMOTE_ADDR="10.9.9.9").status_code == 200
    assert current("incubator_rate_limit_rejections_total", scope="anon") == before
    assert Client().get("/api/v1/test/users", REMOTE_ADDR="10.9.9.9").status_code == 429
    assert current("incubator_rate_limit_rejections_total", scope="anon") == before + 1


# --- scrape time -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_training_jobs_by_status_with_every_status(user):
    from aimodels import services as aimodels_services
    from aimodels.tests.factories import ready_version, spec

    project = make_project(user)
    version = ready_version(project, user, rows=60)
    text = scrape()
    for status in ("queued", "running", "succeeded", "failed", "cancelled"):
        assert sample(text, "incubator_training_jobs", status=status) == 0
    aimodels_services.job_create(project=project, version=version, actor=user, data=spec())
    assert sample(scrape(), "incubator_training_jobs", status="queued") == 1


@pytest.mark.django_db
def test_a_source_that_fails_leaves_its_samples_out_and_counts_an_error(monkeypatch, settings):
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    def broken():
        raise RuntimeError("database down")

    monkeypatch.setattr(metric_views, "training_jobs_by_status", broken)
    before = scrape()
    after = scrape()
    assert "incubator_celery_queue_length" not in after and "incubator_training_jobs " not in after
    for collector in ("celery_queue_length", "training_jobs"):
        was = sample(before, "incubator_metrics_collector_errors_total", collector=collector)
        assert sample(after, "incubator_metrics_collector_errors_total", collector=collector) == was + 1


@pytest.mark.django_db
def test_queue_lengths_of_the_embedded_broker(settings, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://localhost/"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    for name in ("1_a.celery.msg", "2_b.celery.msg", "3_c.training.msg", "4_d.other.msg", "notes.txt"):
        (tmp_path / name).write_text("{}")
    text = scrape()
    assert sample(text, "incubator_celery_queue_length", queue="celery") == 2
    assert sample(text, "incubator_celery_queue_length", queue="training") == 1
    assert sample(text, "incubator_celery_queue_length", queue="other") is None
    settings.CELERY_BROKER_URL = "amqp://guest@127.0.0.1//"  # not read: no samples, no error
    assert "incubator_celery_queue_length" not in scrape()


@pytest.mark.redis
@pytest.mark.django_db
def test_queue_lengths_of_a_redis_broker(settings):
    import redis

    url = os.environ["REDIS_URL"]
    queue = f"metrics-test-{os.getpid()}"
    settings.CELERY_BROKER_URL = url
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}
    client = redis.Redis.from_url(url)
    keys = [queue, f"{queue}\x06\x163"]
    try:
        client.rpush(keys[0], "a", "b", "c")
        client.rpush(keys[1], "d")
        assert sample(scrape(), "incubator_celery_queue_length", queue=queue) == 4
    finally:
        client.delete(*keys)


# --- live connections and events ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_websocket_counts_while_open_and_replays_are_counted(user):
    project = make_project(user)
    topic = f"project:{project.pk}"

    async def talk():
        ids = await in_thread(record, topic, 3)
        open_before = current("incubator_live_connections", transport="websocket")
        replayed_before = current("incubator_events_replayed_total", transport="websocket")
        ws = await authed(user)
        assert current("incubator_live_connections", transport="websocket") == open_before + 1
        await subscribe(ws, [topic], since=ids[0])
        for _ in range(2):
            await ws.receive_json_from()
        assert current("incubator_events_replayed_total", transport="websocket") == replayed_before + 2
        await ws.disconnect()
        await asyncio.sleep(0.05)
        assert current("incubator_live_connections", transport="websocket") == open_before

    run(talk())


@pytest.mark.django_db
def test_events_published_by_topic_kind_and_polling_replays(user, auth_client, django_capture_on_commit_callbacks):
    before = current("incubator_events_published_total", kind="project")
    with django_capture_on_commit_callbacks(execute=True):
        project = make_project(user)
    assert current("incubator_events_published_total", kind="project") >= before + 1
    assert "project:" not in generate_latest(REGISTRY).decode()  # topic ids are never labels
    client = auth_client(user)
    ids = record(f"project:{project.pk}", 3)
    replayed = current("incubator_events_replayed_total", transport="polling")
    first = client.get("/api/v1/events", {"topics": f"project:{project.pk}"})
    assert first.status_code == 200
    assert current("incubator_events_replayed_total", transport="polling") == replayed  # a first poll misses nothing
    response = client.get("/api/v1/events", {"topics": f"project:{project.pk}", "after": ids[0]})
    assert len(response.json()["events"]) == 2
    assert current("incubator_events_replayed_total", transport="polling") == replayed + 2


@pytest.mark.django_db(transaction=True)
def test_a_server_sent_events_stream_counts_while_open(user):
    from rest_framework_simplejwt.tokens import RefreshToken

    from incubator.events.sse import event_stream_app

    token = str(RefreshToken.for_user(user).access_token)
    project = make_project(user)

    async def stream():
        inbox: asyncio.Queue = asyncio.Queue()
        sent: list[dict] = []
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/api/v1/events/stream",
            "query_string": f"topics=project:{project.pk}".encode(),
            "headers": [(b"authorization", f"Bearer {token}".encode())],
        }

        async def send(message):
            sent.append(message)

        before = current("incubator_live_connections", transport="sse")
        task = asyncio.create_task(event_stream_app(scope, inbox.get, send))
        for _ in range(100):
            if len(sent) >= 2:
                break
            await asyncio.sleep(0.02)
        assert sent[0]["status"] == 200
        assert current("incubator_live_connections", transport="sse") == before + 1
        await inbox.put({"type": "http.disconnect"})
        await asyncio.wait_for(task, 5)
        assert current("incubator_live_connections", transport="sse") == before

    run(stream())


# --- datasets and tasks ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_dataset_conversions_by_outcome(user, monkeypatch):
    from datasets import services as dataset_services
    from datasets import tasks as dataset_tasks
    from datasets.models import DatasetVersion
    from datasets.tests.factories import upload

    project = make_project(user)
    ok = dataset_services.dataset_create(project=project, actor=user, data={"name": "好"}, upload=upload())
    bad = dataset_services.dataset_create(project=project, actor=user, data={"name": "坏"}, upload=upload())
    succeeded = current("incubator_dataset_conversions_total", outcome="succeeded")
    failed = current("incubator_dataset_conversions_total", outcome="failed")
    durations = current("incubator_dataset_conversion_duration_seconds_count")
    dataset_tasks.version_convert(ok.latest_version.id)
    assert ok.latest_version.__class__.objects.get(pk=ok.latest_version.id).status == DatasetVersion.Status.READY
    dataset_tasks.version_convert(ok.latest_version.id)  # a duplicate delivery converts nothing
    assert current("incubator_dataset_conversions_total", outcome="succeeded") == succeeded + 1

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    from datasets.engine import formats

    monkeypatch.setattr(formats, "convert", broken)
    dataset_tasks.version_convert(bad.latest_version.id)
    assert DatasetVersion.objects.get(pk=bad.latest_version.id).status == DatasetVersion.Status.FAILED
    dataset_tasks.version_convert(bad.latest_version.id)  # redelivered: it found the version failed already
    assert current("incubator_dataset_conversions_total", outcome="failed") == failed + 1
    assert current("incubator_dataset_conversion_duration_seconds_count") == durations + 2


def test_task_outcomes_and_durations():
    name = "incubator.tests.metrics_fail"
    ran = current("incubator_celery_tasks_total", task="incubator.ping", outcome="succeeded")
    timed = current("incubator_celery_task_duration_seconds_count", task="incubator.ping")
    failed = current("incubator_celery_tasks_total", task=name, outcome="failed")
    assert ping.delay().get() == "pong"
    # As in a worker, where the exception is recorded rather than raised to the caller.
    assert always_fails.apply(throw=False).state == "FAILURE"
    assert current("incubator_celery_tasks_total", task="incubator.ping", outcome="succeeded") == ran + 1
    assert current("incubator_celery_task_duration_seconds_count", task="incubator.ping") == timed + 1
    assert current("incubator_celery_tasks_total", task=name, outcome="failed") == failed + 1
    revoked = current("incubator_celery_tasks_total", task="incubator.ping", outcome="revoked")
    signals.task_revoked.send(sender=None, request=SimpleNamespace(task_name="incubator.ping"), terminated=False)
    assert current("incubator_celery_tasks_total", task="incubator.ping", outcome="revoked") == revoked + 1
    rejected = current("incubator_celery_tasks_total", task="<unknown>", outcome="rejected")
    signals.task_rejected.send(sender=None, message=SimpleNamespace(headers={"task": "made.up.name"}), exc=None)
    assert current("incubator_celery_tasks_total", task="<unknown>", outcome="rejected") == rejected + 1


# --- request ids into tasks --------------------------------------------------------------------------------


@pytest.fixture
def task_records(caplog):
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.WARNING, logger="incubator.tests.metrics")
    return lambda: [r for r in caplog.records if r.name == "incubator.tests.metrics"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.urls("incubator.tests.test_metrics")
def test_a_request_id_reaches_the_log_lines_of_the_tasks_it_sends(task_records):
    """Tasks are sent on commit, which happens inside the request: the id is still set then (eager tasks)."""
    response = Client().get("/enqueue", HTTP_X_REQUEST_ID="req-1234abcd")
    assert response.status_code == 200 and response["X-Request-ID"] == "req-1234abcd"
    records = task_records()
    assert len(records) == 2  # the task, and the task it sent
    assert [r.request_id for r in records] == ["req-1234abcd", "req-1234abcd"]
    assert current_request_id() == "-"


def test_the_id_travels_in_the_message_headers_and_the_worker_runs_under_it(task_records):
    headers: dict = {}
    _request_id_into_message(headers=headers)
    assert headers == {}  # outside a request: nothing to carry
    token = set_request_id("abc-123")
    try:
        _request_id_into_message(headers=headers)
    finally:
        reset_request_id(token)
    assert headers == {"request_id": "abc-123"}
    # In a worker: the id from the message, then (none sent) the task's own id.
    assert log_request_id.apply(headers={"request_id": "abc-123"}).get() == "abc-123"
    assert log_request_id.apply(task_id="task-id-42").get() == "task-id-42"
    assert log_request_id.apply(headers={"request_id": "bad id!"}, task_id="task-id-43").get() == "task-id-43"
    assert current_request_id() == "-"
    assert [r.request_id for r in task_records()] == ["abc-123", "task-id-42", "task-id-43"]


# --- processes ---------------------------------------------------------------------------------------------


def test_files_of_processes_that_are_gone_are_swept(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(gone.stdout)
    for name in (f"counter_{dead}.db", f"gauge_livesum_{dead}.db", f"counter_{os.getpid()}.db", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    removed = metric_files.sweep_dead_processes(str(tmp_path))
    assert sorted(removed) == [f"counter_{dead}.db", f"gauge_livesum_{dead}.db"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"counter_{os.getpid()}.db", "notes.txt"]


@pytest.mark.live_server
@pytest.mark.django_db(transaction=True)
def test_two_server_processes_add_up(tmp_path, monkeypatch):
    """granian with two workers writing to one folder: /metrics shows the sum of both."""
    from prometheus_client import multiprocess

    folder = tmp_path / "metrics"
    folder.mkdir()
    clients, each = 16, 3
    requests = clients * each
    monkeypatch.setenv("WEB_WORKERS", "2")  # read by server_command, in this process
    # Eager tasks: no embedded Celery workers to start; granian with two workers waits ~10 s on SIGTERM otherwise.
    server_env = {"CELERY_TASK_ALWAYS_EAGER": "1", "GRANIAN_WORKERS_KILL_TIMEOUT": "1"}
    with asgi_server("granian", PROMETHEUS_MULTIPROC_DIR=str(folder), **server_env) as base:
        start = threading.Barrier(clients)

        def hit(_):
            # Connections opened together (and kept): the workers take them in turn, not one worker all.
            with httpx.Client() as client:
                start.wait(10)
                return [client.get(f"{base}/api/v1/nowhere").status_code for _ in range(each)]

        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            assert {code for codes in pool.map(hit, range(clients)) for code in codes} == {404}
        page = httpx.get(f"{base}/metrics").text
        labels = {"method": "GET", "route": "^api/", "status": "404"}
        assert sample(page, "incubator_http_requests_total", **labels) == requests
        per_process = []
        for file in folder.glob("counter_*.db"):
            merged = multiprocess.MultiProcessCollector.merge([str(file)], accumulate=False)
            values = [
                s.value
                for m in merged
                for s in m.samples
                if s.name == "incubator_http_requests_total" and s.labels == labels
            ]
            if values:
                per_process.append(values[0])
        assert len(per_process) == 2 and sum(per_process) == requests, per_process


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_logs_under_the_request_id_and_serves_its_metrics(tmp_path):
    """A real prefork worker: the id sent in the message is on the task's log lines and on those of the task it
    sends; CELERY_METRICS_PORT serves the pool processes' counts."""
    app.control.purge()
    name = f"metrics-{os.getpid()}@test"
    port = free_port()
    folder = tmp_path / "metrics"
    folder.mkdir()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
        "CELERY_METRICS_PORT": str(port),
    }
    command = [sys.executable, "-m", "celery", "-A", "incubator", "worker", "-I", "incubator.tests.test_metrics",
               "--pool", "prefork", "--concurrency", "1", "--loglevel", "WARNING", "--without-mingle",
               "--without-gossip", "-n", name]  # fmt: skip
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(destination=[name], timeout=1):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the worker did not start"
        token = set_request_id("worker-req-77")
        try:
            result = log_request_id.delay(True)
        finally:
            reset_request_id(token)
        assert result.get(timeout=30) == "worker-req-77"
        deadline = time.monotonic() + 30
        while log.read_text().count('"request_id": "worker-req-77"') < 2:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        lines = [line for line in log.read_text().splitlines() if "metrics task ran" in line]
        assert len(lines) == 2 and all('"request_id": "worker-req-77"' in line for line in lines), lines
        page = ""
        deadline = time.monotonic() + 10
        while (
            sample(page, "incubator_celery_tasks_total", task="incubator.tests.metrics_log", outcome="succeeded") or 0
        ) < 2:
            assert time.monotonic() < deadline, page
            page = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
    assert not list(Path(folder).glob("gauge_live*"))  # no live gauge of a process that is gone


@pytest.mark.django_db
def test_metric_names_lists_exactly_what_the_page_shows(user):
    """METRIC_NAMES is what the dashboard is checked against (incubator/tests/test_deploy_files.py)."""
    text = scrape()
    families = {family.name for family in text_string_to_metric_families(text) if family.name.startswith("incubator_")}
    # Families a fresh process has not written yet are absent from the page, never unknown to the list.
    assert families <= {name.removesuffix("_total") for name in metrics.METRIC_NAMES}
    assert {"incubator_training_jobs", "incubator_celery_queue_length"} <= families


@pytest.mark.django_db
def test_admin_routes_are_one_label_and_a_refused_method_is_other(client):
    """An anonymous client walking Django admin's ~190 patterns with every method multiplied the series (and the
    scrape's time) twentyfold: the attacker probe's finding."""
    client.get("/admin/auth/group/")
    client.get("/admin/projects/project/1/change/")
    client.generic("PROPFIND", "/api/v1/projects")
    client.delete("/api/v1/health")
    text = generate_latest(REGISTRY).decode()
    routes = set(re.findall(r'incubator_http_requests_total\{[^}]*route="([^"]*)"', text))
    assert "admin" in routes and not any(route.startswith("admin/") for route in routes)
    assert 'method="DELETE",route="api/v1/health"' not in text
    assert re.search(r'method="other",route="api/v1/health",status="405"', text)


@pytest.mark.django_db
def test_metrics_refuses_other_methods_in_the_error_body(client, settings):
    settings.METRICS_TOKEN = "t0ken"
    for method in ("post", "put", "delete", "options"):
        response = getattr(client, method)("/metrics", HTTP_AUTHORIZATION="Bearer t0ken")
        assert response.status_code == 405 and response["Allow"] == "GET, HEAD", (method, response.content)
        assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"


def test_an_ipv4_mapped_peer_matches_an_ipv4_network(rf, settings):
    from incubator.metrics.views import metrics_allowed

    settings.METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert metrics_allowed(rf.get("/metrics", REMOTE_ADDR="::ffff:10.1.2.3"))
    assert not metrics_allowed(rf.get("/metrics", REMOTE_ADDR="::ffff:11.1.2.3"))


def test_a_request_id_with_a_trailing_newline_is_replaced(client):
    response = client.get("/api/v1/health", HTTP_X_REQUEST_ID="abc\n")
    assert response["X-Request-ID"] != "abc\n" and len(response["X-Request-ID"]) == 32
