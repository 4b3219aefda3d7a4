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
    work directory.
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
        if args.prefix:
            env["BUILDTOOLS_PREFIX"] = str(args.prefix.absolute())
        return subprocess.run([sys.executable, "-m", "pytest", *pytest_args], env=env).returncode
