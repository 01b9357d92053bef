"""The command lines that serve incubator.asgi, shared by the live-server tests and the benchmarks.

The Makefile's `serve` target and the Dockerfile use the same options.
"""

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
            "1",
            "--loop",
            "uvloop",
            "--log-level",
            "warning",
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
        ]
    raise ValueError(f"unknown server {kind!r}: uvicorn or granian")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
