"""Our alembic migrations together with a tree's: one head, and the whole chain upgrades.

The tree's `contrib/ast-db-manage/config` is copied to a scratch directory and the migrations
that the tree's series creates (taken from the patch files, so the tree may be pristine or
patched) are added; then `alembic heads` and `alembic upgrade head --sql` (offline: no database)
run there with the alembic from PyPI.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from buildtools.errors import BuildtoolsError
from buildtools.probe import MIGRATIONS
from buildtools.series import Patch, Series, parse_patch
from buildtools.tree import Tree

CONFIG_DIR = "contrib/ast-db-manage/config"
INI = """[alembic]
script_location = {location}
sqlalchemy.url = {url}
"""
DIALECTS = {"mysql": "mysql://u:p@localhost/asterisk", "postgresql": "postgresql://u:p@localhost/asterisk"}


class AlembicError(BuildtoolsError):
    """The migrations do not form one chain."""


@dataclass(frozen=True)
class AlembicResult:
    """What alembic said about one tree with our migrations."""

    heads: tuple[str, ...]
    ours: tuple[str, ...]  # file names of the migrations the series adds
    upgrade_sql: dict[str, str]  # dialect -> generated SQL


def new_files(patch: Patch, under: str) -> dict[str, str]:
    """The files a patch creates below `under`, with their content (from the patch's `+` lines)."""
    text = patch.data.decode("utf-8", "replace")
    out: dict[str, str] = {}
    for d in parse_patch(text):
        if d.old is not None or d.new is None or not d.new.startswith(under + "/"):
            continue
        m = re.search(rf"^\+\+\+ b/{re.escape(d.new)}\n@@ [^\n]*@@[^\n]*\n(.*?)(?=^diff --git |^-- ?\n|\Z)",
                      text, re.MULTILINE | re.DOTALL)
        if not m:
            raise AlembicError(f"{patch.label}: cannot read the content of {d.new}")
        lines = [ln[1:] for ln in m.group(1).splitlines() if ln.startswith("+")]
        out[d.new] = "\n".join(lines) + "\n"
    return out


def alembic(args: list[str], ini: Path) -> subprocess.CompletedProcess[str]:
    """`alembic -c ini ARGS` with the alembic installed for this Python."""
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), *args], capture_output=True, text=True,
                          cwd=ini.parent)


def check_tree(tree: Tree, root: Path, dialects: tuple[str, ...] = tuple(DIALECTS),
               patches: tuple[Patch, ...] | None = None) -> AlembicResult:
    """Run alembic over `tree`'s config migrations plus those of its series (chosen for the tree;
    `patches` instead, if given)."""
    config = tree.path / CONFIG_DIR
    if not (config / "env.py").is_file():
        raise AlembicError(f"{config}: no alembic env.py (not an Asterisk tree with config migrations?)")
    if patches is None:
        patches = Series.select(root, tree).patches
    ours = {rel: body for p in patches for rel, body in new_files(p, MIGRATIONS).items()}
    with tempfile.TemporaryDirectory(prefix="buildtools-alembic-") as tmp:
        work = Path(tmp)
        shutil.copytree(config, work / "config", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for rel, body in ours.items():
            (work / "config" / "versions" / Path(rel).name).write_text(body)
        results: dict[str, str] = {}
        heads: tuple[str, ...] = ()
        for dialect in dialects:
            ini = work / f"{dialect}.ini"
            ini.write_text(INI.format(location=work / "config", url=DIALECTS[dialect]))
            if not heads:
                res = alembic(["heads"], ini)
                if res.returncode != 0:
                    raise AlembicError(f"alembic heads failed on {config}", details=res.stderr.strip())
                heads = tuple(ln.split()[0] for ln in res.stdout.splitlines() if ln.strip())
                if len(heads) != 1:
                    return AlembicResult(heads, tuple(sorted(Path(r).name for r in ours)), {})
            res = alembic(["upgrade", "head", "--sql"], ini)
            if res.returncode != 0:
                raise AlembicError(f"alembic upgrade head --sql ({dialect}) failed on {config}",
                                   details=res.stderr.strip()[-2000:])
            results[dialect] = res.stdout
    return AlembicResult(heads, tuple(sorted(Path(r).name for r in ours)), results)
