"""Libraries a process loads only when it uses them: boto3 and botocore (about 17 MiB) once the datasets storage is
an S3 bucket, openpyxl with the first xlsx export. A web process or a worker on the filesystem storage starts, uses
its storage and writes CSV without them (bench/datasets.py: the worker at rest 191 -> 172 MiB)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAZY = ("boto3", "botocore", "openpyxl")

PROCESS = """
import json, sys, tempfile
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns
import incubator.asgi
from incubator.celery import app
app.loader.import_default_modules()
from datasets import storage
assert not storage.is_object_storage()
storage.content_disposition("数据.csv", ascii_name="data.csv")
from analytics.writers import CsvWriter, XlsxWriter
folder = tempfile.mkdtemp()
writer = CsvWriter(folder + "/a.csv", meta={"title": "t"})
writer.header(["a"]); writer.row([1]); writer.close()
started = {name: name in sys.modules for name in LAZY}
writer = XlsxWriter(folder + "/a.xlsx", meta={"title": "t"})
writer.header(["a"]); writer.row(["=1"]); writer.close()
print(json.dumps([started, "openpyxl" in sys.modules]))
"""


def test_a_process_on_the_filesystem_storage_runs_without_boto3_and_openpyxl():
    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(PYTHONPATH=str(ROOT), DJANGO_SETTINGS_MODULE=env.get("DJANGO_SETTINGS_MODULE", "incubator.settings"))
    code = f"LAZY = {LAZY!r}\n{PROCESS}"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    started, xlsx = json.loads(done.stdout.strip().splitlines()[-1])
    assert started == dict.fromkeys(LAZY, False)
    assert xlsx  # and the xlsx writer brings openpyxl
