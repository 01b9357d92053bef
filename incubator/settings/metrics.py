"""Prometheus metrics (incubator.metrics): who may read /metrics, and the Celery workers' own endpoint.

PROMETHEUS_MULTIPROC_DIR  the folder where every process of this machine (web workers, Celery pool processes)
                          writes its metrics, summed by /metrics. Unset: var/metrics/<key> (incubator/__init__.py);
                          empty: this process's metrics only. Never share it between machines or containers (file
                          names carry process ids); `python -m incubator.servers` and a starting Celery worker
                          delete the files of processes that are gone.
METRICS_TOKEN             /metrics answers a request with `Authorization: Bearer <METRICS_TOKEN>` (unset: no token
                          opens it).
METRICS_ALLOWED_NETWORKS  CIDRs, comma-separated, whose clients read /metrics without the token (default
                          127.0.0.1/32,::1/128; empty: none). The client is the TCP peer (REMOTE_ADDR); a request
                          that came through a proxy (X-Forwarded-For, Forwarded or X-Real-IP) must carry the token,
                          so a proxy on the same machine does not open /metrics to everyone.
CELERY_METRICS_PORT       a Celery worker serves its machine's metrics on this port (unset: it does not; the web's
                          /metrics shows them when both share a machine and PROMETHEUS_MULTIPROC_DIR).
CELERY_METRICS_ADDR       the address it binds (default 127.0.0.1).
"""

import ipaddress
import os

from django.core.exceptions import ImproperlyConfigured

from .env import env_int, env_list, env_str

METRICS_MULTIPROC_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
METRICS_TOKEN = env_str("METRICS_TOKEN") or ""
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", ["127.0.0.1/32", "::1/128"])
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {_network!r} is not a network ({_exc}).") from None
# Not CELERY_*: Celery reads every CELERY_ setting as one of its own.
METRICS_CELERY_PORT = env_int("CELERY_METRICS_PORT", 0)
METRICS_CELERY_ADDR = env_str("CELERY_METRICS_ADDR") or "127.0.0.1"
