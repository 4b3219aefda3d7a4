"""Unit test of the Reason parser (main/hangup_reason.c), compiled from the patched tree."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).parent
pytestmark = pytest.mark.asterisk


def test_reason_parser(asterisk_tree: Path, tmp_path: Path):
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler, "a C compiler is needed (build-essential)"
    binary = tmp_path / "reason_parser_test"
    subprocess.run(
        [compiler, "-Wall", "-Werror", "-I", str(asterisk_tree / "include"), "-DAST_MODULE=\"core\"",
         "-DAST_IN_CORE", "-o", str(binary), str(asterisk_tree / "main" / "hangup_reason.c"),
         str(HERE / "reason_parser_test.c")],
        check=True, capture_output=True, text=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    assert result.stdout.splitlines()[-1].endswith(" 0 failed")
