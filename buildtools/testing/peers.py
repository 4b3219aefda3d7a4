"""Stateless UDP peers for benchmarks and soaks, and figures of a running process from /proc.

SIPp answers from a scenario file; these answer from Python where the reply depends on time or
carries thousands of headers (SIPp cannot load them).
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

#: the headers a stateless reply copies from its request (RFC 3261 8.2.6.2)
DIALOG_HEADERS = ("via", "from", "to", "call-id", "cseq")


def reply_to(request: bytes, status: str, extra: list[str], tag: str) -> bytes:
    """A response ``status`` ("486 Busy Here") to ``request``: its Via, From, To (with ``tag``),
    Call-ID and CSeq, then ``extra`` header lines."""
    lines = request.decode(errors="replace").split("\r\n")
    keep = [f"{line};tag={tag}" if line.lower().startswith("to:") else line for line in lines[1:]
            if line.split(":", 1)[0].lower() in DIALOG_HEADERS]
    return "\r\n".join([f"SIP/2.0 {status}", *keep, *extra, "Content-Length: 0", "", ""]).encode()


class UdpResponder:
    """Answers each request of ``method`` on a loopback UDP port with ``answer(request)`` (bytes to
    send, or None for no reply), from a thread; ``answered`` counts replies sent."""

    def __init__(self, method: str, answer: Callable[[bytes], bytes | None]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.method = method.encode() + b" "
        self.answer = answer
        self.answered = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            if not data.startswith(self.method):
                continue
            reply = self.answer(data)
            if reply is not None:
                self.sock.sendto(reply, peer)
                self.answered += 1

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of process ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    """Resident memory of process ``pid`` in KiB (0 if /proc does not say)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0
