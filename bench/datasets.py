"""Benchmark: a 1,000,000 x 20 CSV (about 150 MB) through the datasets service, against pandas on the same file.

    python bench/datasets.py [--rounds 3] [--rows 1000000] [--preview-requests 300] [--server granian|uvicorn]

Issue 10's Performance section. It generates (once, cached by a hash of its parameters under var/bench/) a
seeded CSV of mixed columns: integers, floats with nulls, Chinese and English categories, short texts, a
high-cardinality id, dates, datetimes, booleans, and 0.5% duplicated rows. Then, interleaved, median of the
rounds:

- service: the real server (incubator.servers, pinned to core 0) and, when CELERY_BROKER_URL or REDIS_URL is
  set, a real Celery worker (`celery -A incubator worker -P solo`, pinned to core 1, restarted every round so
  its VmHWM is that round's). A user and a project are made with manage.py shell, a JWT comes from
  POST /api/v1/users/login, then it times the streamed multipart upload (POST /api/v1/datasets), the
  conversion (GET /versions/1 until ready) and the profile (GET /versions/1/profile until 200 ready). The client
  uploads from core 1 and, while the worker works on core 1, polls from core 0, off the measured core. Peak
  RSS: the process doing the work is the engine process the worker starts for each job (datasets.engine.isolated:
  its VmHWM as the worker logs it, and its RSS sampled every 20 ms); also reported, the worker's own (VmHWM, reset
  with /proc/<pid>/clear_refs between stages) and the worker and its engine process together (the highest sampled
  sum), and the server's process tree. Without a broker the tasks run inside the server process, and the
  server's figures are the ones that count.
- baseline: pandas.read_csv(path) + df.describe(include="all") in a fresh subprocess on core 1 (its own
  VmHWM), what a data scientist would run instead.
- preview: GET /versions/1/rows at random pages over the whole file (page_size 50, half of them with a random
  subset of columns), one keep-alive connection from core 1, p50/p99 after a warm-up.

Next to wall times it reports CPU seconds (/proc/<pid>/stat of the server, the worker and the pandas process)
and the machine's CPU pressure (PSI) over the rounds: on a shared 2-core machine other processes' load inflates
wall times, while the CPU seconds of the same work stay put, so both ratios are printed.

Goals (issue 10): service end to end faster than the pandas baseline; peak RSS under 1.5x the file size;
preview p50 under 50 ms. Prints GOAL MET / GOAL MISSED per goal, exits non-zero only on errors. Writes
bench/results/datasets.json. With DATABASE_URL (PostgreSQL) it uses its own database, incubator_bench_datasets.
"""

import argparse
import contextlib
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT, ensure_postgres_database, manage, pin, write_results  # noqa: E402
from incubator.servers import free_port, server_command  # noqa: E402

PASSWORD = "Bench-Password-2026"
USERNAME = "bench_datasets"
DATA_DIR = ROOT / "var" / "bench"
# Bump when the generator changes: the cached file is keyed on it.
GENERATOR_VERSION = 1
PAGE_SIZE = 50
MiB = 1024 * 1024

CITIES = (
    "北京 上海 广州 深圳 成都 杭州 武汉 西安 南京 重庆 天津 苏州 长沙 郑州 青岛 沈阳 宁波 昆明 合肥 厦门 "
    "福州 济南 大连 哈尔滨 长春 石家庄 南宁 贵阳 南昌 太原 乌鲁木齐 兰州 呼和浩特 海口 银川 西宁 拉萨 珠海 "
    "佛山 东莞"
).split()
CATEGORIES = "electronics books clothing home sports toys beauty grocery automotive garden health music".split()
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")
CHANNELS = ("线上 online", "门店 store", "APP", "小程序", "电话 phone", "partner", "直播 live", "email")
COMMENT_HEADS = (
    "很好",
    "一般",
    "太慢了",
    "质量不错",
    "物流快",
    "包装破损",
    "great",
    "okay",
    "too slow",
    "love it",
    "性价比高",
    "不推荐",
)
COMMENT_TAILS = ("", "，会回购", ", would buy again", "，客服态度好", ", late delivery", "，有点贵", "!", "。")


# --- the data -----------------------------------------------------------------------------------------------


def dataset_csv(rows: int, seed: int, directory: Path = DATA_DIR) -> Path:
    """The benchmark's CSV: generated once per (rows, seed, generator version), then reused."""
    key = hashlib.sha256(json.dumps([rows, seed, GENERATOR_VERSION]).encode()).hexdigest()[:12]
    path = directory / f"datasets-{rows}x20-{key}.csv"
    if path.exists():
        return path
    directory.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    part = path.with_suffix(".csv.part")
    _generate(part, rows, seed)
    os.replace(part, path)
    print(f"generated {path} ({path.stat().st_size / MiB:.1f} MiB) in {time.perf_counter() - started:.1f} s")
    return path


def _generate(path: Path, rows: int, seed: int) -> None:
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    n = rows

    def pick(values: tuple[str, ...], weights: Any = None) -> pl.Series:
        index = rng.choice(len(values), size=n, p=weights)
        return pl.Series(values).gather(pl.Series(index))

    def with_nulls(name: str, ratio: float) -> pl.Expr:
        return pl.when(pl.Series(rng.random(n) < ratio)).then(None).otherwise(pl.col(name)).alias(name)

    city_weights = 1 / np.arange(1, len(CITIES) + 1)
    seconds_2024 = rng.integers(0, 366 * 86_400, n)
    frame = pl.DataFrame(
        {
            "order_id": np.arange(1, n + 1, dtype=np.int64),
            "user_id": rng.integers(1, 200_001, n),
            "age": rng.integers(18, 81, n),
            "quantity": rng.integers(1, 21, n),
            "price": np.round(rng.lognormal(4.0, 1.0, n), 2),
            "discount": np.round(rng.uniform(0, 0.5, n), 3),
            "score": np.round(rng.normal(70, 15, n), 2),
            "temperature": np.round(rng.normal(15, 10, n), 1),
            "城市": pick(CITIES, city_weights / city_weights.sum()),
            "category": pick(CATEGORIES),
            "product": rng.integers(0, 20_000, n),
            "status": pick(STATUSES, (0.1, 0.3, 0.2, 0.3, 0.06, 0.04)),
            "channel": pick(CHANNELS),
            "评论": pick(COMMENT_HEADS) + pick(COMMENT_TAILS),
            "session_id": [f"{value:012x}" for value in rng.integers(0, 2**48, n, dtype=np.uint64).tolist()],
            "signup_date": pl.Series(rng.integers(16_436, 19_723, n)).cast(pl.Date),  # 2015-01-01 .. 2023-12-31
            "event_time": pl.Series((seconds_2024 + 1_704_067_200) * 1_000_000).cast(pl.Datetime("us")),
            "is_member": rng.random(n) < 0.35,
            "has_coupon": rng.random(n) < 0.2,
            "rating": rng.integers(1, 6, n),
        }
    )
    frame = frame.with_columns(
        pl.format("SKU-{}", pl.col("product").cast(pl.String).str.zfill(5)).alias("product"),
        with_nulls("age", 0.03),
        with_nulls("discount", 0.4),
        with_nulls("score", 0.05),
        with_nulls("评论", 0.1),
        with_nulls("has_coupon", 0.1),
        with_nulls("rating", 0.2),
    )
    # 0.5% of the rows repeat an earlier row whole (a copy of a copy resolves to the first one).
    source = np.arange(n)
    for position in np.sort(rng.choice(np.arange(1, n), size=n // 200, replace=False)):
        source[position] = source[rng.integers(0, position)]
    frame = frame[pl.Series(source)]
    frame.write_csv(path, date_format="%Y-%m-%d", datetime_format="%Y-%m-%d %H:%M:%S", null_value="")


# --- processes and their memory -----------------------------------------------------------------------------


def _status(pid: int) -> dict[str, int]:
    """VmHWM and VmRSS of a process, in bytes (empty if it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    found = {}
    for text in lines:
        key, _, value = text.partition(":")
        if key in ("VmHWM", "VmRSS"):
            found[key] = int(value.split()[0]) * 1024
    return found


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
    """User + system CPU time of these processes (all their threads) so far, and of their children that have
    ended (the worker's engine processes, one per job)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def _cpu_pressure() -> float | None:
    """Microseconds some runnable task waited for a CPU, machine-wide (PSI), so far."""
    try:
        with open("/proc/pressure/cpu") as handle:
            return float(handle.readline().rsplit("total=", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def _reset_peak(pids: list[int]) -> None:
    """VmHWM back to the current RSS (Linux >= 4.0), so the next reading is the peak since now."""
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")


class Sampler:
    """Polls VmRSS of the given processes every 20 ms: a cross-check of VmHWM, which only some kernel paths
    update. `peak()` returns the highest (VmHWM or sampled RSS) of a group since the last `reset()`."""

    def __init__(self, groups: dict[str, Any], resettable: dict[str, Any] | None = None) -> None:
        self.groups = groups  # name -> callable returning the pids to watch
        # name -> callable returning the pids whose VmHWM `reset` clears (all the group's by default): not an engine
        # process's, whose own VmHWM, logged when it ends, must cover its whole life.
        self.resettable = resettable or {}
        self.sampled = dict.fromkeys(groups, 0)
        self.summed = dict.fromkeys(groups, 0)  # the highest total of the group's processes at one moment
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, pids in self.groups.items():
                now = [_status(pid).get("VmRSS", 0) for pid in pids()]
                self.sampled[name] = max(self.sampled[name], *now, 0)
                self.summed[name] = max(self.summed[name], sum(now))
            time.sleep(0.02)

    def peak(self, name: str) -> int:
        hwm = max((_status(pid).get("VmHWM", 0) for pid in self.groups[name]()), default=0)
        return max(hwm, self.sampled[name])

    def combined(self, name: str) -> int:
        """The highest sampled total RSS of the group (the worker and its engine process together)."""
        return self.summed[name]

    def reset(self, name: str) -> None:
        pids = self.groups[name]()
        _reset_peak(self.resettable.get(name, self.groups[name])())
        now = [_status(pid).get("VmRSS", 0) for pid in pids]
        self.sampled[name] = max(now, default=0)
        self.summed[name] = sum(now)


@contextlib.contextmanager
def _server(kind: str, env: dict[str, str], log: Path) -> Iterator[tuple[int, subprocess.Popen]]:
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*pin(0), *server_command(kind, port)], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
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
        _stop(process)


@contextlib.contextmanager
def _worker(env: dict[str, str], log: Path, cores: str) -> Iterator[subprocess.Popen]:
    """A real Celery worker, solo pool (the worker process is the one that runs the tasks), on `cores` (core 1 by
    default; "0,1": both, as an unpinned worker on a 2-core machine runs, sharing core 0 with the server)."""
    log.write_text("")
    command = [
        *(["taskset", "-c", cores] if pin(1) else []),
        sys.executable,
        "-m",
        "celery",
        "-A",
        "incubator",
        "worker",
        "-P",
        "solo",
        "-c",
        "1",
        "-l",
        "INFO",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
        "-n",
        f"bench-datasets-{os.getpid()}@%h",
    ]
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the Celery worker did not start: see {log}")
            time.sleep(0.1)
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _engine_peaks(log: Path) -> dict[str, int]:
    """The peak RSS (VmHWM, bytes) of each engine process, as the worker logged it ("datasets engine: convert in
    4.1 s, peak 190 MiB"): a process that has ended can no longer be read from /proc."""
    found: dict[str, int] = {}
    for match in re.finditer(
        r"datasets engine: (\w+) in [0-9.]+ s, peak ([0-9]+) MiB", log.read_text(errors="replace")
    ):
        found[match.group(1)] = max(found.get(match.group(1), 0), int(match.group(2)) * MiB)
    return found


def _task_runtimes(log: Path) -> dict[str, float]:
    """Seconds each task took, as the worker logged them ("Task datasets.x[id] succeeded in 1.2s")."""
    found: dict[str, float] = {}
    for match in re.finditer(
        r"Task datasets\.(\w+)\[[^\]]+\] succeeded in ([0-9.]+)s", log.read_text(errors="replace")
    ):
        found[match.group(1)] = found.get(match.group(1), 0.0) + float(match.group(2))
    return found


# --- the service --------------------------------------------------------------------------------------------


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url and url.startswith("postgres"):
        url = url.rsplit("/", 1)[0] + "/incubator_bench_datasets"
        ensure_postgres_database(url)
        return url
    return f"sqlite:///{DATA_DIR / 'bench-datasets.sqlite3'}"


def prepare(file_size: int) -> tuple[dict[str, str], int, str | None]:
    """The environment of the server and the worker, the bench project's id, and the broker (None: embedded)."""
    work = DATA_DIR / "service"
    media = work / "media"
    shutil.rmtree(media, ignore_errors=True)
    media.mkdir(parents=True)
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DEBUG": "0",
        "THROTTLE_ANON": "100000000/min",
        "THROTTLE_USER": "100000000/min",
        "LOG_LEVEL": "WARNING",
        "MEDIA_ROOT": str(media),
        "DATASETS_CACHE_DIR": str(work / "cache"),
        "API_MAX_UPLOAD_BYTES": str(max(512 * MiB, 2 * file_size)),
    }
    env.pop("BENCH_PINNED", None)
    if broker:
        env["CELERY_BROKER_URL"] = broker
    manage("migrate", "--no-input", "-v", "0", env=env)
    script = (
        "from accounts.models import User\n"
        "from datasets.models import Dataset\n"
        "from projects.models import Project\n"
        "from projects.services import project_create\n"
        f"u, _ = User.objects.get_or_create(username='{USERNAME}', defaults={{'email': 'bench-datasets@example.com',"
        " 'display_name': '数据集压测'})\n"
        f"u.set_password('{PASSWORD}'); u.save()\n"
        "name = '数据集压测 Datasets bench'\n"
        "p = Project.objects.filter(owner=u, name=name).first() or project_create(owner=u, data={'name': name, "
        "'description': 'bench/datasets.py', 'visibility': 'private'})\n"
        "Dataset.objects.filter(project=p).delete()\n"
        "print('PROJECT', p.id)\n"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    project = int(out.split("PROJECT", 1)[1].split()[0])
    if broker:  # tasks an earlier, interrupted run left in the queue
        subprocess.run(
            [sys.executable, "-m", "celery", "-A", "incubator", "purge", "-f"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
    return env, project, broker


def _export_done(database_url: str, dataset_id: int) -> bool:
    query = "SELECT csv FROM datasets_datasetversion WHERE dataset_id = {} AND number = 1"
    if database_url.startswith("postgres"):
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(query.format("%s"), [dataset_id]).fetchone()
    else:
        import sqlite3

        with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as conn:
            row = conn.execute(query.format("?"), [dataset_id]).fetchone()
    return bool(row and row[0])


def _client_on(core: int) -> None:
    """Moves every thread of this process (the HTTP client and the RSS sampler) to `core`. During the upload and
    the preview the client is the server's load, on core 1 as BENCH.md has it. While the worker converts,
    profiles and exports on core 1, the polling client and the sampler go to the server's core, where only their
    polls are answered: on the worker's core they took a third of it (conversion 6.0 s instead of 4.0, profile
    3.3 s instead of 2.0), time the service never spends."""
    if not pin(core):
        return
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):  # a thread that has just ended
            os.sched_setaffinity(int(task), {core})


def _poll(get: Any, done: Any, what: str, timeout: float = 900) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def service_round(
    args: argparse.Namespace, env: dict[str, str], project: int, broker: str | None, path: Path, number: int
) -> dict[str, Any]:
    import httpx

    logs = DATA_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    worker_log = logs / "worker.log"
    with contextlib.ExitStack() as stack:
        port, server = stack.enter_context(_server(args.server, env, logs / "server.log"))
        worker = stack.enter_context(_worker(env, worker_log, args.worker_cores)) if broker else None
        client = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=900))
        login = client.post("/users/login", json={"username": USERNAME, "password": PASSWORD})
        login.raise_for_status()
        client.headers["Authorization"] = f"Bearer {login.json()['access']}"

        def server_pids() -> list[int]:
            return _tree(server.pid)

        def task_pids() -> list[int]:
            # The worker and the engine process it runs a job in (datasets.engine.isolated).
            return _tree(worker.pid) if worker else server_pids()

        idle = {
            "server_rss": max(_status(pid).get("VmRSS", 0) for pid in server_pids()),
            "worker_rss": _status(worker.pid).get("VmRSS", 0) if worker else None,
        }
        figures: dict[str, Any] = {"round": number}
        sampler = stack.enter_context(
            Sampler(
                {"server": server_pids, "tasks": task_pids},
                {"tasks": (lambda: [worker.pid]) if worker else server_pids},
            )
        )
        sampler.reset("server")
        sampler.reset("tasks")

        server_cpu, task_cpu = _cpu_seconds(server_pids()), _cpu_seconds(task_pids())
        started = time.perf_counter()
        with open(path, "rb") as handle:
            response = client.post(
                "/datasets",
                data={"project": str(project), "name": f"bench {number} {time.time_ns()}"},
                files={"file": (path.name, handle, "text/csv")},
            )
        uploaded = time.perf_counter()
        if response.status_code != 201:
            raise RuntimeError(f"upload: {response.status_code} {response.text[:500]}")
        dataset = response.json()["id"]
        figures["upload_cpu_seconds"] = _cpu_seconds(server_pids()) - server_cpu
        task_cpu = _cpu_seconds(task_pids()) if worker else _cpu_seconds(server_pids())
        figures["server_peak_upload"] = sampler.peak("server")
        sampler.reset("server")
        version_url = f"/datasets/{dataset}/versions/1"
        if worker:
            _client_on(0)

        version = _poll(
            lambda: client.get(version_url).json(), lambda body: body.get("status") != "processing", "conversion"
        )
        converted = time.perf_counter()
        if version["status"] != "ready":
            raise RuntimeError(f"conversion failed: {json.dumps(version['error'], ensure_ascii=False)}")
        figures["task_peak_convert"] = sampler.peak("tasks")
        figures["tasks_combined_convert"] = sampler.combined("tasks")
        sampler.reset("tasks")
        figures["convert_cpu_seconds"] = _cpu_seconds(task_pids()) - task_cpu
        task_cpu += figures["convert_cpu_seconds"]

        profile = _poll(
            lambda: client.get(version_url + "/profile"),
            lambda r: r.status_code != 202,
            "the profile",
        )
        profiled = time.perf_counter()
        if profile.status_code != 200 or profile.json()["status"] != "ready":
            raise RuntimeError(f"profile: {profile.status_code} {profile.text[:500]}")
        figures["task_peak_profile"] = sampler.peak("tasks")
        figures["tasks_combined_profile"] = sampler.combined("tasks")
        sampler.reset("tasks")
        figures["profile_cpu_seconds"] = _cpu_seconds(task_pids()) - task_cpu
        figures["end_to_end_cpu_seconds"] = (
            figures["upload_cpu_seconds"] + figures["convert_cpu_seconds"] + figures["profile_cpu_seconds"]
        )

        _poll(lambda: _export_done(env["DATABASE_URL"], dataset), bool, "the CSV export", timeout=600)
        exported = time.perf_counter()
        figures["task_peak_export"] = sampler.peak("tasks")
        figures["server_peak_after_upload"] = sampler.peak("server")

        figures.update(
            upload_seconds=uploaded - started,
            convert_seconds=converted - uploaded,
            profile_seconds=profiled - converted,
            end_to_end_seconds=profiled - started,
            ready_seconds=converted - started,
            export_csv_seconds=exported - profiled,
            task_peak=max(figures["task_peak_convert"], figures["task_peak_profile"]),
            tasks_combined_peak=max(figures["tasks_combined_convert"], figures["tasks_combined_profile"]),
            server_idle_rss=idle["server_rss"],
            worker_idle_rss=idle["worker_rss"],
            profile_bytes=len(profile.content),
        )
        _client_on(1)
        figures["preview"] = preview(client, version_url, version, args, server_pids)
        client.delete(f"/datasets/{dataset}")
    if worker:
        figures["worker_task_seconds"] = _task_runtimes(worker_log)
        engines = _engine_peaks(worker_log)
        # The conversion's engine process also profiles: its VmHWM is the peak of both stages.
        figures["engine_peak"] = engines.get("convert")
        figures["engine_peak_export"] = engines.get("export_csv")
        if figures["engine_peak"]:
            figures["task_peak"] = max(figures["task_peak"], figures["engine_peak"])
    return figures


def preview(client: Any, version_url: str, version: dict, args: argparse.Namespace, server_pids: Any) -> dict[str, Any]:
    """Random pages over the whole file, half with a random subset of the columns, one connection."""
    names = [column["name"] for column in version["columns"]]
    pages = -(-version["row_count"] // PAGE_SIZE)
    chooser = random.Random(args.seed)

    def one() -> tuple[float, int, int]:
        params: dict[str, Any] = {"page": chooser.randint(1, pages), "page_size": PAGE_SIZE}
        if chooser.random() < 0.5:
            params["columns"] = ",".join(chooser.sample(names, chooser.randint(1, 8)))
        started = time.perf_counter()
        response = client.get(version_url + "/rows", params=params)
        elapsed = (time.perf_counter() - started) * 1000
        rows = len(response.json().get("rows", [])) if response.status_code == 200 else 0
        return elapsed, response.status_code, rows

    for _ in range(args.preview_warmup):
        one()
    latencies, non_200, short = [], 0, 0
    cpu = _cpu_seconds(server_pids())
    for _ in range(args.preview_requests):
        elapsed, status, rows = one()
        latencies.append(elapsed)
        non_200 += status != 200
        short += status == 200 and rows != PAGE_SIZE
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "p50_ms": ordered[len(ordered) // 2],
        "p99_ms": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "max_ms": ordered[-1],
        "non_200": non_200,
        "short_pages": short,
        # The server's CPU time per request: what the latency would be on an idle core.
        "server_cpu_ms": (_cpu_seconds(server_pids()) - cpu) * 1000 / max(len(ordered), 1),
    }


# --- the baseline -------------------------------------------------------------------------------------------

BASELINE = r"""
import json, sys, time
started = time.perf_counter()
import pandas as pd
imported = time.perf_counter()
cpu = time.process_time()
frame = pd.read_csv(sys.argv[1])
read = time.perf_counter()
summary = frame.describe(include="all")
described = time.perf_counter()
cpu = time.process_time() - cpu
status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    if key in ("VmHWM", "VmRSS"):
        status[key] = int(value.split()[0]) * 1024
print(json.dumps({
    "pandas": pd.__version__,
    "import_seconds": imported - started,
    "read_csv_seconds": read - imported,
    "describe_seconds": described - read,
    "seconds": described - imported,
    "cpu_seconds": cpu,
    "peak_rss": status["VmHWM"],
    "rows": len(frame),
    "columns": frame.shape[1],
    "dtypes": sorted({str(dtype) for dtype in frame.dtypes}),
}))
"""


def baseline_round(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [*pin(1), sys.executable, "-c", BASELINE, str(path)], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report -------------------------------------------------------------------------------------------------


def _median(rounds: list[dict[str, Any]], key: str) -> Any:
    values = [r[key] for r in rounds if r.get(key) is not None]
    return statistics.median(values) if values else None


def _goal(met: bool, text: str) -> dict[str, Any]:
    print(f"{'GOAL MET   ' if met else 'GOAL MISSED'} {text}")
    return {"met": met, "goal": text}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20260)
    parser.add_argument("--server", default="granian", choices=["granian", "uvicorn"])
    parser.add_argument("--preview-requests", type=int, default=300)
    parser.add_argument("--preview-warmup", type=int, default=30)
    parser.add_argument("--skip-baseline", action="store_true")
    parser.add_argument(
        "--worker-cores",
        default="1",
        choices=["1", "0,1"],
        help="the Celery worker's cores: 1 (default, like for like with pandas on core 1) or 0,1 (both; results "
        "go to datasets_worker_2_cores.json; with another --rows, to datasets[...]_<rows>_rows.json)",
    )
    args = parser.parse_args()
    if pin(1) and os.environ.get("BENCH_PINNED") != "1":  # the client on core 1, the server on core 0
        os.execvpe("taskset", ["taskset", "-c", "1", sys.executable, *sys.argv], {**os.environ, "BENCH_PINNED": "1"})

    path = dataset_csv(args.rows, args.seed)
    size = path.stat().st_size
    env, project, broker = prepare(size)
    print(
        f"file {path.name}: {size / MiB:.1f} MiB, {args.rows} rows x 20 columns; database "
        f"{env['DATABASE_URL'].split('://')[0]}; tasks: {'Celery worker on ' + broker if broker else 'embedded'}"
    )
    service_runs: list[dict[str, Any]] = []
    baseline_runs: list[dict[str, Any]] = []
    pressure, pressure_started = _cpu_pressure(), time.monotonic()
    for number in range(1, args.rounds + 1):
        # Interleaved, the order alternating, so drift on a shared machine hits both alike.
        order = ("service", "baseline") if number % 2 else ("baseline", "service")
        for what in order:
            if what == "service":
                run = service_round(args, env, project, broker, path, number)
                service_runs.append(run)
                print(
                    f"  round {number} service: upload {run['upload_seconds']:.2f} s, convert "
                    f"{run['convert_seconds']:.2f} s, profile {run['profile_seconds']:.2f} s, end to end "
                    f"{run['end_to_end_seconds']:.2f} s; task peak {run['task_peak'] / MiB:.0f} MiB, server "
                    f"peak {run['server_peak_upload'] / MiB:.0f} MiB; preview p50 {run['preview']['p50_ms']:.1f} ms"
                )
            elif not args.skip_baseline:
                run = baseline_round(path)
                baseline_runs.append(run)
                print(
                    f"  round {number} pandas: read_csv {run['read_csv_seconds']:.2f} s + describe "
                    f"{run['describe_seconds']:.2f} s = {run['seconds']:.2f} s; peak {run['peak_rss'] / MiB:.0f} MiB"
                )

    keys = (
        "upload_seconds",
        "convert_seconds",
        "profile_seconds",
        "end_to_end_seconds",
        "ready_seconds",
        "export_csv_seconds",
        "task_peak",
        "task_peak_convert",
        "task_peak_profile",
        "task_peak_export",
        "tasks_combined_peak",
        "engine_peak",
        "engine_peak_export",
        "server_peak_upload",
        "server_peak_after_upload",
        "server_idle_rss",
        "worker_idle_rss",
        "upload_cpu_seconds",
        "convert_cpu_seconds",
        "profile_cpu_seconds",
        "end_to_end_cpu_seconds",
    )
    service = {key: _median(service_runs, key) for key in keys}
    logged = [run.get("worker_task_seconds") or {} for run in service_runs]
    service["worker_task_seconds"] = {
        task: statistics.median(run[task] for run in logged if task in run)
        for task in sorted({task for run in logged for task in run})
    }
    previews = [run["preview"] for run in service_runs]
    service["preview"] = {
        key: statistics.median(p[key] for p in previews) for key in ("p50_ms", "p99_ms", "max_ms", "server_cpu_ms")
    } | {"requests": sum(p["requests"] for p in previews), "non_200": sum(p["non_200"] for p in previews)}
    baseline = {
        key: _median(baseline_runs, key)
        for key in ("read_csv_seconds", "describe_seconds", "seconds", "cpu_seconds", "peak_rss", "import_seconds")
    }

    waited = None
    if pressure is not None:
        waited = round((_cpu_pressure() - pressure) / 1e6 / (time.monotonic() - pressure_started), 3)
    print(f"--- median of {args.rounds}, {args.server}, file {size / MiB:.1f} MiB")
    if waited is not None:
        print(
            f"CPU pressure during the rounds: some task waited for a CPU {waited:.0%} of the time "
            "(PSI; high = a busy machine, wall times inflated: compare the CPU seconds too)"
        )
    print(f"service upload (HTTP, streamed)        {service['upload_seconds']:8.2f} s")
    print(f"service conversion to Parquet          {service['convert_seconds']:8.2f} s")
    print(f"service profile                        {service['profile_seconds']:8.2f} s")
    print(f"service end to end (profile ready)     {service['end_to_end_seconds']:8.2f} s")
    print(f"service CSV export (after the profile) {service['export_csv_seconds']:8.2f} s")
    print(
        f"service CPU seconds: upload (server) {service['upload_cpu_seconds']:.2f}, conversion "
        f"{service['convert_cpu_seconds']:.2f}, profile {service['profile_cpu_seconds']:.2f}, total "
        f"{service['end_to_end_cpu_seconds']:.2f}"
    )
    if service["worker_task_seconds"]:
        print(
            "  as the worker logged its tasks: "
            + ", ".join(f"{task} {seconds:.2f} s" for task, seconds in service["worker_task_seconds"].items())
        )
    if baseline_runs:
        print(f"pandas read_csv                        {baseline['read_csv_seconds']:8.2f} s")
        print(f"pandas describe(include='all')         {baseline['describe_seconds']:8.2f} s")
        print(
            f"pandas total                           {baseline['seconds']:8.2f} s ({baseline['cpu_seconds']:.2f} CPU s)"
        )
    task_label = "worker's engine process" if broker else "server (embedded tasks)"
    idle = service["worker_idle_rss"] or service["server_idle_rss"]
    print(
        f"peak RSS {task_label:<30}{service['task_peak'] / MiB:8.0f} MiB (convert "
        f"{service['task_peak_convert'] / MiB:.0f}, profile {service['task_peak_profile'] / MiB:.0f}, "
        f"CSV export {service['task_peak_export'] / MiB:.0f}; idle {idle / MiB:.0f})"
    )
    if service["engine_peak"]:
        print(
            f"  the engine process (convert and profile) {service['engine_peak'] / MiB:.0f} MiB by its VmHWM; the "
            f"worker and it together {service['tasks_combined_peak'] / MiB:.0f} MiB at most (sampled)"
        )
    print(
        f"peak RSS server during the upload      {service['server_peak_upload'] / MiB:8.0f} MiB "
        f"(idle {service['server_idle_rss'] / MiB:.0f})"
    )
    if baseline_runs:
        print(f"peak RSS pandas                        {baseline['peak_rss'] / MiB:8.0f} MiB")
    print(
        f"preview p50 {service['preview']['p50_ms']:.2f} ms, p99 {service['preview']['p99_ms']:.2f} ms, "
        f"{service['preview']['requests']} requests, non-200 {service['preview']['non_200']}, server CPU "
        f"{service['preview']['server_cpu_ms']:.1f} ms a request"
    )

    print(
        f"  above the idle process: {task_label} +{(service['task_peak'] - idle) / MiB:.0f} MiB, server "
        f"+{(service['server_peak_upload'] - service['server_idle_rss']) / MiB:.0f} MiB during the upload"
    )
    ratios: dict[str, Any] = {
        "task_peak_over_file": round(service["task_peak"] / size, 3),
        "task_peak_above_idle_over_file": round((service["task_peak"] - idle) / size, 3),
        "server_peak_over_file": round(service["server_peak_upload"] / size, 3),
    }
    if service["tasks_combined_peak"]:
        ratios["worker_and_engine_over_file"] = round(service["tasks_combined_peak"] / size, 3)
    if baseline_runs:
        ratios["pandas_over_service_time"] = round(baseline["seconds"] / service["end_to_end_seconds"], 3)
        ratios["pandas_over_service_cpu"] = round(baseline["cpu_seconds"] / service["end_to_end_cpu_seconds"], 3)
        ratios["pandas_peak_over_file"] = round(baseline["peak_rss"] / size, 3)
        print(
            f"pandas time / service end-to-end time: {ratios['pandas_over_service_time']} (> 1: service faster); "
            f"in CPU seconds: {ratios['pandas_over_service_cpu']}"
        )
    print(
        f"peak RSS / file size: {task_label} {ratios['task_peak_over_file']}, server "
        f"{ratios['server_peak_over_file']}" + (f", pandas {ratios['pandas_peak_over_file']}" if baseline_runs else "")
    )
    goals = {}
    if baseline_runs:
        goals["faster_than_pandas"] = _goal(
            ratios["pandas_over_service_time"] > 1,
            f"end to end faster than pandas ({service['end_to_end_seconds']:.1f} s vs {baseline['seconds']:.1f} s)",
        )
    peak = max(service["task_peak"], service["server_peak_upload"])
    goals["peak_rss"] = _goal(
        peak < 1.5 * size, f"peak RSS {peak / MiB:.0f} MiB < 1.5 x file size ({1.5 * size / MiB:.0f} MiB)"
    )
    goals["preview_p50"] = _goal(
        service["preview"]["p50_ms"] < 50, f"preview p50 {service['preview']['p50_ms']:.1f} ms < 50 ms"
    )
    # The figures of record (issue 10's file, the worker on one core) go to datasets.json; other runs beside it.
    name = "datasets" + ("_worker_2_cores" if args.worker_cores == "0,1" else "")
    write_results(
        name + ("" if args.rows == 1_000_000 else f"_{args.rows}_rows"),
        {
            "file": {"name": path.name, "bytes": size, "rows": args.rows, "columns": 20, "seed": args.seed},
            "server": args.server,
            "database": env["DATABASE_URL"].split("://")[0],
            "tasks": f"celery worker (solo, cores {args.worker_cores})" if broker else "embedded (server process)",
            "rounds": args.rounds,
            "cpu_pressure": waited,
            "service": service,
            "baseline": baseline if baseline_runs else None,
            "ratios": ratios,
            "goals": goals,
            "runs": {"service": service_runs, "baseline": baseline_runs},
        },
    )


if __name__ == "__main__":
    main()
