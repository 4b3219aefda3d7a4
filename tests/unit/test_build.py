"""The build step's skip logic: what makes configure, install and ensure_built do nothing."""

from __future__ import annotations

import json
import os
import re
import stat
import time
from pathlib import Path

import pytest
from unit_helpers import Project, make_tree

from buildtools import build, pipeline
from buildtools.paths import Workdir
from buildtools.series import Series
from buildtools.tree import Tree


def _write_stamp(prefix: Path, **stamp: str) -> None:
    (prefix / "sbin").mkdir(parents=True, exist_ok=True)
    (prefix / "sbin" / "asterisk").write_text("binary")
    (prefix / build.BUILD_STAMP).write_text(json.dumps(stamp))


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


@pytest.fixture
def built(tree_dir: Path, tmp_path: Path) -> tuple[Tree, Path, dict]:
    """A tree with a built main/asterisk and a prefix installed from it after the build."""
    tree = Tree.open(tree_dir)
    (tree_dir / "main" / "asterisk").write_text("built")
    _age(tree_dir / "main" / "asterisk", 60)
    prefix = tmp_path / "prefix"
    stamp = {"version": "22.10.1", "series_hash": None, "profile": "minimal", "tree": str(tree.path)}
    _write_stamp(prefix, **stamp)
    return tree, prefix, stamp


def test_install_is_skipped_for_the_same_stamp_and_no_newer_binary(built) -> None:
    tree, prefix, stamp = built
    assert build._installed(tree, prefix, stamp)


@pytest.mark.parametrize("key, value", [("series_hash", "other"), ("profile", "full"), ("version", "22.9.0"),
                                        ("tree", "/elsewhere"), ("malloc_debug", True)])
def test_install_runs_when_the_stamp_differs(built, key: str, value: str) -> None:
    tree, prefix, stamp = built
    assert not build._installed(tree, prefix, {**stamp, key: value})


def test_install_runs_when_make_rebuilt_something(built) -> None:
    tree, prefix, stamp = built
    (tree.path / "main" / "asterisk").touch()  # newer than the stamp
    assert not build._installed(tree, prefix, stamp)


def test_install_runs_when_the_binary_is_gone(built) -> None:
    tree, prefix, stamp = built
    (prefix / "sbin" / "asterisk").unlink()
    assert not build._installed(tree, prefix, stamp)


def test_configure_is_skipped_when_config_status_has_the_same_arguments(tree_dir: Path, workdir: Workdir,
                                                                        tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CC", "gcc")
    prefix = tmp_path / "prefix"
    args = [f"--prefix={prefix}", "--with-pjproject-bundled", f"--with-externals-cache={workdir.externals}",
            "--without-x11", "CC=gcc"]
    status = tree_dir / "config.status"
    status.write_text("#!/bin/sh\necho \"" + " ".join(f"'{a}'" for a in reversed(args)) + "\"\n")
    status.chmod(status.stat().st_mode | stat.S_IXUSR)
    configure = tree_dir / "configure"
    configure.write_text("#!/bin/sh\ntouch configure-ran\n")
    configure.chmod(0o755)
    build.configure(Tree.open(tree_dir), workdir, prefix)
    assert not (tree_dir / "configure-ran").exists()
    # Another prefix: configure runs.
    build.configure(Tree.open(tree_dir), workdir, tmp_path / "other")
    assert (tree_dir / "configure-ran").exists()


def test_ensure_built_returns_at_once_for_a_current_stamp(standard_project: Project, workdir: Workdir,
                                                          monkeypatch) -> None:
    def no_pipeline(*a, **kw):
        raise AssertionError("pipeline ran")

    monkeypatch.setattr(pipeline, "pipeline", no_pipeline)
    tree = make_tree(workdir.src / "asterisk-22.10.1")
    series = Series.select(standard_project.root, Tree.open(tree))
    _write_stamp(workdir.prefix, version="22.10.1", series_hash=series.hash, profile="minimal", tree=str(tree))
    (workdir.prefix / "include" / "asterisk").mkdir(parents=True)
    (workdir.prefix / "include" / "asterisk.h").write_text("")
    (workdir.prefix / "include" / "asterisk" / "buildopts.h").write_text("")
    assert pipeline.ensure_built(workdir) == workdir.prefix

    # A changed series, or missing headers, means a pipeline run.
    standard_project.module("res_y.c", "/* new */\n")
    with pytest.raises(AssertionError, match="pipeline ran"):
        pipeline.ensure_built(workdir)


def test_make_heartbeat_names_elapsed_lines_and_last_target(tmp_path: Path) -> None:
    import logging

    from buildtools.util import Heartbeat, run

    script = tmp_path / "make.sh"
    script.write_text("#!/bin/sh\necho '   [CC] main/a.c -> main/a.o'\necho noise\nsleep 2.5\n"
                      "echo '   [LD] main/asterisk'\nsleep 2.5\n")
    script.chmod(0o755)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("buildtools")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not .level =: it clears the logger's isEnabledFor() cache
    try:
        run([script], tmp_path, tmp_path / "make.log", "make", heartbeat=1.0)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    beats = [r.getMessage() for r in records if "still running" in r.getMessage()]
    # A beat every second (timing, not content, depends on the machine's load: no exact second)
    assert any(re.fullmatch(r"make: still running, [12] s, 2 lines, last \[CC\] main/a\.c -> main/a\.o", b)
               for b in beats), beats
    assert beats[-1].endswith(" s, 3 lines, last [LD] main/asterisk")
    assert Heartbeat("make", 15).message() == "make: still running, 0 s, 0 lines"
