"""Replay every committed fuzz input (tests/fuzz/<target>/regressions/ and corpus/) through its
harness built with ASan/UBSan from the tree under test: each crash once found stays fixed."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildtools import fuzz

# Findings kept as regression inputs (see README, "Fuzzing")
KNOWN = {
    "cause_code": ["001-short-payload", "001-has-data-unterminated-code", "004-unterminated-channel-name"],
    "qualify_codes": ["002-trailing-backslash", "003-blank-token", "003-all-blank", "003-empty-value"],
}


@pytest.fixture(scope="module")
def fuzz_tree(asterisk_tree: Path) -> Path:
    fuzz.clang()  # a ConfigError naming the missing package, not a skip
    fuzz.check_tree(asterisk_tree, list(fuzz.TARGETS.values()))
    return asterisk_tree


@pytest.mark.parametrize("name", sorted(fuzz.TARGETS))
def test_replay(name: str, fuzz_tree: Path, tmp_path: Path) -> None:
    target = fuzz.TARGETS[name]
    binary = fuzz.build(fuzz_tree, target, tmp_path / "build", tmp_path / "build.log")
    files = fuzz.inputs(target)
    assert files, f"{target.dir} has no corpus"
    for known in KNOWN.get(name, []):
        assert target.regressions / known in files
    res = fuzz.replay(binary, files, tmp_path / "replay.log")
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"{name}: an input crashes the harness:\n{out[-4000:]}"
    assert out.count("Running: ") == len(files) and f"Executed {files[-1]}" in out


def test_fork_mode_is_one_run_counted_over_its_workers(fuzz_tree: Path, tmp_path: Path) -> None:
    """`buildtools fuzz --jobs 2`: libFuzzer's fork mode, stopped by --runs summed over both workers."""
    target = fuzz.TARGETS["cause_code"]
    binary = fuzz.build(fuzz_tree, target, tmp_path / "build", tmp_path / "build.log")
    r = fuzz.run(binary, target, tmp_path / "work", 120, tmp_path / "run.log", runs=200_000, jobs=2)
    text = (tmp_path / "run.log").read_text()
    assert r.rc == 0 and not r.findings, text[-4000:]
    assert "-fork=2" in text.splitlines()[0]
    assert "fuzzed for" in text and "iterations, wrapping up soon" in text, text[-4000:]
    assert r.execs >= 200_000 and r.exec_per_s > 0
    assert r.seconds < 120  # stopped by the runs, not the time
