"""Small helpers of the integration tests (re-exported by tests/helpers.py)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from pathlib import Path

from buildtools.testing.sipp import SippResult


def configs_from(directory: Path, *names: str) -> dict[str, str]:
    """The named config files of a test directory, as text."""
    return {name: (directory / name).read_text() for name in names}


def b64(event: dict[str, str], key: str) -> str:
    """Decode a UserEvent field written as ``${BASE64_ENCODE(=<value>)}``.

    The leading ``=`` keeps BASE64_ENCODE from warning about an empty argument.
    """
    decoded = base64.b64decode(event[key]).decode()
    assert decoded.startswith("="), f"{key} was not encoded as =<value>"
    return decoded[1:]


def assert_sipp_ok(result: SippResult) -> None:
    assert result.ok, f"SIPp failed ({result.returncode}):\n{result.stdout[-2000:]}\n{result.errors[-2000:]}"


def eventually(check: Callable[[], object], timeout: float = 15, what: str = "condition", interval: float = 0.2):
    """Poll ``check()`` until it returns something true and return it; AssertionError after
    ``timeout`` seconds, naming ``what`` and the last value (for states a test waits for)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: last {check()!r}")
        time.sleep(interval)
