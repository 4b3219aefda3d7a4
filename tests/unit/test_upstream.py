"""buildtools.upstream: features.toml against the series, messages of format-patch files, alembic chaining."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildtools.errors import ConfigError, PatchError
from buildtools.paths import project_root
from buildtools.series import Patch, Series
from buildtools.upstream import _rechain_migrations, load_features, patch_message, patch_slug, plan


def series_22(root: Path) -> Series:
    """patches/22/series with every line's patch, `if` conditions ignored (variants share a name)."""
    pdir = root / "patches/22"
    patches = {}
    for line in (pdir / "series").read_text().splitlines():
        words = line.split("#", 1)[0].split()
        if words:
            p = Patch.load(pdir / words[0], f"patches/22/{words[0]}")
            patches.setdefault(p.name, p)
    return Series("22", "", tuple(patches.values()), ())


def test_every_patch_of_22_belongs_to_one_feature():
    root = project_root()
    plans = plan(root, series_22(root), load_features(root))
    assert [p.feature.id for p in plans] == ["reason", "response-headers", "qualify-reachable-codes",
                                             "hangup-headers"]
    assert sum(len(p.patches) for p in plans) == 6
    for p in plans:
        assert p.message(root).split("\n")[1] == ""


def test_patch_message_unfolds_subject():
    data = b"From x\nFrom: A <a@b>\nDate: Tue, 1 Dec 2026 11:01:00 +0000\nSubject: [PATCH 1/6] res_x: Read\n every value\n\nBody line.\n---\n diff\n"
    assert patch_message(data) == "res_x: Read every value\n\nBody line.\n"
    assert patch_slug("0003-func_x-Do-y.patch") == "func_x-Do-y"


def test_unknown_patch_and_bad_features(tmp_path: Path):
    root = project_root()
    (tmp_path / "upstream").mkdir()
    (tmp_path / "modules").mkdir()
    (tmp_path / "upstream/features.toml").write_text('[[feature]]\nid = "a"\ntitle = "A"\nmessage = "patch"\n'
                                                     'patches = ["no-such"]\n')
    with pytest.raises(PatchError, match="no patch named"):
        plan(tmp_path, series_22(root), load_features(tmp_path))
    (tmp_path / "upstream/features.toml").write_text('[[feature]]\nid = "a"\ntitle = "A"\nmessage = "m"\n'
                                                     'patches = ["x"]\ndepends = ["b"]\n')
    (tmp_path / "upstream/m").write_text("x: y\n")
    with pytest.raises(ConfigError, match="depends on 'b'"):
        load_features(tmp_path)


def test_new_migration_is_chained_onto_head(tmp_path: Path):
    v = tmp_path / "contrib/ast-db-manage/config/versions"
    v.mkdir(parents=True)
    (v / "a.py").write_text("revision = 'aaa'\ndown_revision = None\n")
    (v / "b.py").write_text("revision = 'bbb'\ndown_revision = 'aaa'\n")
    (v / "n.py").write_text("revision = 'ccc'\ndown_revision = 'aaa'\n")
    notes = _rechain_migrations(tmp_path, ["contrib/ast-db-manage/config/versions/n.py"])
    assert "down_revision = 'bbb'" in (v / "n.py").read_text() and "bbb" in notes[0]
    assert _rechain_migrations(tmp_path, ["contrib/ast-db-manage/config/versions/n.py"]) == []
