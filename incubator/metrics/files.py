"""The multiprocess folder's housekeeping: the files of processes that are gone, deleted when a server or a
Celery worker starts. prometheus_client's own advice is to empty the folder then; here the files of processes
still running (a worker beside the server that restarts) are kept, or their counts would vanish from /metrics
while they run. Plain os calls: importing this does not import prometheus_client."""

import os
import re
from pathlib import Path

# counter_123.db, histogram_123.db, gauge_livesum_123.db ...: the process id is the last part of the name.
_FILE = re.compile(r"^[a-z_]+_(?P<pid>\d+)\.db$")


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def sweep_dead_processes(path: str | None = None) -> list[str]:
    """Delete the metric files of processes that no longer run; returns their names."""
    folder = path or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not folder or not os.path.isdir(folder):
        return []
    removed = []
    for entry in os.scandir(folder):
        match = _FILE.match(entry.name)
        if match is None or _running(int(match["pid"])):
            continue
        try:
            Path(entry.path).unlink()
            removed.append(entry.name)
        except FileNotFoundError:  # another process swept it first
            continue
    return removed
