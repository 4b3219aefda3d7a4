"""What every command gets (kept apart from cli.py so that commands need not import the CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from buildtools.paths import Workdir


@dataclass(frozen=True)
class Context:
    """The resolved work directory and global flags."""

    workdir: Workdir
    debug: bool = False
