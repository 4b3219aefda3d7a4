"""buildtools apply."""

from __future__ import annotations

import argparse
from pathlib import Path

from buildtools.tree import open_tree
from buildtools.context import Context


class ApplyCommand:
    """Apply patches/<branch>/series and modules/* to a tree, atomically.

    Everything is checked in a staging copy before the tree is written; a conflict names the
    patch, file and hunk and leaves the tree untouched. Re-running with the same series does
    nothing; a changed series is reversed and re-applied. The tree's branch selects patches/<branch>/.
    """

    name = "apply"
    help = "apply our patches and modules to a tree"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tree", type=Path, metavar="DIR", help="the tree (default: the current directory if it is an Asterisk tree, else the newest in <workdir>/src)")
        parser.add_argument("--check", action="store_true", help="only report what would happen; write nothing")
        parser.add_argument("--reverse", action="store_true", help="undo what buildtools applied")
        parser.add_argument("--force", action="store_true",
                            help="overwrite module files that differ from ours, or were changed after applying")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.paths import project_root
        from buildtools.series import Series, apply_series, reverse_series
        from buildtools.util import step

        tree = open_tree(ctx.workdir.src, args.tree)
        with step("apply", ctx.workdir.log("apply")) as log_path:
            if args.reverse:
                result = reverse_series(tree, log_path, check=args.check, force=args.force)
            else:
                series = Series.select(project_root(), tree)
                result = apply_series(tree, series, log_path, check=args.check, force=args.force)
        print(result.message)
        return 0
