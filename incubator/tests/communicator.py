"""channels.testing.WebsocketCommunicator for tests that drive a consumer in-process.

channels.testing imports daphne (for ChannelsLiveServerTestCase, which this project does not use: live tests
start real granian/uvicorn processes); without daphne installed a placeholder stands in for that import.
"""

import asyncio
import sys
import types
from typing import Any

try:
    import daphne.testing  # noqa: F401
except ModuleNotFoundError:
    placeholder = types.ModuleType("daphne.testing")

    class DaphneProcess:  # pragma: no cover - only referenced, never started
        def __init__(self, *args, **kwargs):
            raise RuntimeError("daphne is not installed; live tests use incubator.tests.live instead")

    placeholder.DaphneProcess = DaphneProcess  # type: ignore[attr-defined]
    sys.modules.setdefault("daphne", types.ModuleType("daphne"))
    sys.modules["daphne.testing"] = placeholder

from channels.testing import WebsocketCommunicator as _Communicator  # noqa: E402

# How long a test waits for what it expects by default. channels waits 1 second, and on a loaded 2-core machine
# a process's first connect (imports, the first database connection) took longer: CI's PostgreSQL run failed
# once with a TimeoutError in connect(). A test that expects nothing passes its own, short timeout.
PATIENCE = 10


class WebsocketCommunicator(_Communicator):
    async def connect(self, timeout=PATIENCE):
        return await super().connect(timeout)

    async def receive_from(self, timeout=PATIENCE):
        return await super().receive_from(timeout)

    async def receive_json_from(self, timeout=PATIENCE):
        return await super().receive_json_from(timeout)

    async def receive_output(self, timeout=PATIENCE):
        return await super().receive_output(timeout)


def run(coro: Any) -> Any:
    """asyncio.run for a test, then a new channel layer for the next loop.

    The layer is a process-wide object made for a server's one event loop, and channels_redis' core layer keeps
    asyncio locks in it across loops: a receive cancelled while it waits for the per-channel clean lock leaves
    that lock behind (channels_redis #313), bound to the loop that ended, and the next loop's receive on the
    process's channel fails with "bound to a different event loop" (CI's `lists` step, twice). A server never
    changes loop; tests do, so they start each loop with a fresh layer."""
    from channels.layers import channel_layers

    try:
        return asyncio.run(coro)
    finally:
        channel_layers.backends.clear()


__all__ = ["WebsocketCommunicator", "run"]
