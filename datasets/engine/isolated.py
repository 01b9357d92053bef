"""The engine's work on whole files (a conversion and the profile that follows it, a pipeline, a profile, a CSV
export) in a process of its own, started for the one job and ended with it.

Why a process, not a call in the Celery worker:
- memory: the process that reads the file holds the engine (polars, pyarrow: about 105 MiB at rest) and the work,
  not Django, Celery and every app besides (a worker at rest: about 75 MiB without the engine, 176 MiB with it).
  What polars' allocator keeps after a large file goes back to the system when the job's process ends, instead of
  staying with the worker until it restarts. bench/datasets.py measures this process's peak.
- isolation: a crash in native code, or the kernel's out-of-memory kill, ends the one job (its version fails with
  INTERNAL_ERROR), not the worker and the tasks it holds.
- a time limit that stops the work: when a task's soft time limit (or any error) interrupts the caller, the
  process is killed at once, where a thread inside polars cannot be interrupted.
The cost: about 0.4 s to start the process (interpreter, polars, pyarrow); one job's conversion and its profile
share one process to pay it once.

`run(function, progress=, on_step=, **arguments)` is the caller's side: what `function` returns, the engine's own
errors (errors.EngineError and its kinds, with their translated message and details) raised again as they were, and
EngineCrashed for anything else. `progress(fraction)` and `on_step(name, value)` are called as the work reports
them; `on_step` may raise `Stop` to end the work quietly (run returns None) or any error to end it with that error.
With settings.DATASETS_ENGINE_PROCESS = "inline" the same functions run in the caller's process (tests, and a
machine where starting processes is not allowed).

The protocol, on pipes: the caller writes one JSON line ({"function", "arguments", "language", "languages",
"locale_paths"}) to the child's stdin and keeps stdin open; the child answers on stdout with JSON lines:
{"progress": f} and {"step": name, "value": v} any number of times, then one of {"result": v, "peak_kib": n},
{"error": {"kind", "message", "details"}} or {"crash": traceback}. The child writes nothing else to stdout (its
own stdout is sent to stderr), and exits as soon as its stdin closes: it never outlives the process that started
it, whether that one returned, was killed, or crashed.
"""

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from . import errors

logger = logging.getLogger(__name__)

INLINE, ISOLATED = "inline", "isolated"
# Where `python -m datasets.engine.isolated` is importable from: the project's root.
ROOT = Path(__file__).resolve().parents[2]
# How long a child that has sent its result may take to exit before it is killed.
EXIT_GRACE_SECONDS = 10
_ERROR_KINDS: dict[str, type[errors.EngineError]] = {
    kind.__name__: kind
    for kind in (errors.EngineError, errors.UnsupportedFormat, errors.ParseFailure, errors.PipelineInvalid)
}
_STDERR_TAIL = 4000


class Stop(Exception):  # noqa: N818 - not an error: the caller's way to end the work early
    """Raised by an `on_step` callback: end the work now, quietly (run returns None)."""


class EngineCrashed(RuntimeError):
    """The engine's process failed outside the engine's own errors: an exception (the message holds its
    traceback), a crash in native code or a kill (the message holds its exit status and the end of its stderr)."""


# --- the work, the same inline and in the child -----------------------------------------------------------------


class _Report:
    """What a job reports while it runs: progress fractions and steps (a result the caller may act on at once)."""

    def __init__(self, progress: Callable[[float], None], step: Callable[[str, Any], None]) -> None:
        self.progress, self.step = progress, step


def _convert(
    report: _Report,
    *,
    path: str,
    target: str,
    file_name: str,
    detected: dict[str, Any] | None = None,
    profile: bool = False,
) -> dict[str, Any] | None:
    """The canonical Parquet copy of `path` at `target`; `detected` (formats.Detected's fields) as the upload found
    it, or None to detect and check the file first (a presigned upload the web process never saw). Reports the step
    "converted" ({"converted": Converted's fields, "detected": Detected's}); with `profile`, goes on to profile the
    copy, with progress, and returns {"profile": ...}."""
    from . import formats
    from . import profile as engine_profile

    if detected is None:
        found = formats.detect(path, file_name)
        formats.check_sample(path, found)
    else:
        found = formats.Detected(**detected)
    converted = formats.convert(path, found, target)
    report.step("converted", {"converted": asdict(converted), "detected": asdict(found)})
    if not profile:
        return None
    return {"profile": engine_profile.profile(target, progress=report.progress)}


def _profile(report: _Report, *, path: str) -> dict[str, Any]:
    from . import profile as engine_profile

    return engine_profile.profile(path, progress=report.progress)


def _pipeline(report: _Report, *, source: str, steps: list[dict[str, Any]], target: str) -> dict[str, Any]:
    from . import pipeline

    return asdict(pipeline.run(source, steps, target))


def _export_csv(report: _Report, *, source: str, target: str) -> None:
    from . import export

    export.write_csv(source, target)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "convert": _convert,
    "profile": _profile,
    "pipeline": _pipeline,
    "export_csv": _export_csv,
}


# --- the caller's side -------------------------------------------------------------------------------------------


def run(
    function: str,
    *,
    progress: Callable[[float], None] | None = None,
    on_step: Callable[[str, Any], None] | None = None,
    **arguments: Any,
) -> Any:
    """FUNCTIONS[function](**arguments), in a process of its own unless settings.DATASETS_ENGINE_PROCESS is
    "inline". Its result as JSON gives it (the same either way: inline results make the same round trip)."""
    from django.conf import settings

    progress = progress or _ignore
    on_step = on_step or _ignore
    if getattr(settings, "DATASETS_ENGINE_PROCESS", ISOLATED) == INLINE:
        try:
            result = FUNCTIONS[function](_Report(progress, on_step), **arguments)
        except Stop:
            return None
        return json.loads(json.dumps(result))
    return _in_process(function, arguments, progress, on_step)


def _ignore(*args: Any) -> None:
    return None


def _request(function: str, arguments: dict[str, Any]) -> bytes:
    from django.conf import settings
    from django.utils import translation

    request = {
        "function": function,
        "arguments": arguments,
        "language": translation.get_language() or settings.LANGUAGE_CODE,
        "languages": [[code, code] for code, _name in settings.LANGUAGES],
        "locale_paths": [str(path) for path in settings.LOCALE_PATHS],
    }
    return json.dumps(request, ensure_ascii=False).encode() + b"\n"


def _command() -> list[str]:
    return [sys.executable, "-m", "datasets.engine.isolated"]


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(ROOT), env.get("PYTHONPATH"))))
    return env


def _in_process(
    function: str, arguments: dict[str, Any], progress: Callable[[float], None], on_step: Callable[[str, Any], None]
) -> Any:
    if function not in FUNCTIONS:
        raise KeyError(function)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        child = subprocess.Popen(
            _command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=_environment(),
        )
        assert child.stdin is not None and child.stdout is not None
        finished = False
        try:
            child.stdin.write(_request(function, arguments))
            child.stdin.flush()
            for line in child.stdout:
                message = json.loads(line)
                if "progress" in message:
                    progress(message["progress"])
                elif "step" in message:
                    on_step(message["step"], message["value"])
                elif "result" in message:
                    finished = True
                    logger.info(
                        "datasets engine: %s in %.2f s, peak %.0f MiB",
                        function,
                        time.perf_counter() - started,
                        message["peak_kib"] / 1024,
                    )
                    return message["result"]
                elif "error" in message:
                    finished = True
                    error = message["error"]
                    exc = _ERROR_KINDS.get(error["kind"], errors.EngineError)(error["message"], **error["details"])
                    exc.received_translations = error.get("translations") or {}
                    raise exc
                else:
                    finished = True
                    raise EngineCrashed(message.get("crash", repr(message)))
            status = child.wait()
            raise EngineCrashed(f"the engine's process ended ({status}) without an answer: {_tail(stderr)}")
        except Stop:
            return None
        finally:
            _end(child, finished)


def _tail(stderr: IO[bytes]) -> str:
    stderr.seek(0, os.SEEK_END)
    stderr.seek(max(0, stderr.tell() - _STDERR_TAIL))
    return stderr.read().decode("utf-8", "replace").strip()


def _end(child: subprocess.Popen, finished: bool) -> None:
    """One that has answered is told to exit (its stdin closed) and given a moment to; any other (the caller was
    interrupted, or stopped the work) is killed at once."""
    if not finished:
        child.kill()
    for pipe in (child.stdin, child.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    try:
        child.wait(timeout=EXIT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


# --- the child's side ------------------------------------------------------------------------------------------


def _translations(language: str, languages: list[list[str]], locale_paths: list[str]) -> None:
    """Django's translation machinery alone (no apps, no database): the engine's messages in `language`."""
    from django.apps import apps
    from django.conf import settings
    from django.utils import translation

    settings.configure(
        USE_I18N=True, LANGUAGE_CODE=language, LANGUAGES=languages, LOCALE_PATHS=locale_paths, INSTALLED_APPS=[]
    )
    apps.populate([])
    translation.activate(language)


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM: since exec, unlike getrusage's ru_maxrss, which on Linux keeps
    the peak of the process that was forked to start this one)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _exit_with_parent() -> None:
    """Waits for stdin to close (the caller is done, or gone) and ends the process."""
    sys.stdin.buffer.read()
    os._exit(70)


def _child() -> None:
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever else writes to stdout goes to stderr, not into the protocol
    lock = threading.Lock()

    def send(message: dict[str, Any]) -> None:
        with lock:
            protocol.write(json.dumps(message, ensure_ascii=False, default=str) + "\n")
            protocol.flush()

    request = json.loads(sys.stdin.buffer.readline() or b"null")
    if not isinstance(request, dict):
        return
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        _translations(request["language"], request["languages"], request["locale_paths"])
        report = _Report(
            lambda fraction: send({"progress": fraction}), lambda name, value: send({"step": name, "value": value})
        )
        result = FUNCTIONS[request["function"]](report, **request["arguments"])
    except errors.EngineError as exc:
        languages = [code for code, _name in request["languages"]]
        error = {"kind": type(exc).__name__, "message": exc.message, "details": exc.details}
        send({"error": {**error, "translations": exc.translations(languages)}})
    except BaseException:  # noqa: BLE001 - whatever it is, the caller hears of it, with its traceback
        send({"crash": traceback.format_exc()})
    else:
        send({"result": result, "peak_kib": _peak_kib()})
    protocol.close()
    # Straight out: the answer is sent and every file closed. An interpreter's orderly exit frees a large heap and
    # polars' thread pools piece by piece (1 s after a profile of 150 MB), and the caller waits for the exit.
    os._exit(0)


if __name__ == "__main__":
    _child()
