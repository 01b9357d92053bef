"""pytest fixtures pointing STORAGES["datasets"] at a moto S3 server on 127.0.0.1 (`s3_storage`) or a temporary
directory (`fs_storage`), so no test touches AWS or the repository's var/. A test module uses them with:

    pytest_plugins = ["datasets.tests.s3"]

(Import nothing else from this module into the test module: pytest could then no longer rewrite its assertions.)
The root conftest.py may list it in its own pytest_plugins instead, for every datasets test module at once.

Both also point DATASETS_CACHE_DIR at the test's tmp_path. The settings are overridden with override_settings, whose
setting_changed signal empties Django's storages cache (django.test.signals.storages_changed), so
datasets.storage.datasets_storage() returns the test's backend and, after the test, the configured one again.
"""

import contextlib
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from django.conf import settings
from django.test import override_settings
from moto.server import ThreadedMotoServer

from datasets.storage import browser_upload_cors_rule

REGION = "us-east-1"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"  # moto accepts any credentials; fixed ones keep the host's AWS configuration out of the tests
SPA_ORIGIN = "http://localhost:5173"


@dataclass(frozen=True)
class S3Fixture:
    endpoint: str
    bucket: str
    client: Any  # a boto3 S3 client on the moto server, to arrange and inspect objects behind the storage's back
    cache_dir: Path
    options: dict[str, Any]  # STORAGES["datasets"]["OPTIONS"], to build another S3Storage on the same bucket
    browser_origin: str = SPA_ORIGIN  # the origin the bucket's CORS rule allows (browser_upload_cors_rule)


@dataclass(frozen=True)
class FilesystemFixture:
    location: Path
    cache_dir: Path


def _datasets_settings(storage: dict[str, Any], cache_dir: Path) -> dict[str, Any]:
    return {
        "STORAGES": {**settings.STORAGES, "datasets": storage},
        "DATASETS_CACHE_DIR": cache_dir,
        "DATASETS_CACHE_MAX_BYTES": 2 * 1024**3,
        "DATASETS_PRESIGN_UPLOAD_EXPIRES": 900,
        "DATASETS_PRESIGN_DOWNLOAD_EXPIRES": 300,
    }


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A moto server in a thread of this process, on a free port of 127.0.0.1; yields its endpoint URL."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)  # one INFO line per request drowns a failing test's output
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        werkzeug.setLevel(level)


@contextlib.contextmanager
def bucket_storage(endpoint: str, cache_dir: Path, prefix: str = "datasets") -> Iterator[S3Fixture]:
    """STORAGES["datasets"] on a fresh bucket (with the browser-upload CORS rule) of a moto server, emptied and
    removed afterwards; for a test (s3_storage) or a whole module (the authorization matrix)."""
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    bucket = f"{prefix}-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [browser_upload_cors_rule([SPA_ORIGIN])]})
    options = {
        "bucket_name": bucket,
        "endpoint_url": endpoint,
        "region_name": REGION,
        "access_key": ACCESS_KEY,
        "secret_key": SECRET_KEY,
        "addressing_style": "path",  # the bucket in the path, as MinIO needs: 127.0.0.1 has no subdomains
        "signature_version": "s3v4",
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
        "querystring_expire": 300,
    }
    storage = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
    with override_settings(**_datasets_settings(storage, cache_dir)):
        yield S3Fixture(endpoint=endpoint, bucket=bucket, client=client, cache_dir=cache_dir, options=options)
    # Free the server's memory: parts and objects of every test would otherwise stay until the module ends.
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_storage(moto_server: str, tmp_path: Path) -> Iterator[S3Fixture]:
    """STORAGES["datasets"] on a fresh bucket (with the browser-upload CORS rule) of the moto server."""
    with bucket_storage(moto_server, tmp_path / "cache") as fixture:
        yield fixture


@pytest.fixture
def fs_storage(tmp_path: Path) -> Iterator[FilesystemFixture]:
    """STORAGES["datasets"] as a FileSystemStorage in the test's tmp_path."""
    location = tmp_path / "datasets"
    cache_dir = tmp_path / "cache"
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}}
    with override_settings(**_datasets_settings(storage, cache_dir)):
        yield FilesystemFixture(location=location, cache_dir=cache_dir)
