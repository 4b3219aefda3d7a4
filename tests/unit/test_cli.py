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
    assert main([command, "--tree", str(tmp_path)]) == 3
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
    assert main(["apply"]) == 3
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


@pytest.fixture
def fake_pytest(monkeypatch: pytest.MonkeyPatch) -> dict:
    """Replaces the pytest run of `buildtools test`; records its command and environment."""
    seen: dict = {}

    def fake_run(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
        seen.update(cmd=cmd, env=env)
        return subprocess.CompletedProcess(cmd, 5)

    monkeypatch.setattr("buildtools.commands.test.subprocess.run", fake_run)
    return seen


@pytest.fixture
def fake_prefix(tmp_path: Path) -> Path:
    (tmp_path / "p" / "sbin").mkdir(parents=True)
    (tmp_path / "p" / "sbin" / "asterisk").write_text("")
    return tmp_path / "p"


@pytest.mark.parametrize(("argv", "expected"), [
    (["test", "-k", "foo", "-x"], ["-k", "foo", "-x"]),
    (["test", "-v", "-k", "x"], ["-v", "-k", "x"]),
    (["test", "-k", "x", "-q", "--prefix", "P", "-v"], ["-k", "x", "-q", "-v"]),
    (["test", "--prefix", "P", "-k", "foo"], ["-k", "foo"]),
    (["-v", "test", "--prefix", "P", "--", "--prefix", "x"], ["--prefix", "x"]),
])
def test_test_passes_arguments_through(argv: list[str], expected: list[str], standard_project: Project,
                                       fake_pytest: dict, fake_prefix: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("buildtools.pipeline.ensure_built", lambda workdir: fake_prefix)  # the build is tested below
    argv = [str(fake_prefix) if a == "P" else a for a in argv]
    assert main(argv) == 5
    tests = standard_project.root / "tests"
    assert fake_pytest["cmd"][2:] == ["pytest", str(tests / "unit"), str(tests / "tree"), str(tests / "fuzz"), str(tests / "integration"), *expected]
    assert fake_pytest["env"]["BUILDTOOLS_WORKDIR"].endswith("/work")
    assert fake_pytest["env"]["BUILDTOOLS_PREFIX"] == str(fake_prefix)


def test_test_builds_first_and_a_build_failure_is_one_error(standard_project: Project, fake_pytest: dict,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from buildtools.errors import BuildError

    def failing_build(workdir):
        raise BuildError.from_command("make", ["make", "-j2"], 2, workdir.log("make"), "main/x.c:1: error: boom")

    monkeypatch.setattr("buildtools.pipeline.ensure_built", failing_build)
    assert main(["test", "-x"]) == 3
    assert error_lines(capsys) == ["buildtools: error: make: `make -j2` failed with exit code 2"]
    assert fake_pytest == {}  # pytest never started

    monkeypatch.setattr("buildtools.pipeline.ensure_built", lambda workdir: workdir.prefix)
    assert main(["test", "-x"]) == 5
    assert fake_pytest["env"]["BUILDTOOLS_PREFIX"].endswith("/work/prefix")


def test_test_of_unit_tests_only_builds_nothing(standard_project: Project, fake_pytest: dict,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("buildtools.pipeline.ensure_built", lambda workdir: pytest.fail("built"))
    unit = standard_project.root / "tests" / "unit"
    unit.mkdir(parents=True)
    assert main(["test", str(unit), "-q"]) == 5
    assert fake_pytest["cmd"][3:] == [str(unit), "-q"] and "BUILDTOOLS_PREFIX" not in fake_pytest["env"]


@pytest.mark.parametrize(("argv", "message"), [
    (["test", "--prefix", "/nonexistent"], "--prefix /nonexistent: no installed Asterisk there"),
    (["run", "--prefix", "/nonexistent"], "no Asterisk installed in /nonexistent"),
    (["run", "--sip-port", "70000"], "argument --sip-port: '70000' is not a port number"),
    (["build", "-x"], "unrecognized arguments: -x"),
    (["build", "--sanitize", "leak"], "--sanitize: unknown sanitizer 'leak'"),
    (["build", "--malloc-debug", "--sanitize", "address,undefined"],
     "--malloc-debug: Asterisk's MALLOC_DEBUG conflicts with --sanitize address"),
])
def test_usage_errors_are_exit_2(argv: list[str], message: str, standard_project: Project,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    lines = error_lines(capsys)
    assert len(lines) == 1 and message in lines[0], lines


def test_run_config_dir_errors(fake_prefix: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--prefix", str(fake_prefix), "--config", str(tmp_path / "none")]) == 2
    assert error_lines(capsys) == [f"buildtools: error: --config {tmp_path / 'none'}: not a directory"]
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "asterisk.conf").write_text("")
    assert main(["run", "--prefix", str(fake_prefix), "--config", str(tmp_path / "cfg")]) == 2
    assert "asterisk.conf is written by `buildtools run`" in error_lines(capsys)[0]


def test_commands_are_a_list_of_classes() -> None:
    from buildtools.commands import COMMANDS

    assert all(isinstance(c, type) for c in COMMANDS)
    assert [c.name for c in COMMANDS] == sorted(c.name for c in COMMANDS)


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
