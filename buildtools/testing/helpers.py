"""Small helpers of the integration tests (re-exported by tests/helpers.py)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from buildtools.errors import SandboxError
from buildtools.testing.process import wait_until
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
    last: list[object] = [None]

    def probe() -> object:
        last[0] = check()
        return last[0]
    try:
        return wait_until(probe, timeout, what, interval=interval)
    except SandboxError:
        raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: last {last[0]!r}") from None
