"""The `buildtools` command line: parser, logging, and errors → exit codes (0 ok, 1 internal, 2 user, 130)."""

from __future__ import annotations

import argparse
import inspect
import logging
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NoReturn

from buildtools.commands import COMMANDS
from buildtools.errors import BuildtoolsError, ConfigError
from buildtools.paths import Workdir

log = logging.getLogger("buildtools")


@dataclass(frozen=True)
class Context:
    """What every command gets: the resolved work directory and global flags."""

    workdir: Workdir
    debug: bool = False


class _Parser(argparse.ArgumentParser):
    """Usage errors become ConfigError (one `buildtools: error:` line) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        return f"buildtools: {level}{record.getMessage()}"


def _add_global_options(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """Options accepted before and after the command (after it, they only override when given)."""
    def default(value: object) -> object:
        return value if defaults else argparse.SUPPRESS

    parser.add_argument("--workdir", metavar="DIR", default=default(None),
                        help="caches, trees, logs and the default prefix (default: $BUILDTOOLS_WORKDIR "
                             "or ~/.cache/buildtools)")
    parser.add_argument("-v", "--verbose", action="count", default=default(0),
                        help="more output (-v: commands and their output)")
    parser.add_argument("-q", "--quiet", action="count", default=default(0), help="less output")
    parser.add_argument("--debug", action="store_true", default=default(False),
                        help="show tracebacks of internal errors")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one subparser per command."""
    parser = _Parser(prog="buildtools", description="Fetch Asterisk, apply our res_pjsip patches and modules, "
                                                    "build, install and test it.")
    _add_global_options(parser, defaults=True)
    common = _Parser(add_help=False)
    _add_global_options(common, defaults=False)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=inspect.cleandoc(cmd.__doc__ or ""),
                           formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common])
        cmd.add_arguments(p)
        if cmd.passthrough:
            p.add_argument("passthrough", nargs=argparse.REMAINDER, metavar="...",
                           help="arguments passed on unchanged")
        p.set_defaults(command=cmd)
    return parser


def _options_end(parser: argparse.ArgumentParser, argv: Sequence[str]) -> int:
    """Index of the first argument of `argv` that is not one of the parser's own options (or their values)."""
    actions = parser._option_string_actions  # argparse has no public lookup
    i = 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if name not in actions:
            return i
        i += 1 if "=" in argv[i] or actions[name].nargs == 0 else 2
    return i


def _mark_passthrough(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Insert `--` after a pass-through command's own options (argparse.REMAINDER needs it)."""
    i = _options_end(parser, argv)
    cmd = next((c for c in COMMANDS if i < len(argv) and c.name == argv[i] and c.passthrough), None)
    if cmd is None:
        return argv
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    subparser = subparsers.choices[cmd.name]
    rest = argv[i + 1:]
    j = _options_end(subparser, rest)
    if j < len(rest) and rest[j] == "--":
        return argv
    return [*argv[:i + 1], *rest[:j], "--", *rest[j:]]


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
    parser = build_parser()
    _setup_logging(logging.INFO)
    try:
        args = parser.parse_args(_mark_passthrough(parser, argv))
        if not hasattr(args, "command"):
            raise ConfigError(f"no command given (choose from {', '.join(c.name for c in COMMANDS)})")
        if args.command.passthrough:
            args.passthrough = [a for i, a in enumerate(args.passthrough) if i or a != "--"]
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
