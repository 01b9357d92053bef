"""The Makefile's guards: `make run` refuses a busy port before touching anything, and the interpreter choice."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .live import ROOT

MAKE = shutil.which("make")
needs_make = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def hold_port(reuse_port: bool = False) -> socket.socket:
    """A listening socket on a free 127.0.0.1 port; with SO_REUSEPORT, like granian's."""
    sock = socket.socket()
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


def port_free(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "scripts/port_free.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain", "so-reuseport"])
def test_port_free_refuses_a_port_in_use(reuse_port):
    with hold_port(reuse_port) as held:
        port = held.getsockname()[1]
        done = port_free("127.0.0.1", str(port))
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in lines[0]
    assert f"PORT={port + 1} make run" in lines[0]


def test_port_free_accepts_a_free_port():
    with hold_port() as held:
        port = held.getsockname()[1]
    done = port_free("127.0.0.1", str(port))
    assert (done.returncode, done.stderr) == (0, "")


def run_in_own_group(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """Run make; if it does not refuse in time (a server started after all), stop it and everything it began."""
    process = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
        pytest.fail(f"make did not refuse the busy port: {stdout[-2000:]} {stderr[-2000:]}")
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


@needs_make
@pytest.mark.parametrize("target", ["run", "serve"])
def test_make_refuses_a_busy_port_before_migrating(target, tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{database}", "MAKEFLAGS": ""}
    with hold_port(reuse_port=True) as held:
        port = held.getsockname()[1]
        done = run_in_own_group([MAKE, "--no-print-directory", target, f"PORT={port}", "HOST=127.0.0.1"], env)
    assert done.returncode != 0
    assert f"Port {port} on 127.0.0.1 is already in use" in done.stderr
    assert f"PORT={port + 1} make run" in done.stderr
    assert "migrate" not in done.stdout + done.stderr
    assert not database.exists()


def fake_path(tmp_path: Path, **interpreters: str) -> str:
    """A PATH holding only the given names: "real" is this test's interpreter, "old" one outside 3.11-3.13."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, kind in interpreters.items():
        target = bin_dir / name.replace("_", ".")
        if kind == "real":
            target.symlink_to(sys.executable)
        else:
            target.write_text("#!/bin/sh\n[ \"$1\" = -V ] && echo 'Python 3.10.13'\nexit 1\n")
            target.chmod(0o755)
    return str(bin_dir)


def make_venv(path: str, tmp_path: Path, *extra: str, dry_run: bool = True) -> subprocess.CompletedProcess:
    venv = tmp_path / "venv"
    args = [MAKE, "--no-print-directory", *(["-n"] if dry_run else []), *extra, f"VENV={venv}", f"{venv}/bin/python"]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "MAKEFLAGS")}
    return subprocess.run(args, cwd=ROOT, env={**env, "PATH": path}, capture_output=True, text=True, timeout=60)


@needs_make
def test_make_chooses_the_newest_supported_python(tmp_path):
    path = fake_path(tmp_path, python3_13="old", python3_12="real", python3_11="real", python3="real")
    done = make_venv(path, tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"Creating {tmp_path}/venv with {path}/python3.12" in done.stdout
    assert f"{path}/python3.12 -m venv {tmp_path}/venv" in done.stdout


@needs_make
def test_make_takes_python3_when_it_is_in_range(tmp_path):
    path = fake_path(tmp_path, python3="real")
    done = make_venv(path, tmp_path)
    assert f"{path}/python3 -m venv" in done.stdout


@needs_make
def test_make_refuses_python_outside_the_range(tmp_path):
    path = fake_path(tmp_path, python3="old")
    done = make_venv(path, tmp_path, dry_run=False)
    assert done.returncode != 0
    assert "Python 3.11, 3.12 or 3.13 is required" in done.stdout
    assert not (tmp_path / "venv").exists()
    # PYTHON=... outside the range is refused too.
    explicit = make_venv(path, tmp_path, f"PYTHON={path}/python3", dry_run=False)
    assert explicit.returncode != 0
    assert f"{path}/python3 is Python 3.10.13" in explicit.stdout
    assert not (tmp_path / "venv").exists()
