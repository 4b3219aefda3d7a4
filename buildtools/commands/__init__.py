"""Subcommands: one module each, registered in COMMANDS (alphabetical)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Protocol

from buildtools.commands.apply import ApplyCommand
from buildtools.commands.build import BuildCommand
from buildtools.commands.fetch import FetchCommand
from buildtools.commands.matrix import MatrixCommand
from buildtools.commands.pipeline import PipelineCommand
from buildtools.commands.test import TestCommand

if TYPE_CHECKING:
    from buildtools.cli import Context


class Command(Protocol):
    """A subcommand: its docstring is the description shown by `--help`."""

    name: str
    help: str
    passthrough: bool  # unknown arguments after the command's own options go to args.passthrough

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's options."""

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        """Do the work; return the exit code."""


COMMANDS: tuple[Command, ...] = (ApplyCommand(), BuildCommand(), FetchCommand(), MatrixCommand(), PipelineCommand(),
                                 TestCommand())
