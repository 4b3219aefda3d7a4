"""buildtools fetch."""

from __future__ import annotations

import argparse
from pathlib import Path

from buildtools.sources import SOURCE_KINDS
from buildtools.context import Context


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    """Options choosing the Asterisk sources (shared with `pipeline`)."""
    parser.add_argument("--source", choices=SOURCE_KINDS, default="debian",
                        help="where the sources come from (default: debian)")
    parser.add_argument("--version", metavar="V",
                        help="a branch (22: its newest release) or an exact release (22.10.1); default 22")
    parser.add_argument("--dest", type=Path, metavar="DIR",
                        help="parent directory of the tree asterisk-<version>/ (default: <workdir>/src)")
    parser.add_argument("--url", help="git repository or tarball URL (git, tarball)")
    parser.add_argument("--sha256", metavar="HEX", help="expected sha256 of the tarball (tarball)")
    parser.add_argument("--suite", type=lambda s: [x for x in s.split(",") if x], metavar="S1,S2",
                        help="Debian suites to search (debian; default: sid,experimental)")
    parser.add_argument("--tree", type=Path, metavar="DIR", help="an existing Asterisk tree (path)")


def source_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for `sources.fetch` from the parsed options."""
    return {"source": args.source, "version": args.version, "dest": args.dest, "url": args.url,
            "sha256": args.sha256, "suites": args.suite, "tree": args.tree}


class FetchCommand:
    """Fetch Asterisk sources into <dest>/asterisk-<version>/ (cached: a second fetch downloads nothing).

    debian: Debian's source package (sid, experimental) through a private apt configuration; the
    bundled pjproject is repacked into <workdir>/externals for an offline configure.
    git: a shallow clone of a release tag. tarball: a release tarball, checked against its sha256.
    path: an existing tree, validated.
    """

    name = "fetch"
    help = "fetch Asterisk sources"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_source_arguments(parser)

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools import sources

        tree = sources.fetch(ctx.workdir, **source_options(args))
        print(f"Asterisk {tree.version}: {tree.path}")
        return 0
