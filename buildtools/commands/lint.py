"""buildtools lint."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from buildtools.context import Context

log = logging.getLogger("buildtools")


def add_upstream_arguments(parser: argparse.ArgumentParser) -> None:
    """--branch/--repo/--base/--author, shared with `export`."""
    from buildtools.upstream import BRANCHES, ENV_REPO

    parser.add_argument("--branch", default="22", choices=BRANCHES,
                        help="Asterisk branch: patches/<branch>/series against that branch (default: 22)")
    parser.add_argument("--repo", metavar="DIR",
                        help=f"an Asterisk git repository holding the branch (default: ${ENV_REPO})")
    parser.add_argument("--tree", type=Path, metavar="DIR",
                        help="an unpatched Asterisk source tree (e.g. from `buildtools fetch`) to use as the base "
                             "instead of --repo (put into a temporary git repository)")
    parser.add_argument("--base", metavar="REF", help="commit or tag to build on (default: the branch's head, "
                                                      "origin/<branch> or <branch>)")


class LintCommand:
    """Check our upstream commits as upstream's reviewers and CI do.

    Builds the commits `buildtools export` writes (or applies the format-patch files of
    --patches DIR) in a temporary worktree of --repo at the branch and checks: the commit
    message format (subject '<subsystem>: <summary>', body wrapped at 72, trailers last,
    Resolves: #N, UserNote for user-visible changes, UpgradeNote for alembic); trailing white
    space and space indentation on added C lines; the XML documentation of the changed files
    and of the whole tree against the tree's doc/appdocsxml.dtd (xmllint); a <since> naming a
    release of the branch on every new documented item; one alembic head. With --compile, a
    build under ./configure --enable-dev-mode (-Werror) in that worktree. Exit 1 on findings.
    """

    name = "lint"
    help = "check the upstream commits (message format, XML docs, <since>, alembic, whitespace, -Werror)"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_upstream_arguments(parser)
        parser.add_argument("--patches", type=Path, metavar="DIR",
                            help="lint these format-patch files (git am, in name order) instead of our series")
        parser.add_argument("--compile", action="store_true",
                            help="also build the result with --enable-dev-mode (-Werror); minutes, not seconds")
        parser.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel make jobs for --compile")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.paths import project_root
        from buildtools.upstream import base_repo

        start = time.monotonic()
        root = project_root()
        with base_repo(args.tree, args.repo, args.branch, args.base) as (repo, base):
            return self._lint(ctx, args, root, repo, base, start)

    def _lint(self, ctx, args, root, repo, base, start) -> int:
        import git

        from buildtools.errors import ConfigError, PatchError
        from buildtools.lint import lint_commits
        from buildtools.upstream import commit_features, load_plans, temp_worktree

        if args.patches:
            files = sorted(args.patches.glob("*.patch")) if args.patches.is_dir() else []
            if not files:
                raise ConfigError(f"--patches {args.patches}: no *.patch files there")
        with temp_worktree(repo, base) as wt:
            if not args.patches:
                plans = load_plans(root, args.branch, Path(wt.working_tree_dir))
            if args.patches:
                for f in files:
                    try:
                        wt.git.am("--quiet", "--3way", "--keep-cr", str(f.absolute()))
                    except git.GitCommandError:
                        raise PatchError(f"{f}: does not apply to {args.branch} ({base[:10]})") from None
            else:
                commit_features(root, wt, plans)
            n = len(wt.git.rev_list(f"{base}..HEAD").split())
            findings = lint_commits(wt, base, args.branch)
            if args.compile and not findings:
                from buildtools.lint_compile import compile_check
                findings += compile_check(ctx.workdir, Path(wt.working_tree_dir), args.jobs)
        what = f"{n} commit{'s' * (n != 1)} on {args.branch} ({base[:10]})"
        for f in findings:
            print(f"lint: {f}")
        secs = time.monotonic() - start
        if findings:
            print(f"lint: {len(findings)} finding{'s' * (len(findings) != 1)} in {what} ({secs:.0f} s)")
            return 1
        checks = "message, whitespace, XML/DTD, <since>, alembic" + (", dev-mode compile" if args.compile else "")
        print(f"lint: {what}: clean ({checks}; {secs:.0f} s)")
        return 0
