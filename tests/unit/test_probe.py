"""Series conditions on the tree's content: alembic heads, `has=`, variants shared between branches."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit_helpers import PATCH1, PJSIP_C, Project, diff, edit, make_tree

from buildtools.errors import PatchError
from buildtools.probe import MIGRATIONS, alembic_heads
from buildtools.series import Series, apply_series
from buildtools.tree import Tree


def migration(rev: str, down: str | tuple[str, ...] | None) -> str:
    return f'"""m"""\nrevision = {rev!r}\ndown_revision = {down!r}\n\nfrom alembic import op\n'


def write_migrations(tree: Path, revs: dict[str, str | tuple[str, ...] | None]) -> None:
    d = tree / MIGRATIONS
    d.mkdir(parents=True, exist_ok=True)
    for rev, down in revs.items():
        (d / f"{rev}_x.py").write_text(migration(rev, down))


def new_migration_patch(rev: str, down: str) -> str:
    body = migration(rev, down)
    lines = "".join(f"+{ln}\n" for ln in body.splitlines())
    rel = f"{MIGRATIONS}/{rev}_x.py"
    return ("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] m\n\n---\n"
            f"diff --git a/{rel} b/{rel}\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n"
            f"+++ b/{rel}\n@@ -0,0 +1,{len(body.splitlines())} @@\n{lines}--\n2.39.5\n")


def test_alembic_heads(tmp_path: Path) -> None:
    write_migrations(tmp_path, {"a": None, "b": "a", "c": "b", "d": "b"})
    assert alembic_heads(tmp_path / MIGRATIONS) == ["c", "d"]
    write_migrations(tmp_path, {"e": ("c", "d")})  # a merge
    assert alembic_heads(tmp_path / MIGRATIONS) == ["e"]
    assert alembic_heads(tmp_path / MIGRATIONS, frozenset({"e_x.py"})) == ["c", "d"]


@pytest.fixture
def variants(project: Project) -> Project:
    """patches/22 and patches/master share 0001; 0002 has one variant per alembic head."""
    (project.root / "patches/master").mkdir()
    (project.root / "patches/22/0001-pjsip.patch").write_text(PATCH1)
    (project.root / "patches/22/0002-db.patch").write_text(new_migration_patch("new1", "old"))
    (project.root / "patches/master/0002-db.patch").write_text(new_migration_patch("new1", "newer"))
    for branch, own, other in (("22", "", "../master/"), ("master", "../22/", "")):
        (project.root / f"patches/{branch}/series").write_text(
            f"{own}0001-pjsip.patch\n"
            f"{own}0002-db.patch  if alembic-head=old\n"
            f"{other}0002-db.patch  if alembic-head=newer   # after upstream's 'newer'\n")
    return project


def tree_with_head(path: Path, head: str, version: str = "22.10.1") -> Tree:
    make_tree(path, version)
    write_migrations(path, {"old": None} if head == "old" else {"old": None, "newer": "old"})
    return Tree(path)


def test_variant_follows_alembic_head(variants: Project, tmp_path: Path) -> None:
    old = Series.select(variants.root, tree_with_head(tmp_path / "a", "old"))
    new = Series.select(variants.root, tree_with_head(tmp_path / "b", "newer"))
    assert [p.label for p in old.patches] == ["patches/22/0001-pjsip.patch", "patches/22/0002-db.patch"]
    assert [p.label for p in new.patches] == ["patches/22/0001-pjsip.patch", "patches/master/0002-db.patch"]
    master = Series.select(variants.root, tree_with_head(tmp_path / "m", "newer", "GIT-master-abc"))
    assert master.branch == "master" and [p.label for p in master.patches] == [p.label for p in new.patches]


def test_applied_tree_keeps_its_variant(variants: Project, tmp_path: Path) -> None:
    """The migration our patch adds is not counted: after apply the same variant is chosen."""
    tree = tree_with_head(tmp_path / "b", "newer")
    series = Series.select(variants.root, tree)
    apply_series(tree, series, tmp_path / "apply.log")
    assert alembic_heads(tree.path / MIGRATIONS) == ["new1"]
    again = Series.select(variants.root, Tree(tree.path))
    assert again.hash == series.hash
    assert apply_series(Tree(tree.path), again, tmp_path / "apply.log").action == "already-applied"


def test_no_variant_fits_is_one_error(variants: Project, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "t")
    write_migrations(tree, {"old": None, "other": "old"})
    with pytest.raises(PatchError, match=r"patches/22/series: no variant of 0002-db.patch fits .*alembic heads other"):
        Series.select(variants.root, Tree(tree))


def test_conditions_need_a_tree(variants: Project) -> None:
    with pytest.raises(PatchError, match="chooses patches by the tree's content: a tree is needed"):
        Series.load(variants.root, "22")


@pytest.mark.parametrize(("cond", "message"), [
    ("if", "'if' without a condition"),
    ("if head=x", "unknown condition 'head=x'"),
    ("if has=res/res_pjsip.c", "condition .has=res/res_pjsip.c. must be has=<file>:<text>"),
])
def test_bad_condition_names_the_line(project: Project, cond: str, message: str) -> None:
    (project.root / "patches/22/0001-pjsip.patch").write_text(PATCH1)
    (project.root / "patches/22/series").write_text(f"# x\n0001-pjsip.patch {cond}\n")
    with pytest.raises(PatchError, match=f"patches/22/series line 2: {message}"):
        Series.load(project.root, "22")


def test_has_condition(project: Project, tmp_path: Path) -> None:
    other = diff("res/res_pjsip.c", PJSIP_C, edit(PJSIP_C, l20="/* the variant */"))
    (project.root / "patches/22/0001-pjsip.patch").write_text(PATCH1)
    (project.root / "patches/22/v").mkdir()
    (project.root / "patches/22/v/0001-pjsip.patch").write_text(other)
    (project.root / "patches/22/series").write_text(
        "0001-pjsip.patch  if !has=res/res_pjsip.c:line_7_marker\n"
        "v/0001-pjsip.patch  if has=res/res_pjsip.c:line_7_marker\n")
    plain = Tree(make_tree(tmp_path / "a"))
    assert Series.select(project.root, plain).patches[0].label == "patches/22/0001-pjsip.patch"
    marked = Tree(make_tree(tmp_path / "b"))
    (marked.path / "res/res_pjsip.c").write_text(PJSIP_C + "/* line_7_marker */\n")
    assert Series.select(project.root, marked).patches[0].label == "patches/22/v/0001-pjsip.patch"


def test_has_text_added_by_a_patch_is_refused(project: Project, tmp_path: Path) -> None:
    (project.root / "patches/22/0001-pjsip.patch").write_text(PATCH1)  # adds "patched by 0001"
    (project.root / "patches/22/series").write_text("0001-pjsip.patch  if !has=res/res_pjsip.c:patched\n")
    with pytest.raises(PatchError, match=r"tests a text that patches/22/0001-pjsip.patch adds"):
        Series.select(project.root, Tree(make_tree(tmp_path / "a")))


def test_outside_patches_is_refused(project: Project, tmp_path: Path) -> None:
    (tmp_path / "x.patch").write_text(PATCH1)
    (project.root / "patches/22/series").write_text("../../../x.patch\n")
    with pytest.raises(PatchError, match=r"line 1: \.\./\.\./\.\./x\.patch is outside patches/"):
        Series.load(project.root, "22")


def test_the_real_series_pick_one_variant_each(tmp_path: Path) -> None:
    """Our own series files parse; on a fake 22.10 and a fake master tree each picks one of every patch."""
    root = Path(__file__).resolve().parents[2]
    for head, version, branch in (("e89e30cee53f", "22.10.1", "22"), ("2285f2ace275", "GIT-master-x", "master"),
                                  ("2285f2ace275", "20.21.0-rc1", "20"), ("2285f2ace275", "23.5.0-rc1", "23")):
        path = make_tree(tmp_path / f"t{branch}", version)
        write_migrations(path, {head: None})
        series = Series.select(root, Tree(path))
        assert series.branch == branch
        assert [p.name[:4] for p in series.patches] == ["0001", "0002", "0003", "0004", "0005", "0006"]
        labels = {p.name[:4]: p.label for p in series.patches}
        assert labels["0004"].startswith("patches/22/" if head == "e89e30cee53f" else "patches/master/")
        assert labels["0006"].startswith("patches/22/")  # fake tree: no #2041


def test_describe_series_names_where_each_patch_comes_from(tmp_path: Path) -> None:
    from buildtools.commands.matrix import describe_series

    root = Path(__file__).resolve().parents[2]
    path = make_tree(tmp_path / "t", "20.21.0-rc1")
    write_migrations(path, {"2285f2ace275": None})
    assert describe_series(Series.select(root, Tree(path))) == "patches/20: 22/0001-0003 master/0004 22/0005-0006"
