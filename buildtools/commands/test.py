"""buildtools test."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from buildtools.context import Context
from buildtools.errors import ConfigError

log = logging.getLogger("buildtools")

TEST_DIRS = ("tests/unit", "tests/tree", "tests/fuzz", "tests/integration")


def _selected_paths(pytest_args: list[str]) -> list[str]:
    """The test paths among pytest's arguments (existing files or dirs, `path::test` too)."""
    return [a for a in pytest_args if not a.startswith("-") and Path(a.split("::")[0]).exists()]


def needs_asterisk(paths: list[str], root: Path) -> bool:
    """Whether the selected tests include any outside tests/unit (which never start Asterisk)."""
    unit = (root / "tests" / "unit").resolve()
    return not paths or any(not Path(p.split("::")[0]).resolve().is_relative_to(unit) for p in paths)


class TestCommand:
    """Build (or find up to date) Asterisk, then run the tests with pytest.

    Every argument that is not one of the options below goes to pytest unchanged, wherever it
    stands (`buildtools test -v -k qualify -x`). Without test paths the unit tests run first,
    then the integration tests. Asterisk is built first, like `buildtools pipeline` does (cached:
    nothing is rebuilt while the series and build stamp match); a build failure is one error
    (exit code 3) and pytest does not start. With --prefix (or $BUILDTOOLS_PREFIX) nothing is
    built. Only unit tests selected: nothing is built.
    """

    __test__ = False  # not a pytest test class
    name = "test"
    help = "build if needed, then run the tests (other arguments go to pytest)"
    passthrough = True

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--prefix", type=Path, metavar="DIR",
                            help="test this installed Asterisk; build nothing (exported as BUILDTOOLS_PREFIX)")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.paths import ENV_WORKDIR, project_root

        root = project_root()
        pytest_args = list(args.passthrough)
        paths = _selected_paths(pytest_args)
        if not paths:
            pytest_args[:0] = [str(root / d) for d in TEST_DIRS]
        env = {**os.environ, ENV_WORKDIR: str(ctx.workdir.root)}
        reports = None
        prefix = args.prefix or (Path(env["BUILDTOOLS_PREFIX"]) if env.get("BUILDTOOLS_PREFIX") else None)
        if prefix is not None:
            if not (prefix / "sbin" / "asterisk").is_file():
                raise ConfigError(f"--prefix {prefix}: no installed Asterisk there (no sbin/asterisk)")
            env["BUILDTOOLS_PREFIX"] = str(prefix.absolute())
        elif needs_asterisk(paths, root):
            from buildtools.pipeline import ensure_built

            env["BUILDTOOLS_PREFIX"] = str(ensure_built(ctx.workdir))
            log.info("testing Asterisk in %s", env["BUILDTOOLS_PREFIX"])
        if env.get("BUILDTOOLS_PREFIX"):
            from buildtools.build import read_build_stamp

            if (read_build_stamp(Path(env["BUILDTOOLS_PREFIX"])) or {}).get("sanitize"):
                reports = sanitizer_env(env, ctx.workdir.logs)
        rc = subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=env).returncode
        if reports is not None:
            summary = subprocess.run([sys.executable, str(root / "benchmarks" / "sanitizer_summary.py"),
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
