"""The harness's AMI client against a fake AMI server on loopback (real sockets, real threads)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest

from buildtools.errors import SandboxError
from buildtools.testing.ami import AmiClient


class Peer:
    """One accepted connection of the fake server."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.file = conn.makefile("rb")

    def read_action(self) -> dict[str, str]:
        msg: dict[str, str] = {}
        for raw in self.file:
            line = raw.decode().rstrip("\r\n")
            if not line:
                if msg:
                    return msg
                continue
            key, _, value = line.partition(": ")
            msg[key] = value
        raise EOFError

    def send(self, **fields: str) -> None:
        self.conn.sendall(("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode())

    def login(self) -> None:
        action = self.read_action()
        assert action["Action"] == "Login" and action["Username"] == "test"
        self.send(Response="Success", ActionID=action["ActionID"], Message="Authentication accepted")


class FakeAmi:
    """Accepts one client, sends the banner, then runs ``script(peer)`` in a thread."""

    def __init__(self, script: Callable[[Peer], None]) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._script = script
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        try:
            conn.sendall(b"Asterisk Call Manager/9.0.0\r\n")
            self._script(Peer(conn))
        except BaseException as e:  # reported by the test
            self.error = e
        finally:
            self.done.set()

    def close(self) -> None:
        self.sock.close()
        self._thread.join(5)
        if self.error and not isinstance(self.error, (EOFError, OSError)):
            raise self.error


@pytest.fixture
def serve():
    servers: list[FakeAmi] = []

    def start(script: Callable[[Peer], None]) -> FakeAmi:
        servers.append(FakeAmi(script))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_an_event_after_12_s_of_silence_arrives(serve) -> None:
    # The socket's 10 s connect timeout used to stay on: the reader thread died at 10 s of silence.
    def script(peer: Peer) -> None:
        peer.login()
        time.sleep(12)
        peer.send(Event="UserEvent", UserEvent="Late")
        peer.read_action()  # until the client logs off

    server = serve(script)
    with AmiClient(server.port) as ami:
        t0 = time.monotonic()
        ev = ami.wait_event("UserEvent", timeout=20, UserEvent="Late")
        assert ev["UserEvent"] == "Late" and time.monotonic() - t0 >= 11
        assert ami.connected


def test_responses_are_matched_by_action_id(serve) -> None:
    def script(peer: Peer) -> None:
        peer.login()
        first = peer.read_action()
        # A stray response (another client's id) and an event come before the real one.
        peer.send(Response="Error", ActionID="someone-else", Message="not yours")
        peer.send(Event="FullyBooted", Status="Fully Booted")
        peer.send(Response="Success", ActionID=first["ActionID"], Ping="Pong")
        second = peer.read_action()
        peer.send(Response="Success", ActionID=second["ActionID"], Message=second["Action"])
        peer.read_action()

    server = serve(script)
    with AmiClient(server.port) as ami:
        assert ami.action("Ping") ["Ping"] == "Pong"
        assert ami.action("CoreStatus")["Message"] == "CoreStatus"
        assert ami.wait_event("FullyBooted", timeout=1)["Status"] == "Fully Booted"


def test_list_action_collects_events_until_complete(serve) -> None:
    def script(peer: Peer) -> None:
        peer.login()
        act = peer.read_action()
        aid = act["ActionID"]
        peer.send(Response="Success", ActionID=aid, EventList="start", Message="Following")
        peer.send(Event="EndpointDetail", ActionID=aid, ObjectName="ep")
        peer.send(Event="ContactStatus", ContactStatus="Reachable")  # unsolicited: not in the list
        peer.send(Event="ContactStatusDetail", ActionID=aid, URI="sip:a@127.0.0.1")
        time.sleep(0.3)  # the end of the list comes later than the response
        peer.send(Event="EndpointDetailComplete", ActionID=aid, EventList="Complete", ListItems="2")
        err = peer.read_action()
        peer.send(Response="Error", ActionID=err["ActionID"], Message="Unable to retrieve endpoint nope")
        peer.read_action()

    server = serve(script)
    with AmiClient(server.port) as ami:
        resp, events = ami.list_action("PJSIPShowEndpoint", Endpoint="ep")
        assert resp["Response"] == "Success"
        assert [e["Event"] for e in events] == ["EndpointDetail", "ContactStatusDetail", "EndpointDetailComplete"]
        assert ami.drain("ContactStatusDetail") == []  # the list's events are not left behind
        assert ami.wait_event("ContactStatus", timeout=1)["ContactStatus"] == "Reachable"
        resp, events = ami.list_action("PJSIPShowEndpoint", Endpoint="nope")
        assert (resp["Response"], events) == ("Error", [])


def test_a_lost_connection_fails_the_next_call_at_once(serve) -> None:
    closed = threading.Event()

    def script(peer: Peer) -> None:
        peer.login()
        peer.conn.close()
        closed.set()

    server = serve(script)
    ami = AmiClient(server.port)
    assert closed.wait(5)
    t0 = time.monotonic()
    with pytest.raises(SandboxError, match="connection lost"):
        ami.wait_event("UserEvent", timeout=30)
    with pytest.raises(SandboxError, match="connection lost"):
        ami.action("Ping", timeout=30)
    assert time.monotonic() - t0 < 5
    ami.close()


def test_a_waiter_is_woken_when_the_connection_drops(serve) -> None:
    def script(peer: Peer) -> None:
        peer.login()
        time.sleep(0.5)
        peer.conn.shutdown(socket.SHUT_RDWR)
        peer.conn.close()

    server = serve(script)
    with AmiClient(server.port) as ami:
        t0 = time.monotonic()
        with pytest.raises(SandboxError, match=r"connection lost .* while waiting for event Hangup"):
            ami.wait_event("Hangup", timeout=30)
        assert time.monotonic() - t0 < 5


def test_failed_login_and_no_listener_are_one_error(serve) -> None:
    def script(peer: Peer) -> None:
        action = peer.read_action()
        peer.send(Response="Error", ActionID=action["ActionID"], Message="Authentication failed")

    server = serve(script)
    with pytest.raises(SandboxError, match="login as 'test' failed: Authentication failed"):
        AmiClient(server.port)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SandboxError, match=f"AMI 127.0.0.1:{port}: cannot connect"):
        AmiClient(port)
