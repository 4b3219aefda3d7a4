"""Series parsing, branch selection, module destinations, patch parsing."""

from pathlib import Path

import pytest
from unit_helpers import PATCH1, PATCH2, Project

from buildtools.errors import PatchError
from buildtools.series import Series, module_dest, parse_patch
from buildtools.version import Version


def test_series_skips_comments_and_blank_lines(standard_project: Project) -> None:
    s = Series.load(standard_project.root, "22")
    assert [p.name for p in s.patches] == ["0001-pjsip-first.patch", "0002-session-second.patch"]
    assert s.patches[1].label == "patches/22/0002-session-second.patch"
    assert [(m.label, m.dest) for m in s.modules] == [("modules/res_x.c", "res/res_x.c")]
    assert s.module_names == ["res_x"]


def test_empty_series(project: Project) -> None:
    project.series({}, comment="# nothing yet\n")
    s = Series.load(project.root, "22")
    assert s.patches == () and s.summary() == "0 patches, 0 modules"


def test_missing_patch_is_named(project: Project) -> None:
    (project.root / "patches/22/series").write_text("# x\n0001-missing.patch\n")
    with pytest.raises(PatchError, match=r"patches/22/series line 2: patches/22/0001-missing.patch not found"):
        Series.load(project.root, "22")


def test_branch_selection(standard_project: Project) -> None:
    assert Series.select(standard_project.root, Version.parse("22.11.0-rc2")).branch == "22"
    with pytest.raises(PatchError, match=r"no patches for Asterisk 21.9.0: patches/21/ does not exist "
                                         r"\(available branches: 22\)"):
        Series.select(standard_project.root, Version.parse("21.9.0"))


def test_hash_follows_content(standard_project: Project) -> None:
    h1 = Series.load(standard_project.root, "22").hash
    assert Series.load(standard_project.root, "22").hash == h1
    standard_project.module("res_x.c", "/* changed */\n")
    assert Series.load(standard_project.root, "22").hash != h1


@pytest.mark.parametrize(("name", "dest"), [("res_foo.c", "res/res_foo.c"), ("chan_foo.c", "channels/chan_foo.c"),
                                            ("func_foo.c", "funcs/func_foo.c"), ("app_foo.c", "apps/app_foo.c"),
                                            ("res_foo.xml", "res/res_foo.xml")])
def test_module_dest(name: str, dest: str) -> None:
    assert module_dest(name) == dest


def test_module_dest_unknown_prefix() -> None:
    with pytest.raises(PatchError, match=r"modules/foo\.c: cannot tell its tree directory"):
        module_dest("foo.c")


def test_parse_patch_files_and_hunks(tmp_path: Path) -> None:
    (d,) = parse_patch(PATCH2)
    assert (d.old, d.new) == ("res/res_pjsip_session.c", "res/res_pjsip_session.c")
    assert [h[0] for h in d.hunks] == [2, 37]
    both = parse_patch(PATCH1 + PATCH2 + "diff --git a/new.c b/new.c\nnew file mode 100644\n--- /dev/null\n"
                       "+++ b/new.c\n@@ -0,0 +1 @@\n+x\n")
    assert [(d.old, d.new) for d in both] == [("res/res_pjsip.c",) * 2, ("res/res_pjsip_session.c",) * 2,
                                              (None, "new.c")]


def test_hunk_lines_starting_with_dashes_are_not_headers() -> None:
    text = "--- a/f.c\n+++ b/f.c\n@@ -1,2 +1,2 @@\n--- x\n+++ y\n ctx\n@@ -10 +10 @@\n-a\n+b\n"
    (d,) = parse_patch(text)
    assert d.hunks == ((1, 1), (10, 10))
