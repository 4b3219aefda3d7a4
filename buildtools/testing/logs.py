"""Follow a growing log file and wait for a line: ``tail -F`` driven by pexpect's ``expect()``."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import pexpect

from buildtools.errors import SandboxError


class LogFollower:
    """The lines appended to ``path`` after the follower was created (or all of them with
    ``from_start``); :meth:`expect` waits for a pattern among them, each match consumed."""

    def __init__(self, path: Path, *, from_start: bool = False) -> None:
        self.path = path
        offset = 0 if from_start or not path.exists() else path.stat().st_size
        # -c +N: from byte N (1-based); -F: follow by name, wait for the file to appear.
        self._child = pexpect.spawn("tail", ["-c", f"+{offset + 1}", "-F", str(path)],
                                    encoding="utf-8", codec_errors="replace", echo=False)

    def expect(self, pattern: str | re.Pattern[str], timeout: float = 15, *, exact: bool = False) -> str:
        """Wait for ``pattern`` (a regex; a literal string with ``exact``); return the text
        from the end of the previous match up to and including this one."""
        try:
            if exact:
                self._child.expect_exact(pattern, timeout=timeout)
            else:
                self._child.expect(pattern, timeout=timeout)
        except pexpect.TIMEOUT:
            shown = pattern.pattern if isinstance(pattern, re.Pattern) else pattern
            raise SandboxError(f"{self.path}: no line matching {shown!r} within {timeout:g} s") from None
        except pexpect.EOF:
            raise SandboxError(f"{self.path}: follower ended before {pattern!r} appeared") from None
        return self._child.before + self._child.after

    def close(self) -> None:
        """Stop ``tail`` (SIGKILL: pexpect's own terminate() gives up after 0.3 s on a loaded
        machine and raises) and reap it."""
        child = self._child
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.pid, signal.SIGKILL)
        with contextlib.suppress(pexpect.ExceptionPexpect, OSError):
            child.wait()
        with contextlib.suppress(pexpect.ExceptionPexpect, OSError):
            child.close(force=True)

    def __enter__(self) -> LogFollower:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
