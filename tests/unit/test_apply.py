"""Applying the series to a fake tree: atomic, idempotent, reversible."""

from pathlib import Path

import pytest
from unit_helpers import (
    MODULE,
    PATCH1,
    PJSIP_C,
    SESSION_C,
    Project,
    diff,
    edit,
    snapshot,
)

from buildtools.cli import main
from buildtools.errors import PatchError
from buildtools.paths import Workdir
from buildtools.series import Series, apply_series, reverse_series
from buildtools.tree import Tree


def apply(project: Project, tree_dir: Path, workdir: Workdir, **kw: bool):
    tree = Tree.open(tree_dir)
    return apply_series(tree, Series.select(project.root, tree.version), workdir.log("apply"), **kw)


def test_apply_then_noop(standard_project: Project, tree_dir: Path, workdir: Workdir) -> None:
    result = apply(standard_project, tree_dir, workdir)
    assert result.message == f"applied 2 patches, 1 module to {tree_dir}"
    assert "/* patched by 0001 */" in (tree_dir / "res/res_pjsip.c").read_text()
    assert "/* patched by 0002, hunk 2 */" in (tree_dir / "res/res_pjsip_session.c").read_text()
    assert (tree_dir / "res/res_x.c").read_text() == MODULE
    assert sorted(p.name for p in (tree_dir / ".buildtools/patches").iterdir()) == [
        "0001-pjsip-first.patch", "0002-session-second.patch"]
    before = snapshot(tree_dir, mtimes=True)
    again = apply(standard_project, tree_dir, workdir)
    assert again.action == "already-applied" and again.message == "already applied (2 patches, 1 module)"
    assert snapshot(tree_dir, mtimes=True) == before


def test_check_writes_nothing(standard_project: Project, tree_dir: Path, workdir: Workdir) -> None:
    before = snapshot(tree_dir, mtimes=True)
    assert apply(standard_project, tree_dir, workdir, check=True).action == "would-apply"
    assert snapshot(tree_dir, mtimes=True) == before


def test_reverse_restores_the_tree(standard_project: Project, tree_dir: Path, workdir: Workdir) -> None:
    pristine = snapshot(tree_dir)
    apply(standard_project, tree_dir, workdir)
    assert reverse_series(Tree(tree_dir), workdir.log("apply"), check=True).action == "would-reverse"
    assert snapshot(tree_dir) != pristine
    assert reverse_series(Tree(tree_dir), workdir.log("apply")).message == f"reversed 2 patches, 1 module in {tree_dir}"
    assert snapshot(tree_dir) == pristine
    assert reverse_series(Tree(tree_dir), workdir.log("apply")).action == "not-applied"


def test_conflict_in_second_patch_leaves_tree_untouched(standard_project: Project, tree_dir: Path,
                                                        workdir: Workdir) -> None:
    session = tree_dir / "res/res_pjsip_session.c"
    session.write_text(edit(SESSION_C, l40="/* a user's edit */"))  # inside hunk #2 of patch 0002
    before = snapshot(tree_dir, mtimes=True)
    with pytest.raises(PatchError) as exc:
        apply(standard_project, tree_dir, workdir)
    assert str(exc.value) == ("patches/22/0002-session-second.patch: hunk #2 (res/res_pjsip_session.c line 37) "
                              "does not apply")
    assert snapshot(tree_dir, mtimes=True) == before


def test_conflict_through_the_cli(standard_project: Project, tree_dir: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tree_dir / "res/res_pjsip_session.c").write_text(edit(SESSION_C, l5="/* a user's edit */"))
    before = snapshot(tree_dir, mtimes=True)
    assert main(["-q", "apply", "--tree", str(tree_dir)]) == 3
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("buildtools: error: patches/22/0002-session-second.patch: hunk #1 "
                      "(res/res_pjsip_session.c line 2) does not apply")
    assert not any("Traceback" in line for line in err)
    assert snapshot(tree_dir, mtimes=True) == before


def test_changed_series_is_reapplied(standard_project: Project, tree_dir: Path, workdir: Workdir) -> None:
    pristine = snapshot(tree_dir)
    apply(standard_project, tree_dir, workdir)
    new2 = diff("res/res_pjsip_session.c", SESSION_C, edit(SESSION_C, l20="/* patched by the new 0002 */"))
    standard_project.series({"0001-pjsip-first.patch": PATCH1, "0002-session-other.patch": new2})
    standard_project.module("res_x.c", "/* res_x.c v2 */\n")
    standard_project.module("app_y.c", "/* app_y.c */\n")
    result = apply(standard_project, tree_dir, workdir)
    assert result.action == "applied"
    session = (tree_dir / "res/res_pjsip_session.c").read_text()
    assert "new 0002" in session and "hunk 2" not in session
    assert (tree_dir / "res/res_x.c").read_text() == "/* res_x.c v2 */\n"
    assert (tree_dir / "apps/app_y.c").is_file()
    assert "/* patched by 0001 */" in (tree_dir / "res/res_pjsip.c").read_text()
    reverse_series(Tree(tree_dir), workdir.log("apply"))
    assert snapshot(tree_dir) == pristine


def test_applied_without_stamp_is_detected(standard_project: Project, tree_dir: Path, workdir: Workdir) -> None:
    apply(standard_project, tree_dir, workdir)
    stamp = tree_dir / ".buildtools/applied.json"
    stamp_text = stamp.read_text()
    for p in sorted((tree_dir / ".buildtools").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (tree_dir / ".buildtools").rmdir()
    result = apply(standard_project, tree_dir, workdir)
    assert result.action == "already-applied" and "without a stamp" in result.message
    assert stamp.read_text().split('"time"')[0] == stamp_text.split('"time"')[0]


def test_foreign_module_file_is_an_error(standard_project: Project, tree_dir: Path, workdir: Workdir) -> None:
    (tree_dir / "res/res_x.c").write_text("/* someone else's res_x */\n")
    before = snapshot(tree_dir)
    with pytest.raises(PatchError, match=r"modules/res_x.c: .*res/res_x.c already exists with different content"):
        apply(standard_project, tree_dir, workdir)
    assert snapshot(tree_dir) == before
    apply(standard_project, tree_dir, workdir, force=True)
    assert (tree_dir / "res/res_x.c").read_text() == MODULE


def test_empty_series(project: Project, tree_dir: Path, workdir: Workdir) -> None:
    project.series({}, comment="# no patches yet\n")
    assert apply(project, tree_dir, workdir).message == f"applied 0 patches, 0 modules to {tree_dir}"
    assert apply(project, tree_dir, workdir).message == "already applied (0 patches, 0 modules)"
    assert (tree_dir / "res/res_pjsip.c").read_text() == PJSIP_C


def test_patch_touching_a_missing_file(project: Project, tree_dir: Path, workdir: Workdir) -> None:
    project.series({"0001-x.patch": diff("res/nope.c", "a\n", "b\n")})
    with pytest.raises(PatchError, match=r"patches/22/0001-x.patch: res/nope.c does not exist in the tree"):
        apply(project, tree_dir, workdir)


def test_cli_apply_defaults_to_the_current_tree(standard_project: Project, tree_dir: Path, workdir: Workdir,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    # `buildtools apply && make` in a user's tree: no --tree needed.
    monkeypatch.chdir(tree_dir)
    assert main(["--workdir", str(workdir.root), "apply"]) == 0
    assert capsys.readouterr().out.strip() == f"applied 2 patches, 1 module to {tree_dir}"
    assert main(["--workdir", str(workdir.root), "apply"]) == 0
    assert capsys.readouterr().out.strip() == "already applied (2 patches, 1 module)"
