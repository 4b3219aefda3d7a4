"""examples/tls-termination: phones over TLS and TCP to Kamailio, relayed over UDP to Asterisk
with Path; calls in both directions; BYE headers and Reason read across the proxy.

alice registers over TLS (certificate checked against the CA the test makes), bob over TCP.
"""

from __future__ import annotations

import threading

import pytest
from integration.examples.lab import EXAMPLES, example_configs, make_certificates, render
from integration.examples.sipua import UA

from buildtools.sandbox import free_port

NAME = "tls-termination"
HERE = EXAMPLES / NAME
pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def lab(asterisk_factory, kamailio_factory, sandbox_root):
    ports = {"UDP_PORT": free_port(), "TCP_PORT": free_port(), "TLS_PORT": free_port()}
    ast = asterisk_factory("tls", example_configs(NAME, "pjsip.conf", "extensions.conf",
                                                  KAMAILIO_UDP=ports["UDP_PORT"]),
                          ["res_pjsip_hangup_headers.so"])
    certs = make_certificates(sandbox_root / "certs")
    tls_cfg = sandbox_root / "certs" / "tls.cfg"
    tls_cfg.write_text(render(HERE / "tls.cfg", CERT=certs["cert"], KEY=certs["key"], CA=certs["ca"]))
    kam = kamailio_factory("tls", render(HERE / "kamailio.cfg", ASTERISK_PORT=ast.sip_port, TLS_CFG=tls_cfg, **ports),
                           listens=[("udp", ports["UDP_PORT"]), ("tcp", ports["TCP_PORT"]),
                                    ("tcp", ports["TLS_PORT"])], ping_port=ports["UDP_PORT"])
    alice = UA("alice", "tls", ports["TLS_PORT"], cafile=str(certs["ca"]))
    bob = UA("bob", "tcp", ports["TCP_PORT"])
    yield ast, kam, alice, bob
    alice.close()
    bob.close()


def test_register_over_tls_and_tcp_with_path(lab):
    ast, kam, alice, bob = lab
    for ua, proto in ((alice, "tls"), (bob, "tcp")):
        ok = ua.register()
        assert ok.code == 200, ok.start
        # Asterisk answers with the Path it stored (RFC 3327): Kamailio, with the phone's connection.
        path = ok.header("Path")
        assert "received=" in path and f"transport%3d{proto}" in path.lower(), path
        assert f"REGISTER sip:{ua.user}@127.0.0.1 over {proto}" in kam.log_text()
        contact = ast.cli(f"pjsip show aor {ua.user}").stdout
        assert f"transport={proto}" in contact, contact
    ami = ast.ami()
    try:
        ami.action("PJSIPShowContacts")
        ami.wait_event("ContactListComplete")
        events = {ev["ObjectName"].split(";@")[0]: ev for ev in ami.drain("ContactList")}
    finally:
        ami.close()
    assert "received=" in events["alice"]["Path"] and "received=" in events["bob"]["Path"]


def call(caller: UA, callee: UA, ast, release_cause: str, q850: str, text: str):
    """``caller`` calls ``callee`` through Kamailio and Asterisk; the callee hangs up with
    X-Release-Cause and a Reason; returns the UserEvent and the BYE the caller got."""
    answered = {}

    def answer():
        answered["dialog"], answered["invite"] = callee.answer()

    t = threading.Thread(target=answer)
    t.start()
    ami = ast.ami()
    try:
        d, final = caller.invite(callee.user)
        t.join(20)
        assert final.code == 200, final.start
        # Hang up once the call is up: the caller's 200 is sent before Dial bridges the two legs,
        # and a BYE arriving in between (a few ms) has no bridged peer to be kept for (see the README).
        ami.wait_event("BridgeEnter", BridgeNumChannels="2")
        bye_ok = callee.bye(answered["dialog"], [f"X-Release-Cause: {release_cause}",
                                                 f'Reason: Q.850;cause={q850};text="{text}"'])
        assert bye_ok.code == 200, bye_ok.start
        bye = caller.wait_bye(d)
        event = ami.wait_event("UserEvent", UserEvent="CallEnded", To=callee.user)
    finally:
        ami.close()
    return event, bye, answered["invite"]


def test_call_from_tls_phone_to_tcp_phone(lab):
    ast, kam, alice, bob = lab
    event, bye, invite = call(alice, bob, ast, "alice-to-bob-42", "17", "User busy")
    # Asterisk reached bob through his Path: Kamailio routed the INVITE to his TCP connection.
    assert invite.header("Record-Route"), invite.raw
    assert "INVITE sip:bob@" in kam.log_text() and "routed (udp from" in kam.log_text()
    # The dialplan read bob's BYE (received over TCP by Kamailio, relayed over UDP).
    assert (event["From"], event["DialStatus"]) == ("alice", "ANSWER")
    assert (event["ReleaseCause"], event["Q850"], event["Q850Text"]) == ("alice-to-bob-42", "17", "User busy")
    # ... and passed it on: alice's BYE (over TLS) carries the header and the cause.
    assert bye.header("X-Release-Cause") == "alice-to-bob-42"
    assert bye.header("Reason").startswith("Q.850;cause=17"), bye.raw


def test_call_from_tcp_phone_to_tls_phone(lab):
    ast, _, alice, bob = lab
    event, bye, invite = call(bob, alice, ast, "bob-to-alice-7", "16", "Normal call clearing")
    assert invite.start.startswith("INVITE sip:alice@") and "transport=tls" in invite.start
    assert (event["From"], event["ReleaseCause"], event["Q850"]) == ("bob", "bob-to-alice-7", "16")
    assert event["Q850Text"] == "Normal call clearing"
    assert bye.header("X-Release-Cause") == "bob-to-alice-7"
    assert bye.header("Reason").startswith("Q.850;cause=16"), bye.raw
