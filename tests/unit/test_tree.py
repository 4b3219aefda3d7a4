"""Tree recognition and version detection."""

from pathlib import Path

import pytest
from unit_helpers import git, make_tree

from buildtools.errors import SourceError
from buildtools.tree import Tree, latest_tree
from buildtools.version import Version


def test_version_from_dot_version(tree_dir: Path) -> None:
    tree = Tree.open(tree_dir)
    assert tree.version == Version.parse("22.10.1") and tree.branch == "22"


def test_version_from_git_tag(tmp_path: Path) -> None:
    path = make_tree(tmp_path / "t", version=None)
    git(path, "init", "-q")
    git(path, "add", ".")
    git(path, "commit", "-qm", "x")
    git(path, "tag", "22.9.0")
    assert Tree(path).version == Version.parse("22.9.0")
    (path / "README").write_text("x")
    git(path, "add", ".")
    git(path, "commit", "-qm", "y")  # describe: 22.9.0-1-g<hash>
    assert Tree(path).version == Version.parse("22.9.0")


def test_master_checkout_from_git(tmp_path: Path) -> None:
    """A git checkout of master: make_version says GIT-master-<…> (AC_INIT names the branch)."""
    path = make_tree(tmp_path / "t", version=None)
    (path / "configure.ac").write_text("AC_PREREQ(2.60)\n\nAC_INIT([asterisk], [master], [https://x/issues])\n")
    git(path, "init", "-q")
    git(path, "add", ".")
    git(path, "commit", "-qm", "x")
    tree = Tree(path)
    assert tree.version.is_master and tree.branch == "master"
    assert str(tree.version) == "GIT-master-" + git(path, "rev-parse", "--short", "HEAD").strip()


def test_master_from_dot_version(tmp_path: Path) -> None:
    path = make_tree(tmp_path / "t", version="GIT-master-f0c1c1a7b7")
    assert Tree(path).branch == "master"


def test_no_version_names_the_tree(tmp_path: Path) -> None:
    path = make_tree(tmp_path / "t", version=None)
    with pytest.raises(SourceError, match=f"{path}: no .version file and no git tag"):
        Tree(path).version  # noqa: B018


def test_not_a_tree(tmp_path: Path) -> None:
    (tmp_path / "main").mkdir()
    (tmp_path / "main/asterisk.c").write_text("")
    assert not Tree(tmp_path).is_asterisk_tree()
    with pytest.raises(SourceError, match=r"not an Asterisk source tree \(no include/asterisk\.h"):
        Tree.open(tmp_path)


def test_latest_tree(tmp_path: Path) -> None:
    make_tree(tmp_path / "asterisk-22.9.0", "22.9.0")
    make_tree(tmp_path / "asterisk-22.10.1", "22.10.1")
    assert latest_tree(tmp_path).path.name == "asterisk-22.10.1"
    with pytest.raises(SourceError, match="no Asterisk tree in"):
        latest_tree(tmp_path / "empty")
