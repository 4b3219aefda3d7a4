"""Processes of the harness: readiness checks, cleanup on failure, the log follower."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

import pytest

from buildtools.errors import SandboxError
from buildtools.testing.logs import LogFollower
from buildtools.testing.ports import PortAllocator
from buildtools.testing.process import ManagedProcess, tcp_listening, udp_bound

SERVE_UDP = "import socket, sys, time; time.sleep(0.3); s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); " \
            "s.bind(('127.0.0.1', int(sys.argv[1]))); print('bound', flush=True); time.sleep(60)"


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_ready_once_its_port_is_bound_then_stopped(tmp_path: Path) -> None:
    port = PortAllocator().allocate()
    proc = ManagedProcess("server", [sys.executable, "-c", SERVE_UDP, str(port)], log_path=tmp_path / "s.log",
                          ready=lambda: udp_bound(port), timeout=10)
    with proc:
        assert udp_bound(port) and proc.running()
        pid = proc.pid
    assert gone(pid) and not udp_bound(port)
    assert "bound" in (tmp_path / "s.log").read_text()


def test_not_ready_in_time_is_killed_and_named(tmp_path: Path) -> None:
    proc = ManagedProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"],
                          log_path=tmp_path / "x.log", ready=lambda: False, timeout=0.5)
    with pytest.raises(SandboxError, match=r"sleeper: not ready within 0.5 s"):
        proc.start()
    assert proc.proc is not None and gone(proc.proc.pid)


def test_exit_while_starting_names_its_log(tmp_path: Path) -> None:
    proc = ManagedProcess("bad", [sys.executable, "-c", "print('no such option'); raise SystemExit(3)"],
                          log_path=tmp_path / "bad.log", ready=lambda: False, timeout=10)
    with pytest.raises(SandboxError, match=rf"bad: exited with 3 while starting; see {tmp_path / 'bad.log'}"):
        proc.start()
    assert "no such option" in (tmp_path / "bad.log").read_text()


def test_a_failed_start_stops_what_started_before(tmp_path: Path) -> None:
    alloc = PortAllocator()
    first_port = alloc.allocate()
    first = ManagedProcess("first", [sys.executable, "-c", SERVE_UDP, str(first_port)],
                           log_path=tmp_path / "1.log", ready=lambda: udp_bound(first_port), timeout=10)
    second = ManagedProcess("second", ["/nonexistent/binary"], log_path=tmp_path / "2.log", ready=lambda: True)
    with pytest.raises(SandboxError, match="second: cannot run /nonexistent/binary"):
        with contextlib.ExitStack() as stack:
            stack.enter_context(first)
            stack.enter_context(second)
    assert gone(first.pid)


def test_udp_bound_on_an_address() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        port = s.getsockname()[1]
        assert udp_bound(port) and udp_bound(port, "127.0.0.2")
        assert not udp_bound(port, "127.0.0.3")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", port))
        assert udp_bound(port, "127.0.0.3")  # bound on all addresses
    assert not udp_bound(port, "127.0.0.2")


def test_tcp_listening() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
        assert tcp_listening(port)
    assert not tcp_listening(port)


def test_log_follower_waits_for_lines_appended_later(tmp_path: Path) -> None:
    log = tmp_path / "full"
    log.write_text("old marker\n")
    with LogFollower(log) as follower:
        with open(log, "a") as f:
            f.write("line 1\nthe marker arrives\n")
        assert follower.expect("marker", exact=True).endswith("the marker")
        with pytest.raises(SandboxError, match=r"no line matching 'never' within 0.3 s"):
            follower.expect("never", timeout=0.3)
