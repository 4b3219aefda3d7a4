"""buildtools pipeline."""

from __future__ import annotations

import argparse

from buildtools.commands.build import add_build_arguments, print_result
from buildtools.commands.fetch import add_source_arguments, source_options
from buildtools.context import Context


class PipelineCommand:
    """fetch → apply → build → install, each step incremental (the main command).

    A second run downloads nothing, finds the series applied, skips configure and lets make find
    nothing to do.
    """

    name = "pipeline"
    help = "fetch, apply and build in one go"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_source_arguments(parser)
        add_build_arguments(parser)

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.pipeline import pipeline

        tree, prefix = pipeline(ctx.workdir, prefix=args.prefix, profile=args.profile, jobs=args.jobs,
                                **source_options(args))
        print_result(tree.version, prefix)
        return 0
