"""File storage: local files under var/ by default, S3-compatible object storage for datasets when a bucket is named."""

from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .base import BASE_DIR, MEDIA_ROOT
from .env import env_int, env_str

AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL")  # MinIO, Ceph, moto; unset on AWS itself
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME")
AWS_S3_ADDRESSING_STYLE = env_str("AWS_S3_ADDRESSING_STYLE")  # "path" for MinIO; unset lets botocore choose

if AWS_S3_ENDPOINT_URL and not AWS_STORAGE_BUCKET_NAME:
    # Without a bucket the files would land on this machine's disk, out of reach of workers on other machines.
    raise ImproperlyConfigured("AWS_S3_ENDPOINT_URL is set but AWS_STORAGE_BUCKET_NAME is not: name the bucket.")
if AWS_S3_ADDRESSING_STYLE not in (None, "auto", "path", "virtual"):
    raise ImproperlyConfigured(
        f"AWS_S3_ADDRESSING_STYLE must be auto, path or virtual, got {AWS_S3_ADDRESSING_STYLE!r}."
    )

# Presigned URLs: an upload part has to survive a slow connection; a download link only has to reach the browser.
DATASETS_PRESIGN_UPLOAD_EXPIRES = env_int("DATASETS_PRESIGN_UPLOAD_EXPIRES", 900)
DATASETS_PRESIGN_DOWNLOAD_EXPIRES = env_int("DATASETS_PRESIGN_DOWNLOAD_EXPIRES", 300)
# Where workers keep local copies of objects they read (object storage only); a soft limit, least recently used first.
DATASETS_CACHE_DIR = Path(env_str("DATASETS_CACHE_DIR") or BASE_DIR / "var" / "cache" / "datasets")
DATASETS_CACHE_MAX_BYTES = env_int("DATASETS_CACHE_MAX_BYTES", 2 * 1024**3)
# Where the engine reads whole files (conversion, profile, pipelines, CSV export): "isolated", a process of its own per
# job (datasets.engine.isolated says why), or "inline", in the task's own process (the test suite's choice, for speed).
DATASETS_ENGINE_PROCESS = env_str("DATASETS_ENGINE_PROCESS") or "isolated"
if DATASETS_ENGINE_PROCESS not in ("isolated", "inline"):
    raise ImproperlyConfigured(f"DATASETS_ENGINE_PROCESS must be isolated or inline, got {DATASETS_ENGINE_PROCESS!r}.")

if AWS_STORAGE_BUCKET_NAME:
    _s3_options: dict[str, object] = {
        "bucket_name": AWS_STORAGE_BUCKET_NAME,
        "endpoint_url": AWS_S3_ENDPOINT_URL,
        "region_name": AWS_S3_REGION_NAME,
        "addressing_style": AWS_S3_ADDRESSING_STYLE,
        "signature_version": "s3v4",
        # Private objects, reached only through presigned URLs; a name is never silently reused or renamed.
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
        "querystring_expire": DATASETS_PRESIGN_DOWNLOAD_EXPIRES,
    }
    from botocore.config import Config

    # As django-storages makes it (addressing style, signature), with bounds: a bucket that refuses is a 503 at once,
    # one that does not answer a 503 after about 20 s (3 s to connect, 10 s without a byte, 2 attempts), not a
    # request held for minutes (botocore's defaults, 60 s times 5). 10 s is per read, not per transfer.
    _s3_options["client_config"] = Config(
        s3={"addressing_style": AWS_S3_ADDRESSING_STYLE},
        signature_version="s3v4",
        connect_timeout=3,
        read_timeout=10,
        retries={"mode": "standard", "max_attempts": 2},
    )
    # Unset keys leave boto3's own chain (environment, instance role, ~/.aws) to find credentials.
    if env_str("AWS_ACCESS_KEY_ID"):
        _s3_options["access_key"] = env_str("AWS_ACCESS_KEY_ID")
        _s3_options["secret_key"] = env_str("AWS_SECRET_ACCESS_KEY")
    _datasets_storage: dict[str, object] = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
else:
    _datasets_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # Served only through the API, which checks access: MEDIA_ROOT must never be served wholesale.
        "OPTIONS": {"location": MEDIA_ROOT / "datasets"},
    }

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    "datasets": _datasets_storage,
}
