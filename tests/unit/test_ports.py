"""The harness's port allocator: never the same port twice in a session."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from buildtools.errors import SandboxError
from buildtools.testing.ports import PortAllocator, free_port, probe_port


def scripted(ports: list[int | None]) -> Iterator[int | None]:
    yield from ports
    while True:
        yield ports[-1]


def test_a_port_the_kernel_offers_again_is_skipped() -> None:
    # What binding port 0 can do: the same port twice in a row.
    offers = scripted([40000, 40000, None, 40001, 40000, 40002])
    alloc = PortAllocator(probe=lambda udp, tcp: next(offers))
    assert [alloc.allocate(), alloc.allocate(), alloc.allocate()] == [40000, 40001, 40002]
    assert alloc.given == {40000, 40001, 40002}


def test_no_new_port_is_an_error_naming_the_count() -> None:
    alloc = PortAllocator(probe=lambda udp, tcp: 40000, attempts=5)
    alloc.allocate()
    with pytest.raises(SandboxError, match=r"no free port on 127.0.0.1 after 5 attempts \(1 handed out"):
        alloc.allocate()


def test_real_ports_are_distinct_and_free_for_udp_and_tcp() -> None:
    alloc = PortAllocator()
    ports = alloc.many(300)
    assert len(set(ports)) == 300
    for port in ports[:50]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, socket.socket() as t:
            u.bind(("127.0.0.1", port))
            t.bind(("127.0.0.1", port))


def test_threads_share_the_allocator_without_duplicates() -> None:
    alloc = PortAllocator()
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        mine = alloc.many(40)
        with lock:
            got.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 320


def test_free_port_keeps_its_signature() -> None:
    tcp_only = free_port(socket.SOCK_STREAM)
    both = free_port()
    assert tcp_only != both
    assert isinstance(probe_port(udp=False, tcp=True), int)
