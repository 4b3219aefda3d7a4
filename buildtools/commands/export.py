"""buildtools export."""

from __future__ import annotations

import argparse
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from buildtools.commands.lint import add_upstream_arguments

if TYPE_CHECKING:
    from buildtools.context import Context

log = logging.getLogger("buildtools")


class ExportCommand:
    """Write our features as upstream commits: one `git format-patch` file per feature, plus a PR.md each.

    upstream/features.toml maps the patches of patches/<branch>/series and the files of
    modules/ to features; each feature becomes one commit (its message from upstream/) on top
    of the branch of --repo (or of an unpatched --tree), made with gitpython in a temporary
    worktree. New alembic migrations are chained onto the branch's alembic head. Writes
    OUT/NNNN-*.patch (the stack, in order: `git am OUT/*.patch`) and OUT/<feature>/PR.md; a
    feature that depends on no other also gets OUT/<feature>/NNNN-*.patch made on the bare
    branch, which is what its PR carries.
    """

    name = "export"
    help = "write one upstream commit per feature (git format-patch) and a PR.md each"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_upstream_arguments(parser)
        parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                            help="output directory (created; must be empty or a previous export)")
        parser.add_argument("--author", metavar="'NAME <EMAIL>'",
                            help="commit author (default: the From of the feature's first patch)")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.paths import project_root
        from buildtools.upstream import base_repo

        root = project_root()
        with base_repo(args.tree, args.repo, args.branch, args.base) as (repo, base):
            return self._export(args, root, repo, base)

    def _export(self, args, root: Path, repo, base: str) -> int:
        from email.utils import parseaddr

        from buildtools.errors import ConfigError
        from buildtools.upstream import (commit_features, format_patches, load_plans, pr_markdown,
                                         temp_worktree)

        author = None
        if args.author:
            name, email = parseaddr(args.author)
            if not name or "@" not in email:
                raise ConfigError(f"--author {args.author!r}: expected 'Name <email>'")
            author = (name, email)
        out = args.out.absolute()
        if out.exists():
            if not out.is_dir():
                raise ConfigError(f"--out {args.out}: exists and is not a directory")
            ours = {p.name for p in out.iterdir() if p.suffix == ".patch" or (p / "PR.md").is_file()}
            others = [p.name for p in out.iterdir() if p.name not in ours]
            if others:
                raise ConfigError(f"--out {args.out}: not empty and not an export ({others[0]})")
            for name in ours:
                p = out / name
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        out.mkdir(parents=True, exist_ok=True)
        with temp_worktree(repo, base) as wt:
            plans = load_plans(root, args.branch, Path(wt.working_tree_dir))
            commits = commit_features(root, wt, plans, author)
            stack_files = [p.name for p in format_patches(wt, f"{base}..HEAD", out)]
        by_id = {c.feature.id: (c, f) for c, f in zip(commits, stack_files)}
        for pl, commit, stack_file in zip(plans, commits, stack_files):
            feat = pl.feature
            standalone = None
            if not feat.depends:
                with temp_worktree(repo, base) as wt:
                    commit_features(root, wt, [pl], author)
                    standalone = format_patches(wt, "HEAD~1..HEAD", out / feat.id)[0].name
            deps = [(by_id[d][0].feature, by_id[d][0].subject) for d in feat.depends]
            upto = [f for c, f in zip(commits, stack_files)][:stack_files.index(stack_file) + 1]
            md = pr_markdown(feat, pl.message(root), args.branch, base, upto, deps,
                             f"{feat.id}/{standalone}" if standalone else None)
            (out / feat.id).mkdir(exist_ok=True)
            (out / feat.id / "PR.md").write_text(md)
            print(f"{stack_file}  [{feat.id}]{'  + ' + feat.id + '/' + standalone if standalone else ''}")
        print(f"exported {len(commits)} commits against {args.branch} ({base[:10]}) to {out}")
        return 0
