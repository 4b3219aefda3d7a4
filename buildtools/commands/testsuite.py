"""buildtools testsuite."""

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


class TestsuiteCommand:
    """Run our tests/testsuite/ tests and the stock tests that touch our code with asterisk/testsuite.

    Copies tests/testsuite/tests/* into the asterisk/testsuite checkout --testsuite-dir (listing
    each in its parent tests.yaml), creates its .venv (requirements.txt; starpy from --starpy,
    a local checkout), and runs its runtests.py against --prefix inside private PID, network and
    mount namespaces (runtests.py kills every asterisk and sipp it can see). Without test
    arguments it runs all of ours plus the stock tests of buildtools.testsuite.STOCK_TESTS. The
    prefix must be built with TEST_FRAMEWORK (`--profile testsuite`). Exit 1 when a test fails
    or is skipped (a skipped test is a missing module or option, not a pass).
    """

    name = "testsuite"
    help = "run the official-testsuite tests (ours and the stock ones) with runtests.py"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from buildtools.testsuite import ENV_STARPY

        parser.add_argument("--testsuite-dir", type=Path, required=True, metavar="DIR",
                            help="a checkout of asterisk/testsuite (its tests.yaml files get our tests listed)")
        parser.add_argument("--starpy", type=Path, metavar="DIR",
                            help=f"a checkout of asterisk/starpy (default: ${ENV_STARPY})")
        parser.add_argument("--prefix", type=Path, metavar="DIR",
                            help="the Asterisk to test (default: <workdir>/prefix)")
        parser.add_argument("--no-stock", action="store_true", help="only our tests")
        parser.add_argument("tests", nargs="*", metavar="TEST",
                            help="tests to run, as paths in the checkout (tests/channels/...); default: ours "
                                 "and the stock ones")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools.errors import ConfigError
        from buildtools.paths import project_root
        from buildtools.testsuite import ENV_STARPY, STOCK_TESTS, our_tests, run_testsuite

        root = project_root()
        starpy = args.starpy or (Path(os.environ[ENV_STARPY]) if os.environ.get(ENV_STARPY) else None)
        if starpy is None:
            raise ConfigError(f"no starpy checkout: pass --starpy DIR or set {ENV_STARPY}")
        tests = [t.rstrip("/") for t in args.tests] or [*our_tests(root), *(() if args.no_stock else STOCK_TESTS)]
        prefix = (args.prefix or ctx.workdir.prefix).absolute()
        start = time.monotonic()
        rc, outcomes = run_testsuite(root, args.testsuite_dir.absolute(), prefix, starpy.absolute(), tests,
                                     ctx.workdir.log("testsuite"))
        for o in outcomes:
            print(f"{o.status.upper():8} {o.name} ({o.seconds:.1f} s){'  ' + o.detail if o.detail else ''}")
        counts = {s: sum(o.status == s for o in outcomes) for s in ("passed", "failed", "skipped")}
        missing = len(tests) - len(outcomes)
        print(f"testsuite: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped"
              f"{f', {missing} not run' if missing else ''} of {len(tests)} in {time.monotonic() - start:.0f} s "
              f"(runtests.py exit {rc}; log {ctx.workdir.log('testsuite')})")
        return 0 if counts["passed"] == len(tests) else 1
