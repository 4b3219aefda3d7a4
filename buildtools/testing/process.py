"""Processes of a test setup: started with a readiness check, stopped for sure.

The pattern of pytest-postgresql's process fixtures (its executor is ``mirakuru``): a process is
only handed to a test once a check says it is ready (a UDP port bound, a control socket
answering); when it exits or the check times out, start() stops it and raises an error naming
its log. Setups of several processes enter each into a :class:`contextlib.ExitStack` (see
:func:`buildtools.testing.plugin`), so a failure half-way stops what was already started.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from buildtools.errors import SandboxError


def wait_until(check: Callable[[], object], timeout: float, what: str, *, interval: float = 0.05,
               alive: Callable[[], str | None] | None = None) -> object:
    """Poll ``check`` until it returns something truthy; SandboxError after ``timeout`` seconds,
    or at once when ``alive()`` returns a reason the thing waited for is gone."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if alive is not None and (why := alive()):
            raise SandboxError(f"{what}: {why}")
        if time.monotonic() >= deadline:
            raise SandboxError(f"{what}: not ready within {timeout:g} s")
        time.sleep(interval)


def _bound(table: str, port: int, listening_only: bool, addresses: tuple[str, ...] | None = None) -> bool:
    want = f":{port:04X}"
    try:
        lines = Path(table).read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        # local_address is e.g. 0100007F:13C4; TCP state 0A is LISTEN
        if len(fields) > 3 and fields[1].endswith(want) and (not listening_only or fields[3] == "0A") \
                and (addresses is None or fields[1].split(":")[0] in addresses):
            return True
    return False


def udp_bound(port: int, host: str | None = None) -> bool:
    """Whether some process has bound UDP ``port`` (IPv4 or IPv6), from /proc/net/udp; with an
    IPv4 ``host``, bound on that address (or on all addresses)."""
    if host is None:
        return _bound("/proc/net/udp", port, False) or _bound("/proc/net/udp6", port, False)
    # /proc/net/udp shows an IPv4 address as the hex of its 32-bit value in host byte order
    address = "%08X" % struct.unpack("=I", socket.inet_aton(host))[0]
    return _bound("/proc/net/udp", port, False, (address, "00000000"))


def tcp_listening(port: int) -> bool:
    """Whether some process listens on TCP ``port``, from /proc/net/tcp."""
    return _bound("/proc/net/tcp", port, True) or _bound("/proc/net/tcp6", port, True)


class ManagedProcess:
    """One process: output to ``log_path``, its own session (its children are stopped with it),
    started only when ``ready()`` says so. Usable as a context manager."""

    def __init__(self, name: str, argv: Sequence[str | os.PathLike[str]], *, log_path: Path,
                 ready: Callable[[], object], cwd: Path | None = None, env: Mapping[str, str] | None = None,
                 timeout: float = 30, stop_signal: int = signal.SIGTERM) -> None:
        self.name = name
        self.argv = [os.fspath(a) for a in argv]
        self.log_path = log_path
        self.ready = ready
        self.cwd = cwd
        self.env = env
        self.timeout = timeout
        self.stop_signal = stop_signal
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _exited(self) -> str | None:
        if self.proc is not None and self.proc.poll() is not None:
            return f"exited with {self.proc.returncode} while starting; see {self.log_path}"
        return None

    def start(self) -> ManagedProcess:
        """Start the process and wait until it is ready; on failure stop it and raise SandboxError."""
        if self.running():
            return self
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:  # the child keeps its own copy of the handle
            try:
                self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env={**os.environ, **self.env} if self.env else None,
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                             start_new_session=True)
            except OSError as e:
                raise SandboxError(f"{self.name}: cannot run {self.argv[0]}: {e.strerror}") from None
        try:
            wait_until(self.ready, self.timeout, self.name, alive=self._exited)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10) -> int | None:
        """Stop the process group (signal, then SIGKILL after ``timeout``); return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            for sig in (self.stop_signal, signal.SIGKILL):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(timeout=timeout)
                    break
                except subprocess.TimeoutExpired:
                    continue
        return self.proc.wait()

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
