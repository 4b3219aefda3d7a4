"""examples/dispatcher-failover: Kamailio's dispatcher in front of two Asterisk backends.

phones (SIPp) -> Kamailio (dispatcher, round robin) -> pbx1 / pbx2, and an edge Asterisk whose
trunk has one contact per backend through Kamailio. One backend is killed and brought back;
the tests check that calls keep being answered, which node answers them, and print how long
each side took to notice.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from helpers import assert_sipp_ok
from integration.examples.lab import EXAMPLES, example_configs, render

from buildtools.sandbox import Sipp, free_port
from buildtools.testing.helpers import eventually

NAME = "dispatcher-failover"
HERE = EXAMPLES / NAME
CALLER = HERE / "sipp" / "caller.xml"
pytestmark = pytest.mark.asterisk


class Cluster:
    def __init__(self, asterisk_factory, kamailio_factory, sandbox_root) -> None:
        self.kport = free_port()
        self.pbx = {node: asterisk_factory(node, example_configs(
            NAME, {"pjsip.conf": "pjsip-backend.conf", "extensions.conf": "extensions-backend.conf"}, NODE=node))
            for node in ("pbx1", "pbx2")}
        self.uri = {node: f"127.0.0.1:{ast.sip_port}" for node, ast in self.pbx.items()}
        self.edge = asterisk_factory("edge", example_configs(
            NAME, {"pjsip.conf": "pjsip-edge.conf", "extensions.conf": "extensions-edge.conf"},
            KAMAILIO_PORT=self.kport))
        self.edge_ami = self.edge.ami()
        kdir = sandbox_root / "dispatcher"
        kdir.mkdir(exist_ok=True)
        (kdir / "dispatcher.list").write_text(render(HERE / "dispatcher.list", PBX1=self.uri["pbx1"],
                                                     PBX2=self.uri["pbx2"]))
        self.kam = kamailio_factory("dispatcher", render(
            HERE / "kamailio.cfg", KAMAILIO_PORT=self.kport, DISPATCHER_LIST=kdir / "dispatcher.list",
            PBX1=self.uri["pbx1"], PBX2=self.uri["pbx2"]),
            listens=[("udp", self.kport)], ping_port=self.kport)
        self.workdir = sandbox_root / "sipp" / NAME
        self.workdir.mkdir(parents=True, exist_ok=True)

    def served(self) -> dict[str, int]:
        """Calls each backend has answered so far (its console line, kept across restarts)."""
        return {node: sum(1 for line in ast.log_text().splitlines()
                          if "app_verbose.c:" in line and line.endswith(f"served by {node}"))
                for node, ast in self.pbx.items()}

    def served_settled(self, before: dict[str, int], calls: int) -> dict[str, int]:
        """``served()`` once ``calls`` more calls than ``before`` are logged (the logger writes a
        moment after the call); the last value if that does not happen within 10 s."""
        try:
            return eventually(lambda: (now := self.served()) and sum(now.values()) >= sum(before.values()) + calls
                            and now, timeout=10, interval=0.1)
        except AssertionError:
            return self.served()

    def calls(self, port: int, count: int, rate: float = 5, service: str = "service", wait: bool = True):
        """``count`` calls from SIPp phones to ``port``: the SIPp result (or the running SIPp)."""
        proc = Sipp(CALLER, port, self.workdir, service=service, calls=count, timeout=60,
                    extra=["-r", str(rate), "-l", "20"])
        return proc.wait() if wait else proc

    def kam_event(self, what: str, node: str) -> bool:
        """Whether Kamailio's dispatcher has logged backend ``node`` going ``what`` (up/down)."""
        return any(f"backend {what}:" in line and f"sip:{self.uri[node]}" in line
                   for line in self.kam.log_text().splitlines())

    def edge_contact_line(self, node: str, status: str, *replies: str) -> str | None:
        """The edge's `pjsip show contacts` line of the route to ``node`` when it has ``status``
        and one of ``replies`` as last reply."""
        for line in self.edge.cli("pjsip show contacts").stdout.splitlines():
            if f"cluster-{node}/" in line and status in line.split() and any(r in line for r in replies):
                return line
        return None

    def edge_contact(self, node: str) -> str:
        for line in self.edge.cli("pjsip show contacts").stdout.splitlines():
            if f"cluster-{node}/" in line:
                return line.split()[3]
        return ""


@pytest.fixture(scope="module")
def cluster(asterisk_factory, kamailio_factory, sandbox_root):
    c = Cluster(asterisk_factory, kamailio_factory, sandbox_root)
    yield c
    c.edge_ami.close()


def report(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[dispatcher-failover] {text}")


def test_both_backends_take_calls(cluster):
    eventually(lambda: cluster.edge_contact("pbx1") == "Avail" and cluster.edge_contact("pbx2") == "Avail",
             what="the edge's routes to pbx1 and pbx2 Avail (OPTIONS through Kamailio)")
    before = cluster.served()
    assert_sipp_ok(cluster.calls(cluster.kport, 6))
    after = cluster.served_settled(before, 6)
    # Round robin: both nodes answered.
    assert after["pbx1"] - before["pbx1"] == 3 and after["pbx2"] - before["pbx2"] == 3, (before, after)
    # The edge prefers pbx1 while it is reachable.
    assert_sipp_ok(cluster.calls(cluster.edge.sip_port, 1, service="2000"))
    assert cluster.served_settled(after, 1)["pbx1"] == after["pbx1"] + 1


def test_kill_one_backend_calls_continue(cluster, capsys):
    pbx1 = cluster.pbx["pbx1"]
    before = cluster.served()
    cluster.edge_ami.drain("ContactStatus")
    killed = time.monotonic()
    os.killpg(pbx1.proc.pid, signal.SIGKILL)
    pbx1.proc.wait(timeout=10)
    # Phones keep calling right away (5 calls/s for 2 s): every call is answered, by pbx2.
    phones = cluster.calls(cluster.kport, 10, wait=False)
    eventually(lambda: cluster.kam_event("down", "pbx1"), what="Kamailio to mark pbx1 inactive", interval=0.05)
    ds_down = time.monotonic() - killed
    # The edge: the route to pbx1 Unavailable, because of Kamailio's answer for it.
    line = eventually(lambda: cluster.edge_contact_line("pbx1", "Unavail", "503 Backend Down", "408 Request Timeout"),
                    what="the edge's route to pbx1 Unavail after Kamailio's 503/408", interval=0.05)
    edge_down = time.monotonic() - killed
    assert cluster.edge_ami.drain("ContactStatus", AOR="cluster-pbx1", ContactStatus="Unreachable")
    assert_sipp_ok(phones.wait())
    after = cluster.served_settled(before, 10)
    assert after["pbx1"] == before["pbx1"] and after["pbx2"] == before["pbx2"] + 10, (before, after)
    # The edge's Dial now takes the other route.
    assert_sipp_ok(cluster.calls(cluster.edge.sip_port, 1, service="2001"))
    assert cluster.served_settled(after, 1)["pbx2"] == after["pbx2"] + 1
    reply = "503 Backend Down" if "503 Backend Down" in line else "408 Request Timeout"
    report(capsys, f"pbx1 killed: 10/10 calls answered by pbx2 during failover; Kamailio marked it inactive "
                   f"after {ds_down:.1f} s, the edge's route Unavailable after {edge_down:.1f} s (last reply {reply})")


def test_backend_back_traffic_returns(cluster, capsys):
    pbx1 = cluster.pbx["pbx1"]
    started = time.monotonic()
    pbx1.start()
    booted = time.monotonic()
    eventually(lambda: cluster.kam_event("up", "pbx1"), what="Kamailio to mark pbx1 active again", interval=0.05)
    ds_up = time.monotonic() - booted
    eventually(lambda: cluster.edge_contact("pbx1") == "Avail", what="the edge's route to pbx1 Avail", interval=0.05)
    edge_up = time.monotonic() - booted
    before = cluster.served()
    assert_sipp_ok(cluster.calls(cluster.kport, 6))
    after = cluster.served_settled(before, 6)
    # Traffic returns: pbx1 takes calls again (round robin restarts after a state change, so
    # the split may be 2/4 as well as 3/3).
    gained = {node: after[node] - before[node] for node in after}
    assert sum(gained.values()) == 6 and gained["pbx1"] >= 2 and gained["pbx2"] >= 2, (before, after)
    assert_sipp_ok(cluster.calls(cluster.edge.sip_port, 1, service="2002"))
    assert cluster.served_settled(after, 1)["pbx1"] == after["pbx1"] + 1
    report(capsys, f"pbx1 restarted (booted in {booted - started:.1f} s): active in Kamailio {ds_up:.1f} s after "
                   f"boot, the edge's route Reachable after {edge_up:.1f} s; 6 calls shared "
                   f"{gained['pbx1']}/{gained['pbx2']}")
