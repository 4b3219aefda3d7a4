"""An Asterisk source tree on disk and its version."""

from __future__ import annotations

import re
import subprocess
from functools import cached_property
from pathlib import Path

from buildtools.errors import SourceError
from buildtools.version import Version

MARKERS = ("main/asterisk.c", "include/asterisk.h")
STAMP_DIR = ".buildtools"


class Tree:
    """An Asterisk source tree: its path, version (from `.version` or git tags) and branch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()

    @classmethod
    def open(cls, path: str | Path) -> Tree:
        """The tree at `path`; SourceError unless it is an Asterisk source tree."""
        tree = cls(path)
        if not tree.is_asterisk_tree():
            missing = next(m for m in MARKERS if not (tree.path / m).is_file())
            raise SourceError(f"{tree.path} is not an Asterisk source tree (no {missing})")
        return tree

    def is_asterisk_tree(self) -> bool:
        """Whether the path holds `main/asterisk.c` and `include/asterisk.h`."""
        return all((self.path / m).is_file() for m in MARKERS)

    @cached_property
    def version(self) -> Version:
        """The Asterisk version, from `.version`, else (a git checkout) as `build_tools/make_version`
        tells it: `GIT-master-<commit>` when configure.ac's AC_INIT names branch master, else
        `git describe --tags`."""
        dot_version = self.path / ".version"
        if dot_version.is_file():
            text = dot_version.read_text().strip()
            try:
                return Version.parse(text)
            except ValueError:
                raise SourceError(f"{dot_version}: unrecognised Asterisk version {text!r}") from None
        if self._mainline_branch() == "master" and (self.path / ".git").exists():
            return Version.master(self._git_commit() or "unknown")
        described = self._git_describe()
        if described is None:
            raise SourceError(f"cannot tell the Asterisk version of {self.path}: no .version file and no git tag")
        try:
            return Version.parse(re.sub(r"-\d+-g[0-9a-f]+$", "", described.removeprefix("v")))
        except ValueError:
            raise SourceError(f"{self.path}: git tag {described!r} is not an Asterisk version") from None

    def _mainline_branch(self) -> str | None:
        """The branch configure.ac's AC_INIT names (`22`, `master`), as make_version reads it."""
        try:
            text = (self.path / "configure.ac").read_text(errors="replace")
        except OSError:
            return None
        m = re.search(r"^AC_INIT\(\[asterisk\],\s*\[([^\]]+)\]", text, re.MULTILINE)
        return m.group(1) if m else None

    def _git_commit(self) -> str | None:
        import git

        try:
            return git.Repo(self.path).git.rev_parse("--short", "HEAD")
        except (git.InvalidGitRepositoryError, git.GitCommandError):
            return None

    def _git_describe(self) -> str | None:
        if not (self.path / ".git").exists():
            return None
        try:
            res = subprocess.run(["git", "describe", "--tags"], cwd=self.path, capture_output=True, text=True,
                                 check=False, timeout=60)
        except OSError:
            return None
        return res.stdout.strip() if res.returncode == 0 and res.stdout.strip() else None

    @property
    def branch(self) -> str:
        """The major version as a string (`22`), or `master`: selects `patches/<branch>/`."""
        return self.version.branch

    @property
    def stamp_dir(self) -> Path:
        """`.buildtools/`: what buildtools applied to this tree."""
        return self.path / STAMP_DIR

    def __repr__(self) -> str:
        return f"Tree({str(self.path)!r})"


def open_tree(src: Path, path: Path | None) -> Tree:
    """`--tree DIR`; else the current directory when it is an Asterisk tree (so that
    `buildtools apply && make` works in a user's tree); else the newest tree in `src`."""
    if path:
        return Tree.open(path)
    if Tree(Path.cwd()).is_asterisk_tree():
        return Tree.open(Path.cwd())
    return latest_tree(src)


def latest_tree(src: Path) -> Tree:
    """The newest Asterisk tree `src/asterisk-*` (the default of `--tree`)."""
    trees = [t for t in map(Tree, sorted(src.glob("asterisk-*"))) if t.is_asterisk_tree()]
    if not trees:
        raise SourceError(f"no Asterisk tree in {src}", hint="run `buildtools fetch` first or pass --tree")
    return max(trees, key=lambda t: t.version)
