"""Expected errors, one class per layer; only `cli.main()` catches them.

Exit codes: 2 for a usage error (ConfigError: a bad option, environment variable or project
layout), 3 for a step that failed (fetch, apply, build, a sandbox); 1 is an internal error.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path


class BuildtoolsError(Exception):
    """An expected failure, reported as one line naming the file, option, patch or command.

    `hint` is an optional second line; `log` a log file to look at; `details` extra lines
    (e.g. the tail of a build log) printed after the message.
    """

    exit_code = 3

    def __init__(self, message: str, *, hint: str | None = None, log: Path | None = None,
                 details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.log = log
        self.details = details


class ConfigError(BuildtoolsError):
    """A bad option, environment variable or project layout (a usage error)."""

    exit_code = 2


class SourceError(BuildtoolsError):
    """Asterisk sources cannot be found, downloaded, verified or recognised."""


class PatchError(BuildtoolsError):
    """A patch or module of the series cannot be applied or reversed."""


class SandboxError(BuildtoolsError):
    """A sandboxed Asterisk instance cannot be set up or run."""


class BuildError(BuildtoolsError):
    """A build step failed; for a failed command, names the step, command, exit code and log file."""

    step: str | None = None
    cmd: list[str] | None = None
    rc: int | None = None

    @classmethod
    def from_command(cls, step: str, cmd: Sequence[str], rc: int, log: Path, tail: str = "") -> BuildError:
        """The error for command `cmd` of step `step` exiting with `rc` (`tail`: its last output lines)."""
        err = cls(f"{step}: `{shlex.join(cmd)}` failed with exit code {rc}", log=log, details=tail or None)
        err.step, err.cmd, err.rc = step, list(cmd), rc
        return err
