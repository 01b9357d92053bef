"""Refuse to serve on a port another process already listens on: `python scripts/port_free.py HOST PORT`.

granian and uvicorn bind with SO_REUSEPORT/SO_REUSEADDR, so a second `make run` on a busy port would start
and share the requests with the first process (each with its own in-memory state). Binding here without
SO_REUSEPORT fails whenever anything listens on HOST:PORT. Exit 0 if the port is free, 1 (one line on
stderr) if not. SO_REUSEADDR is set so connections of a server that just stopped (TIME_WAIT) do not count.
"""

import errno
import socket
import sys


def port_in_use(host: str, port: int) -> OSError | None:
    """The bind error if HOST:PORT (any address it resolves to) cannot be bound, else None."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return exc
    for family, type_, proto, _name, address in addresses:
        with socket.socket(family, type_, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return exc
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not argv[2].isdigit():
        print("usage: port_free.py HOST PORT", file=sys.stderr)
        return 2
    host, port = argv[1], int(argv[2])
    error = port_in_use(host, port)
    if error is None:
        return 0
    if getattr(error, "errno", None) == errno.EADDRINUSE:
        reason = "is already in use (another `make run`?)"
    else:
        reason = f"cannot be used ({error.strerror or error})"
    print(f"Port {port} on {host} {reason}; choose another: PORT={port + 1} make run", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
