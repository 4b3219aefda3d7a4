"""Helpers for the unit tests: a fake Asterisk tree, patches, a fake project, snapshots."""

from __future__ import annotations

import difflib
import hashlib
import subprocess
from pathlib import Path

GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
SESSION_C = "".join(f"/* res_pjsip_session.c line {i} */\n" for i in range(1, 61))
PJSIP_C = "".join(f"/* res_pjsip.c line {i} */\n" for i in range(1, 31))


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd`; return stdout."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def make_tree(path: Path, version: str | None = "22.10.1") -> Path:
    """A small fake Asterisk tree."""
    files = {"main/asterisk.c": "int main(void) { return 0; }\n", "include/asterisk.h": "/* asterisk.h */\n",
             "res/res_pjsip_session.c": SESSION_C, "res/res_pjsip.c": PJSIP_C}
    if version:
        files[".version"] = f"{version}\n"
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(text)
    return path


def diff(rel: str, old: str, new: str) -> str:
    """A `git format-patch`-style patch changing `rel` from `old` to `new`."""
    body = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"a/{rel}", f"b/{rel}"))
    return ("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] test\n\n"
            f"---\ndiff --git a/{rel} b/{rel}\n{body}--\n2.39.5\n")


def edit(text: str, **lines: str) -> str:
    """Replace whole lines: edit(text, l5="new") replaces line 5 (1-based)."""
    out = text.splitlines(True)
    for key, value in lines.items():
        out[int(key[1:]) - 1] = value + "\n"
    return "".join(out)


PATCH1 = diff("res/res_pjsip.c", PJSIP_C, edit(PJSIP_C, l10="/* patched by 0001 */"))
PATCH2 = diff("res/res_pjsip_session.c", SESSION_C,
              edit(SESSION_C, l5="/* patched by 0002, hunk 1 */", l40="/* patched by 0002, hunk 2 */"))
MODULE = "/* res_x.c: our module */\n"


class Project:
    """A fake project checkout: patches/<branch>/series, patches and modules/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "modules").mkdir(parents=True)
        (root / "patches" / "22").mkdir(parents=True)

    def series(self, patches: dict[str, str], branch: str = "22", comment: str = "# our series\n") -> None:
        """Write the patches and a series file listing them (with a comment and blank lines)."""
        pdir = self.root / "patches" / branch
        pdir.mkdir(parents=True, exist_ok=True)
        for old in pdir.glob("*.patch"):
            old.unlink()
        for name, text in patches.items():
            (pdir / name).write_text(text)
        (pdir / "series").write_text(comment + "".join(f"{n}\n\n" for n in patches))

    def module(self, name: str, text: str) -> None:
        """Write modules/<name>."""
        (self.root / "modules" / name).write_text(text)


def snapshot(root: Path, mtimes: bool = False) -> dict[str, tuple[str, int]]:
    """sha256 (and mtime, if asked) of every file under `root`."""
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                       p.stat().st_mtime_ns if mtimes else 0)
            for p in sorted(root.rglob("*")) if p.is_file()}
