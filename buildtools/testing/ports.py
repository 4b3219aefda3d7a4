"""Loopback ports for the processes of a test session, never the same one twice.

Binding port 0 and closing the socket gives a port that is free *now*; the kernel may give the
same port to the next such call, so a fixture asking for ten ports at once could get one twice
(seen once in 2,000 rounds of 12). :class:`PortAllocator` remembers every port it handed out
(under a lock, for fixtures running in threads) and never hands one out again in the session.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from buildtools.errors import SandboxError

HOST = "127.0.0.1"


def probe_port(udp: bool = True, tcp: bool = True) -> int | None:
    """A port the kernel reports free on 127.0.0.1 for UDP and/or TCP, or None when the second bind fails."""
    first = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, first) as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    if udp and tcp:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind((HOST, port))
        except OSError:
            return None
    return port


class PortAllocator:
    """Hands out free loopback ports, each at most once per allocator (i.e. per session)."""

    def __init__(self, probe: Callable[[bool, bool], int | None] = probe_port, attempts: int = 200) -> None:
        self._probe = probe
        self._attempts = attempts
        self._given: set[int] = set()
        self._lock = threading.Lock()

    def allocate(self, *, udp: bool = True, tcp: bool = True) -> int:
        """A port free for the given protocols that this allocator has not handed out before."""
        with self._lock:
            for _ in range(self._attempts):
                port = self._probe(udp, tcp)
                if port is not None and port not in self._given:
                    self._given.add(port)
                    return port
        raise SandboxError(f"no free port on {HOST} after {self._attempts} attempts "
                           f"({len(self._given)} handed out in this session)")

    def many(self, count: int, **kw: bool) -> list[int]:
        """`count` distinct ports."""
        return [self.allocate(**kw) for _ in range(count)]

    @property
    def given(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._given)


#: The session's allocator: every sandbox, SIPp and proxy port comes from it.
PORTS = PortAllocator()


def free_port(kind: int = socket.SOCK_DGRAM, also_tcp: bool = True) -> int:
    """A port free on 127.0.0.1 for UDP (and TCP when ``also_tcp``), or TCP only for
    ``kind=SOCK_STREAM``; never one handed out before in this session."""
    if kind == socket.SOCK_STREAM:
        return PORTS.allocate(udp=False, tcp=True)
    return PORTS.allocate(udp=True, tcp=also_tcp)
