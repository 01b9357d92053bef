"""The fuzzing gate's summary line in the terminal, so CI logs show how much was fuzzed, whatever the outcome."""

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    module = sys.modules.get("fuzz.test_openapi_fuzz")
    if module is not None and module.WORLD.started:
        terminalreporter.write_line(module.summary())
