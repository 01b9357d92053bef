"""incubator.asgi: importing it starts nothing; the embedded Celery workers start when the server serves."""

import json
import os
import subprocess
import sys

import pytest

from .live import ROOT

# Run in a fresh interpreter: the test process has imported (and maybe served) incubator.asgi already.
PROBE = r"""
import asyncio, json, sys, threading

def threads():
    return sorted(t.name for t in threading.enumerate())

import incubator.asgi
from incubator.asgi import application
after_import = threads()

async def serve(scope):
    sent, inbox = [], list(MESSAGES[scope["type"]])
    async def receive():
        return inbox.pop(0) if inbox else await asyncio.sleep(3600)
    async def send(message):
        sent.append(message["type"])
    await application(scope, receive, send)
    return sent

MESSAGES = {
    "http": [{"type": "http.request", "body": b"", "more_body": False}],
    "lifespan": [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}],
}
if sys.argv[1] == "http":
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/api/v1/health", "raw_path": b"/api/v1/health", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"127.0.0.1")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000)}
else:
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
from incubator import celery
workers_after_import = len(celery._embedded)
sent = asyncio.run(serve(scope))
workers = [process.pid for process in celery._embedded if process.poll() is None]
celery.stop_embedded_worker()
print(json.dumps({"after_import": after_import, "sent": sent, "after_serving": threads(),
                  "workers_after_import": workers_after_import, "workers": workers}))
"""


def probe(scope_type: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}  # the embedded defaults
    env["DJANGO_SETTINGS_MODULE"] = "incubator.settings"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, scope_type], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-3000:]
    # Starting the worker from the event loop must not run Django's sync-only calls there (Celery's Django fixup
    # closes database connections on worker init) nor block it.
    assert '"level": "ERROR"' not in done.stderr, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("scope_type", ["http", "lifespan"])
def test_import_starts_nothing_serving_starts_the_embedded_worker(scope_type):
    result = probe(scope_type)
    assert result["after_import"] == ["MainThread"] and result["workers_after_import"] == 0
    assert len(result["workers"]) == 2  # the worker processes beside the server: short tasks, training
    if scope_type == "http":
        assert result["sent"][0] == "http.response.start"
    else:
        assert result["sent"] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
