"""Benchmark: the live event stream (WebSocket /ws/v1/stream) against the channel layer alone, in one run.

    python bench/live.py [--clients 1000] [--seconds 30] [--rate 20] [--b-rate RATE] [--warmup 3] [--rounds 1]
                         [--scenarios A,B] [--modes stream,bare[,layer]] [--client-processes 2]
                         [--drain 10] [--drain-max 45] [--server granian|uvicorn]

Quick run: `python bench/live.py --clients 100 --seconds 5` (about a minute; the default, about 5 minutes).

One ASGI server process (incubator.servers, pinned to core 0) with the Redis channel layer (Redis db 9, flushed
at the start and at the end) and PostgreSQL (its own database, incubator_bench_live, dropped and migrated at the
start, dropped at the end). Fixtures are made by a Django script: one user, owner of one project, --clients
training jobs (ORM rows on one ready dataset version: a `job:{id}` topic only needs a job its user may read), and
an access token.

WebSocket clients (the `websockets` package, no compression, in --client-processes processes) connect with the
subprotocols ["incubator.v1", "bearer.<token>"], subscribe, and record time.time() and the id of every event they
receive. The emitter is a separate process. Everything but the server runs on core 1.

Scenarios, each over fresh connections:
- A: every client subscribed to one job's topic; the emitter writes --rate job.progress events a second for
  --warmup + --seconds seconds.
- B: each client subscribed to its own job's topic (--clients jobs); the emitter writes --b-rate (default
  --rate) events a second in total, round-robin over the topics (one event per tick, the next topic each time:
  one event in writing costs a transaction, so one per topic per tick, 20,000 a second, is out of reach).
Each scenario runs once per mode, interleaved (the order of the modes reversed every other round):
- stream: the real outbox path. Each event is `event_record` in its own `transaction.atomic()`; its commit time
  is time.time() in a `transaction.on_commit` callback registered before event_record's own (so it runs first,
  right after COMMIT returns, before the publish: event_prev + group_send through async_to_sync). Latency =
  receipt - commit. "publish" = the time from there until the atomic block has returned (the publish done).
- bare (the ceiling the issue names): the same clients and server consumer, but the emitter calls the channel
  layer's `group_send` itself, from one long-lived event loop, with the message the stream's consumer handles
  ({"type": "event.message", "event_type", "id", "topic", "ts", "data", "prev": None}); ids start at 10**12 so
  the consumer never takes them for duplicates. Latency = receipt - the moment before group_send.
- layer (opt-in, --modes ...,layer): channels_redis alone, no server and no WebSocket: one process on core 0
  with one channel per client in the topic's group, each read by a task awaiting `layer.receive` as a consumer
  does; the bare emitter. Its process's CPU is reported as the server's.
Only events after the warm-up count for latency; every event (warm-up included) counts for the checks: every
client must receive every event of its topic, in id order, once. A missing event is a hole (a later one of its
topic arrived) or in the tail (nothing of its topic arrived after it, before the drain ended: --drain seconds
without any delivery, or --drain-max seconds after the last event was written).

Figures: p50 / p99 / max delivery latency, p99 of the time until the last client had an event (fan-out), p99 of
the worst second, missing / out-of-order / duplicate counts, the server's CPU (the process and its children,
/proc/<pid>/stat) and the clients' and Redis's over the measured window (% of one core), stream/bare ratios,
and the machine's CPU pressure (PSI: runnable tasks waiting for a CPU, on average) as a noise indicator.
Goal (the issue): scenario A stream p99 < 250 ms with every event delivered. Writes bench/results/live.json; the
server's output goes to var/bench/live/server.log (its warnings and errors, channels_redis's "over capacity" and
the stream's "too slow" lines are counted).
"""

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, ensure_postgres_database, manage, pin, write_results  # noqa: E402
from incubator.servers import free_port, server_command  # noqa: E402

POSTGRES = "postgres://postgres@127.0.0.1:5432"
DATABASE = "incubator_bench_live"
REDIS = "redis://127.0.0.1:6379/9"
WORK = ROOT / "var" / "bench" / "live"
BARE_ID_BASE = 10**12

# Every process this bench starts (the server, emitters): ended in main's finally, by process group.
STARTED: list[subprocess.Popen] = []


# --- processes ----------------------------------------------------------------------------------------------


def _raise_nofile() -> int:
    """The soft open-file limit up to the hard one (children inherit it); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else 65536, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _spawn(command: list[str], env: dict[str, str], log: Path | None, **kwargs: Any) -> subprocess.Popen:
    """A process in its own group (so its children go with it), recorded for the final cleanup."""
    out = open(log, "ab") if log is not None else None  # noqa: SIM115 - the child keeps it
    try:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=kwargs.pop("stdout", out),
            stderr=kwargs.pop("stderr", subprocess.STDOUT if out else None),
            start_new_session=True,
            **kwargs,
        )
    finally:
        if out is not None:
            out.close()
    STARTED.append(process)
    return process


def _end(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM to the process group, SIGKILL to whatever is left of it after `timeout`."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    with contextlib.suppress(ProcessLookupError):  # the server's worker left behind
        os.killpg(process.pid, signal.SIGKILL)
    if process in STARTED:
        STARTED.remove(process)


def _tree(pid: int) -> list[int]:
    """The process and its descendants (granian runs the application in a child process)."""
    found = [pid]
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                for child in handle.read().split():
                    found += _tree(int(child))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes (all their threads) so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _cpu_pressure() -> float | None:
    """Microseconds some runnable task waited for a CPU, machine-wide (PSI), so far."""
    try:
        with open("/proc/pressure/cpu") as handle:
            return float(handle.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def _redis_cpu() -> float:
    import redis

    with contextlib.closing(redis.Redis.from_url(REDIS)) as connection:
        info = connection.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@contextlib.contextmanager
def _server(kind: str, env: dict[str, str], log: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    port = free_port()
    command = server_command(kind, port)
    process = _spawn([*pin(0), *command], env, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"{kind} did not start: see {log}") from None
                time.sleep(0.2)
        yield port, process
    finally:
        _end(process)


def _code_fingerprint() -> dict[str, str]:
    """sha256 (12 digits) of the stream's code as it was when the run started: the figures belong to it."""
    import hashlib

    files = sorted((ROOT / "incubator" / "events").glob("*.py"))
    files += [ROOT / "incubator" / "websocket.py", ROOT / "incubator" / "settings" / "channels.py"]
    return {str(f.relative_to(ROOT)): hashlib.sha256(f.read_bytes()).hexdigest()[:12] for f in files if f.exists()}


# --- the database and the fixtures --------------------------------------------------------------------------


def _recreate_postgres(database_url: str) -> None:
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    ensure_postgres_database(database_url)


def _drop_postgres(database_url: str) -> None:
    import psycopg

    base, name = database_url.rsplit("/", 1)
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _flush_redis() -> None:
    import redis

    with contextlib.closing(redis.Redis.from_url(REDIS)) as connection:
        connection.flushdb()


FIXTURES = """
import json, sys
import django
django.setup()
from rest_framework_simplejwt.tokens import RefreshToken
from accounts.tests.factories import UserFactory
from aimodels.models import TrainingJob
from aimodels.tests.factories import ready_version
from projects.tests.factories import make_project

count = int(sys.argv[1])
user = UserFactory(username="bench_live")
project = make_project(user, name="实时压测 Live bench")
version = ready_version(project, user)
jobs = TrainingJob.objects.bulk_create(
    TrainingJob(
        project=project, dataset_version=version, created_by=user, algorithm="logistic_regression",
        task="classification", target="标签", seed=3, time_limit=600, model_name=f"bench {i}",
    )
    for i in range(count)
)
token = str(RefreshToken.for_user(user).access_token)
print(json.dumps({"user": user.pk, "project": project.pk, "jobs": [job.pk for job in jobs], "token": token}))
"""


def _fixtures(env: dict[str, str], count: int) -> dict[str, Any]:
    # Tasks (the dataset's conversion) run in the script; the token outlives any run of this bench.
    script_env = {**env, "CELERY_TASK_ALWAYS_EAGER": "1", "JWT_ACCESS_MINUTES": "240"}
    done = subprocess.run(
        [sys.executable, "-c", FIXTURES, str(count)],
        cwd=ROOT,
        env=script_env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the clients --------------------------------------------------------------------------------------------


def _client_process(conn: Any, url: str, token: str, topics: list[str], concurrency: int) -> None:
    """One process of WebSocket clients, one per topic in `topics`; talks to the parent over `conn`:
    -> ("ready", connected, errors); <- ("count",) -> ("count", received); <- ("stop",) -> ("data", ...)."""
    import asyncio

    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(_clients(conn, url, token, topics, concurrency))


async def _clients(conn: Any, url: str, token: str, topics: list[str], concurrency: int) -> None:
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    count = len(topics)
    ids = [array("q") for _ in range(count)]
    times = [array("d") for _ in range(count)]
    sockets: list[Any] = [None] * count
    errors: list[str] = []
    closes: list[tuple[int, int | None, str]] = []  # unexpected closes: (client, code, reason)
    other: dict[str, int] = {}  # messages that were neither events nor heartbeats, by type
    stopping = False
    gate = asyncio.Semaphore(concurrency)
    loop = asyncio.get_running_loop()

    async def join(i: int) -> bool:
        async with gate:
            try:
                ws = await connect(
                    url,
                    subprotocols=["incubator.v1", f"bearer.{token}"],
                    compression=None,
                    ping_interval=None,
                    open_timeout=120,
                    close_timeout=5,
                    max_size=2**20,
                )
                sockets[i] = ws
                hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if hello.get("type") != "authenticated":
                    errors.append(f"client {i}: {json.dumps(hello)[:300]}")
                    return False
                await ws.send(json.dumps({"type": "subscribe", "topics": [topics[i]]}))
                while True:
                    answer = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    if answer.get("type") == "subscribed":
                        return True
                    if answer.get("type") != "heartbeat":
                        errors.append(f"client {i}: {json.dumps(answer)[:300]}")
                        return False
            except Exception as exc:  # noqa: BLE001 - counted and reported
                errors.append(f"client {i}: {type(exc).__name__}: {exc}"[:300])
                return False

    async def read(i: int) -> None:
        ws = sockets[i]
        got_ids, got_times, loads, now = ids[i], times[i], json.loads, time.time
        try:
            async for raw in ws:
                received = now()
                message = loads(raw)
                event_id = message.get("id")
                if type(event_id) is int:
                    got_ids.append(event_id)
                    got_times.append(received)
                else:
                    kind = str(message.get("type"))
                    if kind != "heartbeat":
                        other[kind] = other.get(kind, 0) + 1
                        if len(errors) < 50:
                            errors.append(f"client {i}: {raw[:300]}")
        except ConnectionClosed:
            pass
        if not stopping:
            closes.append((i, ws.close_code, str(ws.close_reason)[:100]))

    joined = await asyncio.gather(*(join(i) for i in range(count)))
    readers = [asyncio.create_task(read(i)) for i in range(count) if joined[i]]
    conn.send(("ready", sum(joined), errors[:20]))

    stop = asyncio.Event()

    def on_message() -> None:
        nonlocal stopping
        request = conn.recv()
        if request[0] == "count":
            conn.send(("count", sum(len(x) for x in ids)))
        elif request[0] == "stop":
            stopping = True
            stop.set()

    loop.add_reader(conn.fileno(), on_message)
    await stop.wait()
    loop.remove_reader(conn.fileno())
    os.set_blocking(conn.fileno(), True)  # the event loop made it non-blocking; the data is large

    async def close(ws: Any) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ws.close(), 5)

    await asyncio.gather(*(close(ws) for ws in sockets if ws is not None))
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    conn.send(("data", [x.tobytes() for x in ids], [x.tobytes() for x in times], errors, closes, other))


class Clients:
    """--client-processes processes of WebSocket clients, connected and subscribed (one topic each)."""

    def __init__(self, url: str, token: str, topics: list[str], processes: int, concurrency: int) -> None:
        context = multiprocessing.get_context("fork")
        self.topics = topics
        self.parts: list[tuple[Any, Any, list[int]]] = []  # (process, pipe, client indexes)
        for p in range(processes):
            indexes = list(range(p, len(topics), processes))
            if not indexes:
                continue
            parent, child = context.Pipe()
            process = context.Process(
                target=_client_process,
                args=(child, url, token, [topics[i] for i in indexes], max(1, concurrency // processes)),
                daemon=True,
            )
            process.start()
            child.close()
            self.parts.append((process, parent, indexes))

    def wait_ready(self, timeout: float = 300) -> tuple[int, list[str]]:
        connected, errors = 0, []
        for process, pipe, _ in self.parts:
            if not pipe.poll(timeout):
                raise RuntimeError(f"client process {process.pid} did not connect in {timeout} s")
            kind, count, errs = pipe.recv()
            connected += count
            errors += errs
        return connected, errors

    def pids(self) -> list[int]:
        return [process.pid for process, _, _ in self.parts]

    def received(self) -> int:
        for _, pipe, _ in self.parts:
            pipe.send(("count",))
        return sum(pipe.recv()[1] for _, pipe, _ in self.parts)

    def stop(self) -> dict[str, Any]:
        for _, pipe, _ in self.parts:
            pipe.send(("stop",))
        ids: list[array] = [array("q")] * len(self.topics)
        times: list[array] = [array("d")] * len(self.topics)
        errors, closes, other = [], [], {}
        for process, pipe, indexes in self.parts:
            if not pipe.poll(120):
                raise RuntimeError(f"client process {process.pid} did not hand its data back")
            _, got_ids, got_times, errs, cls, oth = pipe.recv()
            for local, index in enumerate(indexes):
                ids[index] = array("q", got_ids[local])
                times[index] = array("d", got_times[local])
            errors += errs
            closes += [(indexes[i], code, reason) for i, code, reason in cls]
            for key, value in oth.items():
                other[key] = other.get(key, 0) + value
        self.close()
        return {"ids": ids, "times": times, "errors": errors, "closes": closes, "other": other}

    def close(self) -> None:
        for process, pipe, _ in self.parts:
            pipe.close()
            process.join(10)
            if process.is_alive():
                process.kill()
                process.join()
        self.parts = []


class LayerReceivers:
    """The reference without WebSockets: one process (`live.py --receive SPEC.json`, on the server's core) in
    which one channel per client of the phase is in the topic's group and a task awaits `layer.receive` on
    it, as each stream consumer does: channels_redis's own fan-out to that many channels of one process."""

    def __init__(self, env: dict[str, str], topics: list[str], tmp: Path) -> None:
        self.topics, self.out = topics, tmp / "received.pickle"
        spec_path = tmp / "receive.json"
        spec_path.write_text(json.dumps({"topics": topics, "out": str(self.out)}))
        self.process = _spawn(
            [*pin(0), sys.executable, str(Path(__file__).resolve()), "--receive", str(spec_path)],
            {**env, "LOG_LEVEL": "WARNING"},
            None,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,
            text=True,
        )

    def _ask(self, command: str) -> str:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        return self.process.stdout.readline().strip()

    def wait_ready(self, timeout: float = 300) -> tuple[int, list[str]]:
        line = self.process.stdout.readline().strip()
        if not line.startswith("ready"):
            raise RuntimeError("the layer receivers did not start")
        return int(line.split()[1]), []

    def pids(self) -> list[int]:
        return _tree(self.process.pid)

    def received(self) -> int:
        return int(self._ask("count").split()[1])

    def stop(self) -> dict[str, Any]:
        import pickle

        if self._ask("stop") != "done":
            raise RuntimeError("the layer receivers failed")
        got_ids, got_times = pickle.loads(self.out.read_bytes())
        self.close()
        return {
            "ids": [array("q", x) for x in got_ids],
            "times": [array("d", x) for x in got_times],
            "errors": [],
            "closes": [],
            "other": {},
        }

    def close(self) -> None:
        _end(self.process)


def receive(spec_path: str) -> None:
    """The layer reference's process: see LayerReceivers. stdin `count` -> stdout `count N`; `stop` -> the
    data pickled to spec["out"], then `done`."""
    import asyncio
    import pickle

    import django

    django.setup()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from channels.layers import get_channel_layer

    from incubator.events.topics import topic_group

    spec = json.loads(Path(spec_path).read_text())
    topics = spec["topics"]

    async def run() -> None:
        layer = get_channel_layer()
        channels = [await layer.new_channel() for _ in topics]
        for channel, topic in zip(channels, topics, strict=True):
            await layer.group_add(topic_group(topic), channel)
        ids = [array("q") for _ in topics]
        times = [array("d") for _ in topics]

        async def one(i: int) -> None:
            channel, got_ids, got_times = channels[i], ids[i], times[i]
            while True:
                message = await layer.receive(channel)
                received = time.time()
                if message.get("type") == "event.message":
                    got_ids.append(message["id"])
                    got_times.append(received)

        tasks = [asyncio.create_task(one(i)) for i in range(len(topics))]
        print(f"ready {len(topics)}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            command = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
            if command == "count":
                print(f"count {sum(len(x) for x in ids)}", flush=True)
            elif command in ("stop", ""):
                break
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for channel, topic in zip(channels, topics, strict=True):
            await layer.group_discard(topic_group(topic), channel)
        Path(spec["out"]).write_bytes(pickle.dumps(([x.tobytes() for x in ids], [x.tobytes() for x in times])))
        print("done", flush=True)

    asyncio.run(run())


# --- the emitter (its own process: `live.py --emit SPEC.json`) ----------------------------------------------


def emit(spec_path: str) -> None:
    """Writes events as the spec says, reports on stdout: `ready` (set up; waits for a line on stdin), `measure`
    (the warm-up is over), `done`; then writes [[id, topic, t0, t1, warm], ...] to spec["out"]."""
    import django

    django.setup()
    spec = json.loads(Path(spec_path).read_text())
    topics, rate, mode = spec["topics"], spec["rate"], spec["mode"]
    total = round((spec["warmup"] + spec["seconds"]) * rate)
    warm = round(spec["warmup"] * rate)
    rows: list[list[Any]] = []
    if mode == "stream":
        _emit_stream(topics, rate, total, warm, rows)
    else:
        _emit_bare(topics, rate, total, warm, rows, spec["id_base"])
    Path(spec["out"]).write_text(json.dumps(rows))
    print("done", flush=True)


def _tick(started: float, n: int, rate: float) -> None:
    delay = started + n / rate - time.perf_counter()
    if delay > 0:
        time.sleep(delay)


def _payload(topic: str, n: int, total: int) -> dict[str, Any]:
    return {"id": int(topic.split(":")[1]), "progress": round(100 * n / max(1, total - 1), 1), "stage": "training"}


def _emit_stream(topics: list[str], rate: float, total: int, warm: int, rows: list[list[Any]]) -> None:
    from channels.layers import get_channel_layer
    from django.db import connection, transaction

    from incubator.events.services import event_record

    connection.ensure_connection()
    get_channel_layer()
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    for n in range(total):
        if n == warm:
            print("measure", flush=True)
        _tick(started, n, rate)
        topic = topics[n % len(topics)]
        committed: list[float] = []
        with transaction.atomic():
            # Registered before event_record's own publish callback, so it runs first: just after COMMIT.
            transaction.on_commit(lambda committed=committed: committed.append(time.time()))
            event = event_record(
                type="job.progress",
                topic=topic,
                subject_type="training_job",
                subject_id=topic.split(":")[1],
                payload=_payload(topic, n, total),
            )
        rows.append([event.id, topic, committed[0], time.time(), n < warm])
    if warm >= total:
        print("measure", flush=True)


def _emit_bare(topics: list[str], rate: float, total: int, warm: int, rows: list[list[Any]], id_base: int) -> None:
    import asyncio
    from datetime import UTC, datetime

    from channels.layers import get_channel_layer

    from incubator.events.topics import topic_group

    async def run() -> None:
        layer = get_channel_layer()
        await layer.group_send("bench.warm", {"type": "bench.noop"})  # the connection pool, before the clock
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        started = time.perf_counter()
        for n in range(total):
            if n == warm:
                print("measure", flush=True)
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            topic = topics[n % len(topics)]
            event_id = id_base + n
            ts = datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            message = {
                "type": "event.message",
                "event_type": "job.progress",
                "id": event_id,
                "topic": topic,
                "ts": ts,
                "data": _payload(topic, n, total),
                "prev": None,
            }
            sent = time.time()
            await layer.group_send(topic_group(topic), message)
            rows.append([event_id, topic, sent, time.time(), n < warm])
        if warm >= total:
            print("measure", flush=True)

    asyncio.run(run())


# --- one phase ----------------------------------------------------------------------------------------------


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def phase(
    args: argparse.Namespace,
    env: dict[str, str],
    port: int,
    server: subprocess.Popen,
    token: str,
    scenario: str,
    mode: str,
    client_topics: list[str],
    emit_topics: list[str],
    rate: float,
    id_base: int,
) -> dict[str, Any]:
    name = f"{scenario} {mode}"
    who = "layer receivers (no server)" if mode == "layer" else "clients"
    print(f"--- {name}: {len(client_topics)} {who} on {len(set(client_topics))} topic(s), {rate:g} events/s")
    url = f"ws://127.0.0.1:{port}/ws/v1/stream"
    connect_started = time.monotonic()
    scratch = tempfile.TemporaryDirectory(prefix="bench-live-")
    clients: Any
    if mode == "layer":
        clients = LayerReceivers(env, client_topics, Path(scratch.name))
    else:
        clients = Clients(url, token, client_topics, args.client_processes, args.connect_concurrency)
    emitter = None
    try:
        connected, connect_errors = clients.wait_ready()
        connect_seconds = time.monotonic() - connect_started
        print(f"    {connected}/{len(client_topics)} connected and subscribed in {connect_seconds:.1f} s")
        for error in connect_errors[:5]:
            print(f"    connect error: {error}")
        with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
            spec = {
                "mode": mode,
                "topics": emit_topics,
                "rate": rate,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "id_base": id_base,
                "out": str(Path(tmp) / "events.json"),
            }
            spec_path = Path(tmp) / "spec.json"
            spec_path.write_text(json.dumps(spec))
            emitter = _spawn(
                [sys.executable, str(Path(__file__).resolve()), "--emit", str(spec_path)],
                {**env, "LOG_LEVEL": "WARNING"},
                None,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                text=True,
            )
            if emitter.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the emitter of {name} did not start")
            # The layer reference's receiving process stands for the server (the server idles meanwhile).
            server_pids = clients.pids() if mode == "layer" else _tree(server.pid)
            client_pids = [] if mode == "layer" else clients.pids()
            emitter.stdin.write("go\n")
            emitter.stdin.flush()
            if emitter.stdout.readline().strip() != "measure":
                raise RuntimeError(f"the emitter of {name} failed")
            before = (
                time.monotonic(),
                _cpu_seconds(server_pids),
                _cpu_seconds(client_pids),
                _cpu_seconds([emitter.pid]),
                _redis_cpu(),
                _cpu_pressure(),
            )
            if emitter.stdout.readline().strip() != "done":
                raise RuntimeError(f"the emitter of {name} failed")
            after = (
                time.monotonic(),
                _cpu_seconds(server_pids),
                _cpu_seconds(client_pids),
                _cpu_seconds([emitter.pid]),
                _redis_cpu(),
                _cpu_pressure(),
            )
            emitter.wait(timeout=30)
            _end(emitter)
            events = json.loads(Path(spec["out"]).read_text())
        expected = sum(sum(1 for e in events if e[1] == topic) for topic in client_topics)
        # Late deliveries: wait while they keep coming (a server behind its clients drains its backlog).
        drain_started = progress_at = time.monotonic()
        received = clients.received()
        while received < expected and time.monotonic() - progress_at < args.drain:
            time.sleep(0.25)
            now_received = clients.received()
            if now_received > received:
                received, progress_at = now_received, time.monotonic()
            if time.monotonic() - drain_started > args.drain_max:
                break
        drain_seconds = time.monotonic() - drain_started
        data = clients.stop()
    finally:
        clients.close()
        if emitter is not None:
            _end(emitter)
        scratch.cleanup()
    window = after[0] - before[0]
    result = analyse(name, events, client_topics, data)
    result.update(
        clients=len(client_topics),
        connected=connected,
        connect_seconds=round(connect_seconds, 1),
        connect_errors=connect_errors,
        topics=len(set(client_topics)),
        rate=rate,
        window_seconds=round(window, 2),
        drain_seconds=round(drain_seconds, 1),
        server_cpu_seconds=round(after[1] - before[1], 2),
        server_cpu_percent=round(100 * (after[1] - before[1]) / window, 1),
        clients_cpu_percent=round(100 * (after[2] - before[2]) / window, 1),
        emitter_cpu_percent=round(100 * (after[3] - before[3]) / window, 1),
        redis_cpu_percent=round(100 * (after[4] - before[4]) / window, 1),
        cpu_pressure=None if after[5] is None else round((after[5] - before[5]) / 1e6 / window, 3),
    )
    print(
        f"    p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  max {result['max_ms']} ms  "
        f"fan-out p99 {result['fanout_p99_ms']} ms  drained in {result['drain_seconds']} s\n    missing "
        f"{result['missing']} (holes {result['missing_holes']}, tail {result['missing_tail']})  out of order "
        f"{result['out_of_order']}  duplicates {result['duplicates']}  server CPU {result['server_cpu_percent']}%  "
        f"clients CPU {result['clients_cpu_percent']}%  emitter CPU {result['emitter_cpu_percent']}%  "
        f"CPU pressure {result['cpu_pressure']}"
    )
    return result


def analyse(name: str, events: list[list[Any]], client_topics: list[str], data: dict[str, Any]) -> dict[str, Any]:
    """Latencies (receipt - commit) of the measured events; every event checked for every client."""
    t0 = {e[0]: e[2] for e in events}
    measured = {e[0] for e in events if not e[4]}
    by_topic: dict[str, list[int]] = {}
    for e in events:
        by_topic.setdefault(e[1], []).append(e[0])
    start = min((e[2] for e in events if not e[4]), default=0.0)
    latencies: list[float] = []
    last: dict[int, float] = {}
    per_second: dict[int, list[float]] = {}
    missing = holes = out_of_order = duplicates = unexpected = clients_incomplete = 0
    for index, topic in enumerate(client_topics):
        got, at = data["ids"][index], data["times"][index]
        wanted = by_topic.get(topic, [])
        seen = set(got)
        duplicates += len(got) - len(seen)
        out_of_order += sum(1 for k in range(1, len(got)) if got[k] <= got[k - 1])
        lost = set(wanted) - seen
        missing += len(lost)
        newest = max(got, default=0)
        holes += sum(1 for event_id in lost if event_id < newest)  # the rest: none after them arrived either
        clients_incomplete += bool(lost)
        unexpected += len(seen - set(wanted))
        for event_id, received in zip(got, at, strict=True):
            if event_id in measured:
                latency = received - t0[event_id]
                latencies.append(latency)
                last[event_id] = max(last.get(event_id, latency), latency)
                per_second.setdefault(int(t0[event_id] - start), []).append(latency)
    publish = [e[3] - e[2] for e in events if not e[4]]
    worst = max(per_second.items(), key=lambda item: _pct(item[1], 0.99), default=(None, []))
    return {
        "name": name,
        "events": len(events),
        "measured_events": len(measured),
        "deliveries": len(latencies),
        "p50_ms": _ms(_pct(latencies, 0.50)),
        "p90_ms": _ms(_pct(latencies, 0.90)),
        "p99_ms": _ms(_pct(latencies, 0.99)),
        "max_ms": _ms(max(latencies, default=None)),
        "mean_ms": _ms(statistics.fmean(latencies) if latencies else None),
        "fanout_p50_ms": _ms(_pct(list(last.values()), 0.50)),
        "fanout_p99_ms": _ms(_pct(list(last.values()), 0.99)),
        "worst_second": worst[0],
        "worst_second_p99_ms": _ms(_pct(worst[1], 0.99)),
        "per_second_p99_ms": [_ms(_pct(per_second[s], 0.99)) for s in sorted(per_second)],
        "publish_p50_ms": _ms(_pct(publish, 0.50)),
        "publish_p99_ms": _ms(_pct(publish, 0.99)),
        "missing": missing,
        "missing_holes": holes,
        "missing_tail": missing - holes,
        "clients_incomplete": clients_incomplete,
        "out_of_order": out_of_order,
        "duplicates": duplicates,
        "unexpected": unexpected,
        "unexpected_closes": data["closes"][:20],
        "unexpected_close_count": len(data["closes"]),
        "other_messages": data["other"],
        "client_errors": data["errors"][:20],
    }


# --- the run ------------------------------------------------------------------------------------------------


def _median(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Median of the rounds for the figures, sums for the counts; the last round's details."""
    if len(results) == 1:
        return results[0]
    merged = dict(results[-1])
    for key, value in results[0].items():
        if key in (
            "missing",
            "missing_holes",
            "missing_tail",
            "out_of_order",
            "duplicates",
            "unexpected",
            "unexpected_close_count",
        ):
            merged[key] = sum(r[key] for r in results)
        elif isinstance(value, int | float) and not isinstance(value, bool) and key != "worst_second":
            values = [r[key] for r in results if r[key] is not None]
            merged[key] = statistics.median(values) if values else None
    merged["rounds"] = len(results)
    return merged


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def _server_log_summary(log: Path, offset: int) -> dict[str, Any]:
    text = log.read_text(errors="replace")[offset:] if log.exists() else ""
    lines = [line for line in text.splitlines() if line.strip()]
    interesting = [
        line
        for line in lines
        if any(word in line for word in ('"WARNING"', '"ERROR"', '"CRITICAL"', "Traceback", "over capacity"))
        or "ERROR" in line
    ]
    return {
        "lines": len(lines),
        "warnings_or_errors": len(interesting),
        "over_capacity": sum("over capacity" in line for line in lines),
        "too_slow": sum("too slow" in line for line in lines),
        "examples": interesting[:10],
    }


def report(args: argparse.Namespace, results: dict[str, Any], server_log: dict[str, Any]) -> dict[str, Any]:
    ratios: dict[str, Any] = {}
    for scenario in ("A", "B"):
        stream, bare, layer = (results.get(f"{scenario} {mode}") for mode in ("stream", "bare", "layer"))
        if stream and bare:
            ratios[scenario] = {
                "stream_over_bare_p50": _ratio(stream["p50_ms"], bare["p50_ms"]),
                "stream_over_bare_p99": _ratio(stream["p99_ms"], bare["p99_ms"]),
                "stream_over_bare_server_cpu": _ratio(stream["server_cpu_seconds"], bare["server_cpu_seconds"]),
            }
        if stream and layer:
            ratios.setdefault(scenario, {}).update(
                stream_over_layer_p50=_ratio(stream["p50_ms"], layer["p50_ms"]),
                stream_over_layer_p99=_ratio(stream["p99_ms"], layer["p99_ms"]),
                stream_over_layer_cpu=_ratio(stream["server_cpu_seconds"], layer["server_cpu_seconds"]),
            )
    print()
    print(
        f"{args.server}, 1 process on core 0, Redis channel layer ({REDIS}), PostgreSQL; clients "
        f"({args.client_processes} processes) and emitter on core 1; {args.seconds:g} s measured after "
        f"{args.warmup:g} s of warm-up; median of {args.rounds} round(s)"
        ". Latency: receipt - commit (stream), "
        "receipt - group_send (bare, layer). 'layer': channels_redis alone, no server (its CPU in 'server')."
    )
    print()
    header = (
        "| scenario | clients | topics | events/s | events | deliveries | missing (holes/tail) | out of order | "
        "dup | p50 ms | p99 ms | max ms | fan-out p99 ms | worst 1 s p99 ms | publish p99 ms | server CPU s | "
        "server % core | clients % core | Redis % core |"
    )
    print(header)
    print("|" + " --- |" * header.count(" | ") + " --- |")
    for r in results.values():
        print(
            f"| {r['name']} | {r['connected']}/{r['clients']} | {r['topics']} | {r['rate']:g} | {r['events']} | "
            f"{r['deliveries']} | {r['missing']} ({r['missing_holes']}/{r['missing_tail']}) | "
            f"{r['out_of_order']} | {r['duplicates']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | "
            f"{r['fanout_p99_ms']} | {r['worst_second_p99_ms']} | {r['publish_p99_ms']} | "
            f"{r['server_cpu_seconds']} | {r['server_cpu_percent']} | {r['clients_cpu_percent']} | "
            f"{r['redis_cpu_percent']} |"
        )
    if ratios:
        print()
        print("| ratio | p50 | p99 | server CPU |")
        print("| --- | --- | --- | --- |")
        for scenario, r in ratios.items():
            for ref in ("bare", "layer"):
                if f"stream_over_{ref}_p50" in r:
                    cpu = r.get(f"stream_over_{ref}_server_cpu", r.get(f"stream_over_{ref}_cpu"))
                    print(
                        f"| {scenario}: stream / {ref} | {r[f'stream_over_{ref}_p50']} | "
                        f"{r[f'stream_over_{ref}_p99']} | {cpu} |"
                    )
    print()
    goal: dict[str, Any] = {}
    a_s = results.get("A stream")
    if a_s:
        met = a_s["p99_ms"] is not None and a_s["p99_ms"] < 250 and a_s["missing"] == 0
        text = (
            f"scenario A stream ({a_s['clients']} clients) p99 {a_s['p99_ms']} ms < 250 ms with every event "
            f"delivered (missing {a_s['missing']})"
        )
        print(f"{'GOAL MET   ' if met else 'GOAL MISSED'} {text}")
        goal = {"met": met, "goal": text}
    print(
        f"server log: {server_log['lines']} lines, {server_log['warnings_or_errors']} warnings/errors, "
        f"{server_log['over_capacity']} 'over capacity', {server_log['too_slow']} 'too slow'"
    )
    for line in server_log["examples"][:5]:
        print(f"    {line[:300]}")
    return {"ratios": ratios, "goal": goal}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="events a second on scenario A's one topic")
    parser.add_argument("--b-rate", type=float, default=None, help="events a second over B's topics (--rate)")
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--drain", type=float, default=10, help="seconds without a delivery to stop")
    parser.add_argument("--drain-max", type=float, default=45, help="seconds of waiting at most")
    parser.add_argument("--scenarios", default="A,B", help="A (one topic), B (a topic per client), or both")
    parser.add_argument("--modes", default="stream,bare", help="of stream, bare, layer (channels_redis alone)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--connect-concurrency", type=int, default=64)
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--emit", help=argparse.SUPPRESS)
    parser.add_argument("--receive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit:
        emit(args.emit)
        return
    if args.receive:
        receive(args.receive)
        return
    scenarios = [x for x in ("A", "B") if x in args.scenarios.upper().split(",")]
    modes = [x for x in ("stream", "bare", "layer") if x in args.modes.lower().split(",")]
    if not scenarios or not modes:
        parser.error("--scenarios takes A and/or B, --modes stream, bare and/or layer")
    if args.b_rate is None:
        args.b_rate = args.rate
    if pin(1) and os.environ.get("BENCH_PINNED") != "1":  # clients and emitter on core 1, the server on core 0
        os.execvpe("taskset", ["taskset", "-c", "1", sys.executable, *sys.argv], {**os.environ, "BENCH_PINNED": "1"})
    nofile = _raise_nofile()
    if nofile < args.clients + 256:
        raise SystemExit(f"the open-file limit ({nofile}) is too low for {args.clients} clients")

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    started = time.monotonic()
    database_url = f"{POSTGRES}/{DATABASE}"
    WORK.mkdir(parents=True, exist_ok=True)
    media = Path(tempfile.mkdtemp(prefix="media-", dir=WORK))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "LOG_LEVEL": "INFO",  # channels_redis says "over capacity" at INFO
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS,
        # A broker, so that the server does not start its embedded worker (nothing is sent to it).
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "MEDIA_ROOT": str(media),
        "DATASETS_CACHE_DIR": str(WORK / "cache"),
        "WEB_MAX_CONNECTIONS": str(max(8192, 4 * args.clients)),
    }
    env.pop("BENCH_PINNED", None)
    log = WORK / "server.log"
    log.unlink(missing_ok=True)
    fingerprint = _code_fingerprint()
    try:
        _recreate_postgres(database_url)
        _flush_redis()
        manage("migrate", "--no-input", "-v", "0", env=env)
        fixtures = _fixtures(env, max(1, args.clients))
        jobs, token = fixtures["jobs"], fixtures["token"]
        print(f"fixtures: user {fixtures['user']}, project {fixtures['project']}, {len(jobs)} jobs")
        one_topic = f"job:{jobs[0]}"
        many_topics = [f"job:{job}" for job in jobs[: args.clients]]
        runs: dict[str, list[dict[str, Any]]] = {f"{a} {b}": [] for a in scenarios for b in modes}
        with _server(args.server, env, log) as (port, server):
            print(f"{args.server} on port {port}, pid {server.pid}; open-file limit {nofile}")
            phase_index = 0
            for round_ in range(args.rounds):
                for scenario in scenarios:
                    # Interleaved: the order of the modes is reversed every other round.
                    for mode in modes if round_ % 2 == 0 else modes[::-1]:
                        if scenario == "A":
                            client_topics, emit_topics, rate = [one_topic] * args.clients, [one_topic], args.rate
                        else:
                            client_topics, emit_topics, rate = many_topics, many_topics, args.b_rate
                        phase_index += 1
                        runs[f"{scenario} {mode}"].append(
                            phase(
                                args,
                                env,
                                port,
                                server,
                                token,
                                scenario,
                                mode,
                                client_topics,
                                emit_topics,
                                rate,
                                BARE_ID_BASE + phase_index * 10**7,
                            )
                        )
            server_alive = server.poll() is None
        results = {name: _median(rounds) for name, rounds in runs.items()}
        server_log = _server_log_summary(log, 0)
        summary = report(args, results, server_log)
        command = " ".join(["python", "bench/live.py", *sys.argv[1:]])
        elapsed = time.monotonic() - started
        print(f"server alive at the end: {server_alive}; server log: {log}")
        if _code_fingerprint() != fingerprint:
            print("WARNING: incubator/events changed while this ran (see 'code' in the results)")
        print(f"command: {command}")
        print(f"total {elapsed / 60:.1f} min")
        write_results(
            "live",
            {
                "command": command,
                "server": args.server,
                "clients": args.clients,
                "seconds": args.seconds,
                "warmup": args.warmup,
                "rate": args.rate,
                "b_rate": args.b_rate,
                "rounds": args.rounds,
                "client_processes": args.client_processes,
                "redis": REDIS,
                "code": fingerprint,
                "code_changed_during_run": _code_fingerprint() != fingerprint,
                "database": DATABASE,
                "seconds_total": round(elapsed, 1),
                "server_log": server_log,
                **summary,
                "results": results,
                "rounds_detail": runs,
            },
        )
    finally:
        for process in list(reversed(STARTED)):
            _end(process)
        with contextlib.suppress(Exception):
            _flush_redis()
        if not args.keep_database:
            with contextlib.suppress(Exception):
                _drop_postgres(database_url)
        import shutil

        shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
