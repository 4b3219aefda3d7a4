"""buildtools matrix."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from buildtools.build import PROFILES

if TYPE_CHECKING:
    from buildtools.cli import Context
    from buildtools.series import Series

log = logging.getLogger("buildtools")


@dataclass
class Row:
    """One tree's line of the matrix."""

    tree: Path
    version: str = "?"
    series: str = "-"
    result: str = "not run"
    ok: bool = False
    times: dict[str, float] = field(default_factory=dict)


def describe_series(series: Series) -> str:
    """`patches/20: 22/0001-0003 master/0004 22/0005-0006`: where each chosen patch comes from."""
    runs: list[tuple[str, list[str]]] = []
    for p in series.patches:
        where = p.label.split("/")[1] if p.label.count("/") >= 2 else "?"
        num = p.name[:4]
        if runs and runs[-1][0] == where:
            runs[-1][1].append(num)
        else:
            runs.append((where, [num]))
    parts = [f"{w}/{n[0]}" + (f"-{n[-1]}" if len(n) > 1 else "") for w, n in runs]
    return f"patches/{series.branch}: {' '.join(parts)}"


def _fmt_time(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:02.0f} s"


def pytest_summary(output: str) -> str:
    """`130 passed, 1 failed` from pytest's last summary line."""
    lines = [ln for ln in output.splitlines() if re.search(r"\b(passed|failed|error|errors|no tests ran)\b", ln)]
    if not lines:
        return "no pytest summary"
    counts = re.findall(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)", lines[-1])
    return ", ".join(f"{n} {what}" for n, what in counts) or lines[-1].strip("= ")


def render(rows: list[Row]) -> str:
    """The matrix as a Markdown table."""
    out = ["| tree | version | series | result | apply | build | test |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        t = [(_fmt_time(r.times[k]) if k in r.times else "-") for k in ("apply", "build", "test")]
        out.append(f"| {r.tree.name} | {r.version} | {r.series} | {r.result} | {' | '.join(t)} |")
    return "\n".join(out)


@contextlib.contextmanager
def _maybe_locked(lock: Path | None) -> Iterator[None]:
    from buildtools.util import file_lock

    if lock is None:
        yield
        return
    log.info("waiting for %s", lock)
    with file_lock(lock):
        yield


class MatrixCommand:
    """apply → build → the whole test suite, for each given tree, then one table.

    Each tree is patched in place (its series chosen by its branch and content), built into
    <workdir>/matrix/<tree name>/prefix, and tested with `pytest tests/` against that prefix and
    tree (BUILDTOOLS_PREFIX, BUILDTOOLS_TREE): unit tests, the alembic check on that tree, and every
    integration test. A failing tree does not stop the others; the exit code is 1 if any failed.
    """

    name = "matrix"
    help = "apply, build and test several trees; print one table"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("trees", nargs="+", type=Path, metavar="TREE", help="Asterisk source trees")
        parser.add_argument("--profile", choices=PROFILES, default="minimal", help="build profile (default: minimal)")
        parser.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel make jobs (default: CPU count)")
        parser.add_argument("--lock", type=Path, metavar="FILE", default=os.environ.get("BUILDTOOLS_LOCK"),
                            help="hold an exclusive flock on FILE while each tree is built and tested, so that "
                                 "other heavy jobs on the machine wait (default: $BUILDTOOLS_LOCK, else none)")
        parser.add_argument("--pytest-args", default="", metavar="ARGS",
                            help="extra pytest arguments, one string (e.g. '-x' or '-k qualify')")
        parser.add_argument("--output", type=Path, metavar="FILE", help="also write the table to FILE")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.errors import BuildtoolsError, ConfigError
        from buildtools.tree import Tree

        for path in args.trees:  # a wrong argument is a usage error, reported before anything runs
            try:
                Tree.open(path)
            except BuildtoolsError as e:
                raise ConfigError(f"TREE {path}: {e.message}") from None
        rows = []
        started = time.strftime("%Y-%m-%d %H:%M %Z")
        for path in args.trees:
            row = Row(path.absolute())
            rows.append(row)
            try:
                self._one(ctx, args, Tree.open(path), row)
            except BuildtoolsError as e:
                row.result = f"{row.result}: {e.message}"
                log.error("%s: %s", path, e.message)
            log.info("%s: %s", path.name, row.result)
        table = render(rows)
        print(f"\nVersion matrix, {started}, {os.cpu_count()} cores:\n\n{table}")
        if args.output:
            args.output.write_text(f"Version matrix, {started}\n\n{table}\n")
        return 0 if all(r.ok for r in rows) else 1

    def _one(self, ctx: Context, args: argparse.Namespace, tree, row: Row) -> None:
        from buildtools.paths import project_root
        from buildtools.series import Series, apply_series
        from buildtools.util import step

        root = project_root()
        row.version = str(tree.version)
        row.result = "apply failed"
        t0 = time.monotonic()
        series = Series.select(root, tree)
        row.series = describe_series(series)
        with step(f"apply {tree.path.name}", ctx.workdir.log("apply")) as log_path:
            log.info(apply_series(tree, series, log_path).message)
        row.times["apply"] = time.monotonic() - t0

        with _maybe_locked(args.lock):  # one hold for build and tests: fewer waits behind other jobs
            self._build_and_test(ctx, args, tree, series, row)

    def _build_and_test(self, ctx: Context, args: argparse.Namespace, tree, series: Series, row: Row) -> None:
        from buildtools.build import build
        from buildtools.paths import ENV_WORKDIR, project_root

        root = project_root()
        row.result = "build failed"
        prefix = ctx.workdir.root / "matrix" / tree.path.name / "prefix"
        t0 = time.monotonic()
        build(tree, ctx.workdir, prefix, profile=args.profile, jobs=args.jobs, modules=series.module_names)
        row.times["build"] = time.monotonic() - t0

        row.result = "tests failed"
        log_path = ctx.workdir.log(f"matrix-test-{tree.path.name}")
        env = {**os.environ, "BUILDTOOLS_PREFIX": str(prefix), "BUILDTOOLS_TREE": str(tree.path),
               ENV_WORKDIR: str(ctx.workdir.root)}
        cmd = [sys.executable, "-m", "pytest", str(root / "tests"), "-q", "-p", "no:cacheprovider",
               *args.pytest_args.split()]
        log.info("test %s ... (log: %s)", tree.path.name, log_path)
        t0 = time.monotonic()
        with open(log_path, "w") as f:
            rc = subprocess.run(cmd, cwd=root, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
        row.times["test"] = time.monotonic() - t0
        summary = pytest_summary(log_path.read_text(errors="replace"))
        row.ok = rc == 0
        row.result = f"pass ({summary})" if row.ok else f"FAIL ({summary}; {log_path})"
