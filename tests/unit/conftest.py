"""Fixtures for the unit tests: isolated environment, a fake Asterisk tree, a fake project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from unit_helpers import GIT_ENV, MODULE, PATCH1, PATCH2, Project, make_tree

from buildtools.paths import ENV_PROJECT_ROOT, ENV_WORKDIR, Workdir


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No BUILDTOOLS_* from the caller; private HOME, cwd and workdir; git identity."""
    for key in list(os.environ):
        if key.startswith("BUILDTOOLS_"):
            monkeypatch.delenv(key)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv(ENV_WORKDIR, str(tmp_path / "work"))
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def workdir(tmp_path: Path) -> Workdir:
    """The test's work directory."""
    return Workdir(tmp_path / "work")


@pytest.fixture
def tree_dir(tmp_path: Path) -> Path:
    """A fake Asterisk 22.10.1 tree."""
    return make_tree(tmp_path / "src" / "asterisk-22.10.1")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    """An empty fake project, selected with BUILDTOOLS_PROJECT_ROOT."""
    monkeypatch.setenv(ENV_PROJECT_ROOT, str(tmp_path / "project"))
    return Project(tmp_path / "project")


@pytest.fixture
def standard_project(project: Project) -> Project:
    """Two patches (the second with two hunks) and one module."""
    project.series({"0001-pjsip-first.patch": PATCH1, "0002-session-second.patch": PATCH2})
    project.module("res_x.c", MODULE)
    return project
