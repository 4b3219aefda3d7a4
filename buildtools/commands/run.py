"""buildtools run."""

from __future__ import annotations

import argparse
import logging
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from buildtools.context import Context
from buildtools.errors import ConfigError

log = logging.getLogger("buildtools")


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return value


def user_configs(directory: Path) -> dict[str, str]:
    """The `*.conf` files of `--config DIR`, by name."""
    if not directory.is_dir():
        raise ConfigError(f"--config {directory}: not a directory")
    files = {p.name: p.read_text(errors="replace") for p in sorted(directory.glob("*.conf"))}
    if not files:
        raise ConfigError(f"--config {directory}: no *.conf files there")
    if "asterisk.conf" in files:
        raise ConfigError(f"--config {directory}: asterisk.conf is written by `buildtools run` (its directories "
                          f"point into the sandbox); leave it out")
    return files


class RunCommand:
    """Start the built Asterisk in a sandbox and attach its console.

    The sandbox is a private folder (config, run, log, spool dirs) with Asterisk on loopback and
    free ports, started with README's example configuration: a trunk with
    qualify_reachable_codes, the LCR failover and BYE-header dialplans, and our modules loaded.
    `--config DIR` adds your own *.conf files (they replace the example's of the same name;
    `@SIP_PORT@` in them is replaced by the SIP port). Leaving the console (`exit`, Ctrl-D or
    `core stop now`) stops Asterisk and removes the sandbox (`--keep` keeps it).
    """

    name = "run"
    help = "start the built Asterisk in a sandbox with an example configuration"
    passthrough = False

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--prefix", type=Path, metavar="DIR",
                            help="the installed Asterisk (default: <workdir>/prefix, built by `buildtools pipeline`)")
        parser.add_argument("--config", type=Path, metavar="DIR", help="your own *.conf files")
        parser.add_argument("--sip-port", type=_port, metavar="N", help="SIP port on 127.0.0.1 (default: a free one)")
        parser.add_argument("--no-console", action="store_true",
                            help="do not attach the console: run until interrupted (Ctrl-C, SIGTERM)")
        parser.add_argument("--keep", action="store_true", help="keep the sandbox folder (logs) afterwards")

    def run(self, ctx: Context, args: argparse.Namespace) -> int:
        from buildtools import example
        from buildtools.modules import SANDBOX_MODULES
        from buildtools.paths import project_root
        from buildtools.testing.asterisk import AsteriskSandbox, remove_root
        from buildtools.testing.ports import free_port

        prefix = (args.prefix or ctx.workdir.prefix).absolute()
        if not (prefix / "sbin" / "asterisk").is_file():
            raise ConfigError(f"no Asterisk installed in {prefix}",
                              hint="run `buildtools pipeline` first (or pass --prefix DIR)")
        configs = dict(example.CONFIGS)
        if args.config:
            configs.update(user_configs(args.config))
        peer = free_port()
        configs = {name: text.replace("@PEER_PORT@", str(peer)) for name, text in configs.items()}
        moddir = prefix / "lib" / "asterisk" / "modules"
        # Our modules (modules/*.c), where this prefix has them (a stock build has none).
        ours = sorted(f"{c.stem}.so" for c in (project_root() / "modules").glob("*.c")
                      if (moddir / f"{c.stem}.so").is_file() and c.stem not in SANDBOX_MODULES)
        root = Path(tempfile.mkdtemp(prefix="bt-run-"))
        ast = AsteriskSandbox(prefix=prefix, root=root, configs=configs, modules=ours, sip_port=args.sip_port or 0)
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            ast.start()
            conf = ast.etc / "asterisk.conf"
            print(f"Asterisk running from {prefix} (pid {ast.proc.pid})")
            print(f"  SIP: udp 127.0.0.1:{ast.sip_port}")
            print(f"  AMI: 127.0.0.1:{ast.ami_port} (user test, secret test)")
            print(f"  config: {ast.etc}   logs: {ast.log_dir}")
            print(f"  console from another shell: {ast.binary} -C {conf} -r")
            sys.stdout.flush()
            if args.no_console or not sys.stdin.isatty():
                ast.proc.wait()
            else:
                subprocess.run([str(ast.binary), "-C", str(conf), "-r"], check=False)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            ast.stop()
            if args.keep:
                print(f"sandbox kept in {root}")
            else:
                remove_root(root)
        return 0
