"""A tiny authoritative DNS server for tests: A records from a dict, on <ip>:53 (UDP).

Answers A queries for the names it holds with all their addresses, in the given order; any
other type of a known name gets an empty answer (NODATA), an unknown name NXDOMAIN. Every
query is recorded in `queries` as (name, type).
"""

from __future__ import annotations

import socket
import struct
import threading

QTYPE_A = 1


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    labels = []
    while True:
        length = packet[offset]
        if length == 0:
            return ".".join(labels), offset + 1
        if length & 0xC0:  # a pointer: not used in questions by resolvers, refuse it
            raise ValueError("compressed question name")
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length


def answer(query: bytes, records: dict[str, list[str]]) -> bytes | None:
    """The response to one query packet, or None if it cannot be parsed."""
    try:
        ident, flags, qdcount = struct.unpack("!HHH", query[:6])
        if qdcount != 1:
            return None
        name, end = _read_name(query, 12)
        qtype, _qclass = struct.unpack("!HH", query[end:end + 4])
    except (ValueError, IndexError, struct.error):
        return None
    question = query[12:end + 4]
    addresses = records.get(name.lower().rstrip("."))
    rcode = 3 if addresses is None else 0
    answers = b""
    if addresses and qtype == QTYPE_A:
        for ip in addresses:
            answers += struct.pack("!HHHIH", 0xC00C, QTYPE_A, 1, 1, 4) + socket.inet_aton(ip)
    count = len(addresses) if addresses and qtype == QTYPE_A else 0
    header = struct.pack("!HHHHHH", ident, 0x8400 | (flags & 0x0100) | rcode, 1, count, 0, 0)
    return header + question + answers


class DnsStub:
    """The server, in a thread: `with DnsStub("127.9.9.1", {"a.test": ["127.9.9.2"]}) as dns: …`."""

    def __init__(self, ip: str, records: dict[str, list[str]]) -> None:
        self.records = {k.lower(): v for k, v in records.items()}
        self.queries: list[tuple[str, int]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 53))
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = answer(query, self.records)
            if reply is not None:
                try:
                    name, end = _read_name(query, 12)
                    self.queries.append((name, struct.unpack("!H", query[end:end + 2])[0]))
                except (ValueError, IndexError, struct.error):
                    pass
                self.sock.sendto(reply, peer)

    def __enter__(self) -> DnsStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
