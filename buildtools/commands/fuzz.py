"""buildtools fuzz."""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from buildtools.context import Context

log = logging.getLogger("buildtools")


class FuzzCommand:
    """Build the libFuzzer harnesses of tests/fuzz/ against an applied, configured tree (clang-16,
    -fsanitize=fuzzer,address,undefined) and run each for --seconds from its committed corpus.

    New crashing inputs are copied to tests/fuzz/<target>/regressions/ (commit them: the test
    suite replays them). --replay only runs every committed input once. Targets: reason,
    bye_headers, response_headers, cause_code, qualify_codes (default: all).
    """

    name = "fuzz"
    help = "build and run the fuzz harnesses of our parsers"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("targets", nargs="*", metavar="TARGET", help="fuzz targets (default: all)")
        parser.add_argument("--tree", type=Path, metavar="DIR",
                            help="the applied, configured tree (default: the newest in <workdir>/src)")
        parser.add_argument("--seconds", type=int, default=60, metavar="N", help="per target (default: 60)")
        parser.add_argument("--runs", type=int, metavar="N", help="stop a target after N executions")
        parser.add_argument("--timeout", type=int, default=1, metavar="S",
                            help="seconds an input may take before it is a hang (default: 1, libFuzzer's wall-clock "
                                 "limit); above 1, slower inputs are still kept as slow-unit-* findings without "
                                 "stopping the run (for long runs on a shared machine: replay them alone)")
        parser.add_argument("--jobs", type=int, default=1, metavar="N",
                            help="worker processes for each target's run (libFuzzer's -fork=N; one run whose "
                                 "executions are counted over every worker; default: 1, no fork)")
        parser.add_argument("--replay", action="store_true",
                            help="only run the committed corpus and regressions once")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools import fuzz
        from buildtools.tree import open_tree
        from buildtools.errors import ConfigError

        if args.seconds < 1:
            raise ConfigError("--seconds must be 1 or more")
        if args.jobs < 1:
            raise ConfigError("--jobs must be 1 or more")
        if args.timeout < 1:
            raise ConfigError("--timeout must be 1 or more")
        targets = fuzz.select(args.targets)
        tree = open_tree(ctx.workdir.src, args.tree).path
        fuzz.check_tree(tree, targets)
        root = ctx.workdir.root / "fuzz"
        failed = 0
        rows = []
        for target in targets:
            work = root / target.name
            build_log = ctx.workdir.log(f"fuzz-build-{target.name}")
            build_log.write_text("")
            log.info("fuzz %s: building against %s", target.name, tree)
            binary = fuzz.build(tree, target, work / "build", build_log)
            if args.replay:
                files = fuzz.inputs(target)
                res = fuzz.replay(binary, files, ctx.workdir.log(f"fuzz-replay-{target.name}"))
                ok = res.returncode == 0
                failed += not ok
                print(f"{target.name}: {len(files)} inputs replayed, {'ok' if ok else 'FAILED'}"
                      + ("" if ok else f" (see {ctx.workdir.log(f'fuzz-replay-{target.name}')})"))
                continue
            log.info("fuzz %s: running for %d s", target.name, args.seconds)
            # One log per run: a second `buildtools fuzz` on the same workdir (CI beside a long run)
            # must not truncate the log of the first, which its final figures are read from
            run_log = ctx.workdir.log(f"fuzz-run-{target.name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
            r = fuzz.run(binary, target, work, args.seconds, run_log, runs=args.runs, jobs=args.jobs, timeout=args.timeout)
            failed += bool(r.findings) or r.rc != 0
            rows.append(r)
            for path in r.findings:
                print(f"{target.name}: FINDING kept as {path} (log: {run_log})")
            if r.rc and not r.findings:
                print(f"{target.name}: fuzzer exited {r.rc} (log: {run_log})")
        if rows:
            print(f"{'target':<18} {'execs':>12} {'exec/s':>8} {'seconds':>8} {'corpus':>7} findings")
            for r in rows:
                print(f"{r.target:<18} {r.execs:>12} {r.exec_per_s:>8} {r.seconds:>8.0f} {r.corpus:>7} {len(r.findings)}")
        return 1 if failed else 0
