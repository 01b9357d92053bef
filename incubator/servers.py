"""The command lines that serve incubator.asgi: `make serve`, the Dockerfile, the live-server tests and the
benchmarks all start the server through here (`python -m incubator.servers granian --host H --port P`).

Connection limits are set deliberately (README, "Security model"):
- granian counts every open connection, idle keep-alive ones included, against `--backpressure` (its default,
  backlog / workers = 1024, let 1,024 idle keep-alive clients lock every new client out). WEB_MAX_CONNECTIONS
  (default 8192) is that cap; the process's open-file limit must be above it. Past it, new connections wait
  in the kernel's backlog (WEB_BACKLOG).
- Request headers must arrive within WEB_HEADER_TIMEOUT seconds (granian; uvicorn's h11 has no such limit).
- Bodies are bounded and timed on the event loop by the application itself (incubator.edge).
- uvicorn closes idle keep-alive connections after 5 s and answers 503 past WEB_MAX_CONNECTIONS.
A proxy in front (TLS, per-client connection limits, idle timeouts) is still required in production.

WEB_WORKERS (default 1) is granian's number of worker processes; they write their metrics to the same
PROMETHEUS_MULTIPROC_DIR, whose files of processes that are gone are deleted here before serving.
"""

import os
import socket
import sys

ASGI_APP = "incubator.asgi:application"


def server_command(kind: str, port: int, host: str = "127.0.0.1") -> list[str]:
    """uvicorn or granian, one process, HTTP and WebSocket, no access log."""
    if kind == "granian":
        return [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asginl",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(max(1, _env_int("WEB_WORKERS", 1))),
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
            "--backlog",
            str(_env_int("WEB_BACKLOG", 2048)),
            "--backpressure",
            str(_env_int("WEB_MAX_CONNECTIONS", 8192)),
            "--http1-header-read-timeout",
            str(_env_int("WEB_HEADER_TIMEOUT", 10) * 1000),
            ASGI_APP,
        ]
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            ASGI_APP,
            "--ws",
            "websockets-sansio",
            "--host",
            host,
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            str(_env_int("WEB_BACKLOG", 2048)),
            "--limit-concurrency",
            str(_env_int("WEB_MAX_CONNECTIONS", 8192)),
        ]
    raise ValueError(f"unknown server {kind!r}: uvicorn or granian")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Serve incubator.asgi (HTTP and WebSocket) in this process.")
    parser.add_argument("server", choices=["granian", "uvicorn"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    arguments = parser.parse_args()
    from incubator.metrics.files import sweep_dead_processes

    sweep_dead_processes()  # counters of the last run's processes would otherwise be added to this one's
    command = server_command(arguments.server, arguments.port, arguments.host)
    os.execv(command[0], command)
