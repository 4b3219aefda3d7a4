"""The CLI in-process: help, usage errors, exit codes, pass-through arguments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from unit_helpers import Project

from buildtools.cli import main
from buildtools.commands import COMMANDS


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return [ln for ln in err.splitlines() if ln.startswith("buildtools: error:")]


@pytest.mark.parametrize("argv", [["--help"], *([c.name, "--help"] for c in COMMANDS)])
def test_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 0
    assert "usage: buildtools" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["fetch", "--source", "nope"], "argument --source: invalid choice: 'nope'"),
    (["fetch", "--version", "latest"], "--version: 'latest' is not an Asterisk branch or release"),
    (["fetch", "--sha256", "0" * 64], "--sha256 does not apply to --source debian"),
    (["fetch", "--source", "tarball", "--sha256", "xyz"], "--sha256: 'xyz' is not a sha256 hex digest"),
    (["fetch", "--source", "path"], "--source path needs --tree DIR"),
    (["build", "--bogus"], "unrecognized arguments: --bogus"),
    ([], "no command given"),
])
def test_usage_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and message in lines[0]


@pytest.mark.parametrize("command", ["apply", "build"])
def test_tree_that_is_not_asterisk(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([command, "--tree", str(tmp_path)]) == 2
    assert error_lines(capsys) == [f"buildtools: error: {tmp_path} is not an Asterisk source tree (no main/asterisk.c)"]


def test_fetch_path_prints_version_and_tree(tree_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-q", "fetch", "--source", "path", "--tree", str(tree_dir)]) == 0
    assert capsys.readouterr().out == f"Asterisk 22.10.1: {tree_dir}\n"


def test_apply_check_and_workdir(standard_project: Project, tree_dir: Path, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--workdir", str(tmp_path / "w2"), "apply", "--check", "--tree", str(tree_dir)]) == 0
    assert capsys.readouterr().out.startswith("would apply 2 patches, 1 module")
    assert (tmp_path / "w2/logs/apply.log").is_file()


def test_apply_default_tree_is_newest_in_workdir(standard_project: Project, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["apply"]) == 2
    assert "no Asterisk tree in" in error_lines(capsys)[0]


def test_missing_project_root_has_a_hint(tree_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BUILDTOOLS_PROJECT_ROOT", str(tmp_path / "nowhere"))
    assert main(["apply", "--tree", str(tree_dir)]) == 2
    assert "BUILDTOOLS_PROJECT_ROOT" in error_lines(capsys)[0]


def test_internal_error_is_exit_1_with_log(tree_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    def boom(*a: object, **k: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("buildtools.sources.LocalSource.fetch", boom)
    assert main(["fetch", "--source", "path", "--tree", str(tree_dir)]) == 1
    err = capsys.readouterr().err
    assert "buildtools: error: internal error: RuntimeError: boom" in err and "Traceback" not in err
    assert "RuntimeError: boom" in (tmp_path / "work/logs/internal-error.log").read_text()


@pytest.mark.parametrize(("argv", "expected"), [
    (["test", "-k", "foo", "-x"], ["-k", "foo", "-x"]),
    (["test", "--prefix", "/opt/p", "-k", "foo"], ["-k", "foo"]),
    (["-v", "test", "--", "--prefix", "x"], ["--prefix", "x"]),
])
def test_test_passes_arguments_through(argv: list[str], expected: list[str], standard_project: Project,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_run(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 5)

    monkeypatch.setattr("buildtools.commands.test.subprocess.run", fake_run)
    assert main(argv) == 5
    assert seen["cmd"][2:] == ["pytest", str(standard_project.root / "tests"), *expected]
    assert seen["env"]["BUILDTOOLS_WORKDIR"].endswith("/work")
    assert ("BUILDTOOLS_PREFIX" in seen["env"]) == ("--prefix" in argv[:3])


def test_global_options_after_the_command(tree_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "--workdir", str(tmp_path / "w3"), "-q", "--source", "path", "--tree", str(tree_dir)]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and (tmp_path / "w3/logs/fetch.log").is_file()


def test_matrix_table_helpers() -> None:
    from buildtools.commands.matrix import Row, pytest_summary, render

    assert pytest_summary("....\n===== 130 passed, 2 skipped in 75.20s (0:01:15) =====\n") == "130 passed, 2 skipped"
    assert pytest_summary("FAILED x\n= 1 failed, 129 passed in 80s =\n") == "1 failed, 129 passed"
    assert pytest_summary("crashed") == "no pytest summary"
    row = Row(Path("/x/asterisk-20.21.0-rc1"), "20.21.0-rc1", "patches/20: 22/0001-0003", "pass (1 passed)", True,
              {"apply": 0.2, "build": 150.0, "test": 80.4})
    table = render([row, Row(Path("/x/t"))]).splitlines()
    assert table[2] == ("| asterisk-20.21.0-rc1 | 20.21.0-rc1 | patches/20: 22/0001-0003 | pass (1 passed) "
                        "| 0 s | 2 min 30 s | 80 s |")
    assert table[3] == "| t | ? | - | not run | - | - | - |"


def test_matrix_refuses_a_non_tree(tmp_path: Path, capsys) -> None:
    from buildtools.cli import main

    assert main(["matrix", str(tmp_path)]) == 2
    assert f"{tmp_path} is not an Asterisk source tree" in capsys.readouterr().err
