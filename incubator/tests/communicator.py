"""channels.testing.WebsocketCommunicator for tests that drive a consumer in-process.

channels.testing imports daphne (for ChannelsLiveServerTestCase, which this project does not use: live tests
start real granian/uvicorn processes); without daphne installed a placeholder stands in for that import.
"""

import sys
import types

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

from channels.testing import WebsocketCommunicator  # noqa: E402

__all__ = ["WebsocketCommunicator"]
