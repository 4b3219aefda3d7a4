"""buildtools test."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from buildtools.cli import Context


class TestCommand:
    """Run the project's tests with pytest; arguments after the options go to pytest.

    Without --prefix the test fixtures build Asterisk on demand (cached by series hash) in the
    work directory. With a prefix built by `buildtools build --sanitize ...`, Asterisk's ASan/UBSan/
    LSan reports go to <workdir>/logs/sanitizer-<time>/ and are summarised after the tests
    (benchmarks/sanitizer_summary.py): a report in our code fails the run.
    """

    __test__ = False  # not a pytest test class
    name = "test"
    help = "run the tests (extra arguments go to pytest)"
    passthrough = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--prefix", type=Path, metavar="DIR",
                            help="use this installed Asterisk (exported as BUILDTOOLS_PREFIX)")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.paths import ENV_WORKDIR, project_root

        pytest_args = list(args.passthrough)
        paths = [a for a in pytest_args if not a.startswith("-") and Path(a.split("::")[0]).exists()]
        if not paths:
            pytest_args.insert(0, str(project_root() / "tests"))
        env = {**os.environ, ENV_WORKDIR: str(ctx.workdir.root)}
        reports = None
        if args.prefix:
            from buildtools.build import read_build_stamp

            env["BUILDTOOLS_PREFIX"] = str(args.prefix.absolute())
            if (read_build_stamp(args.prefix) or {}).get("sanitize"):
                reports = sanitizer_env(env, ctx.workdir.logs)
        rc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=env).returncode
        if reports is not None:
            summary = subprocess.run([sys.executable, str(project_root() / "benchmarks" / "sanitizer_summary.py"),
                                      str(reports)])
            print(f"sanitizer reports: {reports}")
            rc = rc or summary.returncode
        return rc


def sanitizer_env(env: dict[str, str], logs: Path) -> Path:
    """Point ASan/UBSan/LSan of a sanitized Asterisk at a fresh folder of logs; return it."""
    import time

    from buildtools.paths import project_root

    reports = logs / f"sanitizer-{time.strftime('%Y%m%d-%H%M%S')}"
    reports.mkdir(parents=True, exist_ok=True)
    supp = project_root() / "tests" / "sanitizer" / "asan.supp"
    env["ASAN_OPTIONS"] = f"log_path={reports}/asan:detect_leaks=1:suppressions={supp}"
    env["UBSAN_OPTIONS"] = f"log_path={reports}/ubsan:print_stacktrace=1"
    return reports
