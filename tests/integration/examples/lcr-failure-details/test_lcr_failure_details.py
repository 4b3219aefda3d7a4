"""examples/lcr-failure-details: a carrier's failure details across Kamailio, read by the dialplan.

phone (SIPp) -> Asterisk [lcr] -> Kamailio -> carrier a (SIPp) / carrier b (SIPp). The dialplan
(UserEvent "LCR") reports what carrier a's final response said, as relayed by Kamailio, and takes
carrier b when the carrier asked to retry later.
"""

from __future__ import annotations

import pytest
from integration.examples.lab import EXAMPLES, example_configs, render, wait_listening
from helpers import assert_sipp_ok

from buildtools.sandbox import Sipp, free_port

NAME = "lcr-failure-details"
SIPP = EXAMPLES / NAME / "sipp"
pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def lab(asterisk_factory, kamailio_factory):
    ports = {"KAMAILIO_PORT": free_port(), "A": free_port(), "B": free_port()}
    ast = asterisk_factory("lcr", example_configs(NAME, "pjsip.conf", "extensions.conf",
                                                  KAMAILIO_PORT=ports["KAMAILIO_PORT"]))
    kam = kamailio_factory("lcr", render(EXAMPLES / NAME / "kamailio.cfg", KAMAILIO_PORT=ports["KAMAILIO_PORT"],
                                         CARRIER_A=f"127.0.0.1:{ports['A']}",
                                         CARRIER_B=f"127.0.0.1:{ports['B']}"),
                           listens=[("udp", ports["KAMAILIO_PORT"])], ping_port=ports["KAMAILIO_PORT"])
    return ast, kam, ports


def carrier(sandbox_root, scenario: str, port: int) -> Sipp:
    workdir = sandbox_root / "sipp" / NAME
    workdir.mkdir(parents=True, exist_ok=True)
    peer = Sipp(SIPP / scenario, 0, workdir, port=port, timeout=40)
    wait_listening(port, proc=peer.proc, what=f"SIPp {scenario}")
    return peer


def lcr_events(ami) -> tuple[dict[str, str], dict[str, str]]:
    """The dialplan's report on carrier a (LCR) and on the call's end (LCRDone)."""
    return (ami.wait_event("UserEvent", timeout=40, UserEvent="LCR"),
            ami.wait_event("UserEvent", timeout=40, UserEvent="LCRDone"))


def test_carrier_503_with_retry_after_takes_the_second_route(lab, sipp, sandbox_root):
    ast, kam, ports = lab
    a = carrier(sandbox_root, "carrier-503.xml", ports["A"])
    b = carrier(sandbox_root, "carrier-answer.xml", ports["B"])
    ami = ast.ami()
    try:
        assert_sipp_ok(sipp(SIPP / "caller.xml", ast.sip_port, service="15551230001").wait())
        first, second = lcr_events(ami)
    finally:
        ami.close()
    assert_sipp_ok(a.wait())
    assert_sipp_ok(b.wait())
    # What carrier a said, read by the dialplan through Kamailio.
    assert first["Route"] == "a" and first["DialStatus"] == "CONGESTION"
    assert first["Status"] == "SIP 503 Service Unavailable"
    assert first["RetryAfter"] == "120"
    assert (first["Q850"], first["Q850Text"]) == ("34", "No circuit/channel available")
    assert first["Carrier"] == "a"  # added by Kamailio to the relayed reply
    # ... and the second route taken, answered.
    assert (second["Route"], second["DialStatus"]) == ("b", "ANSWER")
    # Kamailio relayed the carrier's 503 itself, not one of its own.
    assert "carrier a answered 503 Service Unavailable" in kam.log_text()
    assert "Retry-After: 120" in a.wait().messages


def test_busy_is_final_no_second_route(lab, sipp, sandbox_root):
    ast, kam, ports = lab
    a = carrier(sandbox_root, "carrier-busy.xml", ports["A"])
    ami = ast.ami()
    try:
        assert_sipp_ok(sipp(SIPP / "caller-busy.xml", ast.sip_port, service="15551230002").wait())
        first, done = lcr_events(ami)
    finally:
        ami.close()
    assert_sipp_ok(a.wait())
    assert (first["Route"], first["DialStatus"], first["Status"]) == ("a", "BUSY", "SIP 486 Busy Here")
    assert (first["RetryAfter"], first["Q850"], first["Q850Text"]) == ("", "17", "User busy")
    assert (done["Route"], done["DialStatus"]) == ("a", "BUSY")  # carrier b never tried
    assert "15551230002 to carrier b" not in kam.log_text()


def test_silent_carrier_kamailio_answers_503_with_retry_after(lab, sipp, sandbox_root):
    ast, kam, ports = lab
    # Nothing listens for carrier a: Kamailio times out and answers itself.
    b = carrier(sandbox_root, "carrier-answer.xml", ports["B"])
    ami = ast.ami()
    try:
        assert_sipp_ok(sipp(SIPP / "caller.xml", ast.sip_port, service="15551230003").wait())
        first, second = lcr_events(ami)
    finally:
        ami.close()
    assert_sipp_ok(b.wait())
    assert first["Status"] == "SIP 503 Carrier Unreachable"
    assert (first["RetryAfter"], first["SIPCause"], first["SIPText"]) == ("30", "408", "carrier did not answer")
    assert first["Carrier"] == "a"
    assert (second["Route"], second["DialStatus"]) == ("b", "ANSWER")
    assert "carrier a did not answer" in kam.log_text()
