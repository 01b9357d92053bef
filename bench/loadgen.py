"""A small HTTP/1.1 keep-alive load generator on asyncio streams: N connections for a bounded time.

Only ever targets 127.0.0.1. Each connection sends a request, reads the full response (Content-Length or
chunked), records latency and status, and repeats until the deadline.
"""

import asyncio
import statistics
import time
from dataclasses import dataclass, field


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    non_2xx: int
    errors: int
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    def summary(self) -> dict:
        return {
            "name": self.name,
            "requests": self.requests,
            "rps": round(self.rps, 1),
            "p50_ms": round(self.percentile(0.50), 2),
            "p99_ms": round(self.percentile(0.99), 2),
            "non_2xx": self.non_2xx,
            "errors": self.errors,
            "statuses": self.statuses,
        }


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += await reader.readexactly(size + 2)
            if size == 0:
                break
        return status, body
    return status, await reader.readexactly(length or 0)


async def _worker(host: str, port: int, payload: bytes, deadline: float, out: Result) -> None:
    reader = writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            writer.write(payload)
            status, _ = await _read_response(reader)
            elapsed = (time.perf_counter() - started) * 1000
            out.requests += 1
            out.latencies_ms.append(elapsed)
            out.statuses[status] = out.statuses.get(status, 0) + 1
            if not 200 <= status < 300:
                out.non_2xx += 1
        except (OSError, asyncio.IncompleteReadError, ValueError):
            out.errors += 1
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def run(name: str, port: int, request: Request, seconds: float, connections: int = 32) -> Result:
    host = "127.0.0.1"
    payload = request.encode(f"{host}:{port}")
    result = Result(name, 0, seconds, [], 0, 0, {})
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(_worker(host, port, payload, deadline, result) for _ in range(connections)))
    result.seconds = time.perf_counter() - started
    return result


def median_of(results: list[Result]) -> dict:
    """Median rps/p50/p99 over rounds; non-2xx and errors summed."""
    return {
        "name": results[0].name,
        "rounds": len(results),
        "rps": round(statistics.median(r.rps for r in results), 1),
        "p50_ms": round(statistics.median(r.percentile(0.5) for r in results), 2),
        "p99_ms": round(statistics.median(r.percentile(0.99) for r in results), 2),
        "non_2xx": sum(r.non_2xx for r in results),
        "errors": sum(r.errors for r in results),
        "requests": sum(r.requests for r in results),
    }
