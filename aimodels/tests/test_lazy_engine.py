"""The training engine (scikit-learn, scipy, skops, pandas: about 140 MB and 1-3 s of imports) loads only in a
process that trains or predicts. A web process, a worker that converts datasets and every manage.py command
start without it."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("sklearn", "scipy", "skops", "pandas")

# What a server or a worker loads as it starts, then the check a job's creation runs in the web process; then the
# training engine itself, which must bring them (or the test would not see them go).
PROCESS = """
import json, sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
import incubator.asgi
from incubator.celery import app
app.loader.import_default_modules()
from aimodels.engine import spec
features, errors = spec.check(
    [{"name": "x", "type": "integer", "nullable": False}, {"name": "y", "type": "string", "nullable": False}],
    task="classification", target="y", features=None, split_column=None, validation=0.2,
)
assert features == ["x"] and not errors, (features, errors)
started = {name: name in sys.modules for name in HEAVY}
from aimodels.engine import artifacts, training
trained = {name: name in sys.modules for name in HEAVY}
print(json.dumps([started, trained]))
"""


def test_a_process_starts_and_checks_a_job_without_the_training_engine():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "incubator.settings")
    code = f"HEAVY = {HEAVY!r}\n{PROCESS}"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    started, trained = json.loads(done.stdout.strip().splitlines()[-1])
    assert started == dict.fromkeys(HEAVY, False)
    assert trained == dict.fromkeys(HEAVY, True)


@pytest.mark.parametrize(
    ("queues", "loads"), [({"training": 1}, True), ({"celery": 1, "training": 1}, True), ({"celery": 1}, False)]
)
def test_a_worker_of_the_training_queue_loads_the_engine_before_its_pool_starts(monkeypatch, queues, loads):
    from aimodels import services, tasks

    calls = []
    monkeypatch.setattr(services, "engine_load", lambda: calls.append(1))
    instance = SimpleNamespace(app=SimpleNamespace(amqp=SimpleNamespace(queues=SimpleNamespace(consume_from=queues))))
    tasks.engine_in_training_workers(sender="w@h", instance=instance)
    assert calls == ([1] if loads else [])


def test_engine_load_gives_the_engine():
    from aimodels import services
    from aimodels.engine import artifacts, training

    assert services.engine_load() == (artifacts, training)
