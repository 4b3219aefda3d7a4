"""The `buildtools` command line: parser, logging, and errors → exit codes.

Exit codes: 0 success; 1 internal error (a bug: traceback in <workdir>/logs/internal-error.log);
2 usage error (a bad option or environment variable, errors.ConfigError); 3 a step failed
(fetch, apply, build, sandbox: one `buildtools: error:` line naming it); 130 interrupted.
`buildtools test` returns pytest's own exit code once pytest ran.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import traceback
from collections.abc import Sequence
from typing import NoReturn

from buildtools.commands import COMMANDS, Command
from buildtools.context import Context
from buildtools.errors import BuildtoolsError, ConfigError
from buildtools.paths import Workdir

log = logging.getLogger("buildtools")

__all__ = ["Context", "build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """Usage errors become ConfigError (one `buildtools: error:` line) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"buildtools: {level}{record.getMessage()}"


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool, verbosity: bool = True) -> None:
    """Options accepted before and after the command (after it, they only override when given).
    After a pass-through command, -v and -q are not ours: they go on with the other arguments."""
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--workdir", metavar="DIR", default=default(None),
                        help="caches, trees, logs and the default prefix (default: $BUILDTOOLS_WORKDIR "
                             "or ~/.cache/buildtools)")
    if verbosity:
        parser.add_argument("-v", "--verbose", action="count", default=default(0),
                            help="more output (-v: commands and their output)")
        parser.add_argument("-q", "--quiet", action="count", default=default(0), help="less output")
    parser.add_argument("--debug", action="store_true", default=default(False),
                        help="show tracebacks of internal errors")


def _commands() -> list[Command]:
    return [c() if isinstance(c, type) else c for c in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command."""
    parser = _Parser(prog="buildtools", allow_abbrev=False,
                     description="Fetch Asterisk, apply our res_pjsip patches and modules, build, install, "
                                 "test and run it.",
                     epilog="exit codes: 0 ok, 1 internal error, 2 usage error, 3 a step failed, "
                            "130 interrupted; `test` returns pytest's exit code")
    _add_global_options(parser, defaults=True)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cmd in _commands():
        common = _Parser(add_help=False, allow_abbrev=False)
        _add_global_options(common, defaults=False, verbosity=not cmd.passthrough)
        p = sub.add_parser(cmd.name, help=cmd.help, description=inspect.cleandoc(cmd.__doc__ or ""),
                           formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common],
                           allow_abbrev=False)
        cmd.add_arguments(p)
        p.set_defaults(command=cmd)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    """Parse `argv`; a pass-through command gets every argument that is not its own option in
    `args.passthrough` (in order, wherever it stands; a first `--` ends our options)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(list(argv))
    if not hasattr(args, "command"):
        if extra:
            raise ConfigError(f"unrecognized arguments: {' '.join(extra)}")
        raise ConfigError(f"no command given (choose from {', '.join(c.name for c in _commands())})")
    if args.command.passthrough:
        if "--" in extra:
            extra.remove("--")
        args.passthrough = extra
    elif extra:
        raise ConfigError(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _setup_logging(level: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.setLevel(level)
    log.propagate = False


def _report(err: BuildtoolsError) -> None:
    print(f"buildtools: error: {err.message}", file=sys.stderr)
    if err.details:
        print("\n".join(f"  | {line}" for line in err.details.splitlines()), file=sys.stderr)
    if err.hint:
        print(f"buildtools: hint: {err.hint}", file=sys.stderr)
    if err.log:
        print(f"buildtools: see {err.log}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default sys.argv[1:]); return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _setup_logging(logging.INFO)
    try:
        args = parse(argv)
    except SystemExit as e:  # --help
        return e.code if isinstance(e.code, int) else 0
    except BuildtoolsError as e:
        _report(e)
        return e.exit_code
    levels = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    _setup_logging(levels[max(0, min(3, 1 - args.verbose + args.quiet))])
    ctx = None
    try:
        ctx = Context(Workdir.resolve(args.workdir), debug=args.debug)
        return args.command.run(ctx, args)
    except BuildtoolsError as e:
        _report(e)
        return e.exit_code
    except KeyboardInterrupt:
        print("buildtools: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: traceback to a log file (inline with --debug)
        print(f"buildtools: error: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        text = traceback.format_exc()
        if args.debug or ctx is None:
            print(text, file=sys.stderr, end="")
        else:
            path = ctx.workdir.log("internal-error")
            path.write_text(text)
            print(f"buildtools: see {path} (or rerun with --debug)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
