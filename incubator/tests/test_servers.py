"""The server command lines: connection limits are set deliberately, and one module serves every caller."""

import subprocess
import sys

from incubator.servers import server_command


def test_granian_caps_connections_and_header_time_explicitly(monkeypatch):
    monkeypatch.delenv("WEB_MAX_CONNECTIONS", raising=False)
    command = server_command("granian", 8000)
    options = dict(zip(command[::1], command[1::1], strict=False))
    assert options["--backpressure"] == "8192"  # granian's default (1,024) let idle keep-alive clients lock out
    assert options["--http1-header-read-timeout"] == "10000"
    monkeypatch.setenv("WEB_MAX_CONNECTIONS", "100")
    assert "100" in server_command("uvicorn", 8000)


def test_the_module_refuses_an_unknown_server():
    result = subprocess.run(
        [sys.executable, "-m", "incubator.servers", "gunicorn"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr
