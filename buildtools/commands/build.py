"""buildtools build."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from buildtools.build import PROFILES, SANITIZERS
from buildtools.context import Context
from buildtools.errors import ConfigError

log = logging.getLogger(__name__)


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the build (shared with `pipeline`)."""
    parser.add_argument("--prefix", type=Path, metavar="DIR", help="install prefix (default: <workdir>/prefix)")
    parser.add_argument("--profile", choices=PROFILES, default="minimal",
                        help="minimal: the modules our tests need; full: menuselect defaults; testsuite: minimal plus what the "
                             "official testsuite tests need, --enable-dev-mode and TEST_FRAMEWORK (a fresh tree) "
                             "(default: minimal)")
    parser.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel make jobs (default: CPU count)")


def print_result(version: object, prefix: Path) -> None:
    """Where the build went and how to start it."""
    print(f"Asterisk {version} installed in {prefix}")
    print(f"run it: {prefix}/sbin/asterisk -C <dir>/asterisk.conf -f -n   "
          f"(no samples are installed: write an asterisk.conf with a plain [directories] section and "
          f"astdatadir => {prefix}/var/lib/asterisk)")


class BuildCommand:
    """configure, menuselect, make and make install a tree (incremental; configure is skipped when unchanged)."""

    name = "build"
    help = "build and install a tree"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--tree", type=Path, metavar="DIR", help="the tree (default: the current directory if it is an Asterisk tree, else the newest in <workdir>/src)")
        add_build_arguments(parser)
        parser.add_argument("--sanitize", metavar="LIST", default="",
                            help=f"build with sanitizers, comma-separated: {','.join(SANITIZERS)} (Asterisk's "
                                 "ADDRESS_SANITIZER/UNDEFINED_SANITIZER menuselect options)")
        parser.add_argument("--malloc-debug", action="store_true",
                            help="build with Asterisk's MALLOC_DEBUG: every ast_ allocation tracked by file "
                                 "(`memory show summary`; not with --sanitize address)")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.build import build
        from buildtools.paths import project_root
        from buildtools.series import Series, Stamp
        from buildtools.tree import open_tree

        sanitize = [n.strip() for n in args.sanitize.split(",") if n.strip()]
        for name in sanitize:
            if name not in SANITIZERS:
                raise ConfigError(f"--sanitize: unknown sanitizer '{name}' (choose from {', '.join(SANITIZERS)})")
        if args.malloc_debug and "address" in sanitize:
            raise ConfigError("--malloc-debug: Asterisk's MALLOC_DEBUG conflicts with --sanitize address (its own "
                              "allocator hides allocations from ASan); build them in separate prefixes")
        tree = open_tree(ctx.workdir.src, args.tree)
        if Stamp.load(tree) is None:
            # An unpatched tree (e.g. stock Asterisk for a benchmark): build it as it is.
            log.info("%s is not patched (no `buildtools apply`): building stock Asterisk", tree.path)
            modules = []
        else:
            modules = Series.select(project_root(), tree).module_names
        prefix = build(tree, ctx.workdir, args.prefix or ctx.workdir.prefix, profile=args.profile, jobs=args.jobs,
                       modules=modules, sanitize=sanitize, malloc_debug=args.malloc_debug)
        print_result(tree.version, prefix)
        return 0
