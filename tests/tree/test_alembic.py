"""Alembic over the tree under test: its config migrations plus ours, as `alembic heads` and
`alembic upgrade head --sql` (alembic from PyPI) see them.

The tree is the one the tested Asterisk was built from (``BUILDTOOLS_TREE``, else the build
stamp of the prefix; built on demand like the integration tests): the Debian 22 tree in CI,
every tree of the version matrix with ``buildtools matrix``.
"""

from __future__ import annotations

from pathlib import Path

from buildtools.alembic_check import AlembicError, check_tree
from buildtools.paths import project_root
from buildtools.probe import MIGRATIONS, alembic_heads
from buildtools.series import Patch, Series
from buildtools.tree import Tree

OURS = ("3f2c8a1d9b47_add_ignore_reason_hangupcause.py", "8d4e1b2c7a95_add_qualify_reachable_codes.py")


def test_one_head_with_our_migrations(asterisk_tree: Path) -> None:
    tree = Tree.open(asterisk_tree)
    result = check_tree(tree, project_root())
    assert result.ours == OURS
    assert result.heads == ("8d4e1b2c7a95",), f"{tree.path}: alembic heads {result.heads}"
    for dialect, sql in result.upgrade_sql.items():
        assert "ignore_reason_hangupcause" in sql and "qualify_reachable_codes" in sql, dialect
        assert "UPDATE alembic_version SET version_num='8d4e1b2c7a95'" in sql, dialect


def test_our_first_migration_revises_the_tree_head(asterisk_tree: Path) -> None:
    """0004's down_revision is the head upstream left in this tree (our own files not counted)."""
    tree = Tree.open(asterisk_tree)
    upstream_heads = alembic_heads(tree.path / MIGRATIONS, frozenset(OURS))
    assert len(upstream_heads) == 1, f"{tree.path}: upstream alone has heads {upstream_heads}"
    patch = next(p for p in Series.select(project_root(), tree).patches if p.name.startswith("0004-"))
    assert f"down_revision = '{upstream_heads[0]}'" in patch.data.decode()


def test_the_other_variant_would_make_two_heads(asterisk_tree: Path) -> None:
    """The check can fail: 0004 of the other alembic base does not make one chain on this tree."""
    tree = Tree.open(asterisk_tree)
    chosen = Series.select(project_root(), tree).patches
    other_dir = "master" if chosen[3].label.startswith("patches/22/") else "22"
    wrong = Patch.load(project_root() / "patches" / other_dir / chosen[3].name, f"patches/{other_dir}/{chosen[3].name}")
    try:
        heads = check_tree(tree, project_root(), patches=(*chosen[:3], wrong, *chosen[4:])).heads
    except AlembicError as e:  # its down_revision is not in this tree at all (22.10.x)
        assert "failed" in e.message and "is not present" in (e.details or "")
    else:  # a second branch off the tree's old head (22.11+, 20, 23, master)
        assert len(heads) == 2, heads
