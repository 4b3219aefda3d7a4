"""Subcommands: one module each; a new command is one class added to COMMANDS."""

from __future__ import annotations

import argparse
from typing import Protocol

from buildtools.commands.apply import ApplyCommand
from buildtools.commands.build import BuildCommand
from buildtools.commands.export import ExportCommand
from buildtools.commands.fetch import FetchCommand
from buildtools.commands.fuzz import FuzzCommand
from buildtools.commands.lint import LintCommand
from buildtools.commands.matrix import MatrixCommand
from buildtools.commands.pipeline import PipelineCommand
from buildtools.commands.run import RunCommand
from buildtools.commands.test import TestCommand
from buildtools.commands.testsuite import TestsuiteCommand
from buildtools.context import Context


class Command(Protocol):
    """A subcommand: its docstring is the description shown by `--help`."""

    name: str
    help: str
    passthrough: bool  # arguments that are not the command's own options go to args.passthrough

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Declare the command's options."""

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        """Do the work; return the exit code."""


#: The command classes, in the order `--help` lists them (alphabetical).
COMMANDS: list[type[Command]] = [
    ApplyCommand, BuildCommand, ExportCommand, FetchCommand, FuzzCommand, LintCommand, MatrixCommand,
    PipelineCommand,
    RunCommand, TestCommand, TestsuiteCommand,
]
