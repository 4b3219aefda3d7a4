"""examples/websocket: SIP over WSS terminated by Kamailio, relayed to Asterisk over UDP.

A Python WebSocket client (tests/integration/examples/sipua.py, `websockets`) registers over
WSS (certificate checked against the test's CA), places calls and takes one. Signaling only.
"""

from __future__ import annotations

import threading

import pytest
from integration.examples.lab import EXAMPLES, example_configs, make_certificates, render
from integration.examples.sipua import UA

from buildtools.sandbox import free_port

NAME = "websocket"
HERE = EXAMPLES / NAME
pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def lab(asterisk_factory, kamailio_factory, sandbox_root):
    ports = {"UDP_PORT": free_port(), "WSS_PORT": free_port()}
    ast = asterisk_factory("wss", example_configs(NAME, "pjsip.conf", "extensions.conf",
                                                  KAMAILIO_UDP=ports["UDP_PORT"]))
    certs = make_certificates(sandbox_root / "wss-certs")
    tls_cfg = sandbox_root / "wss-certs" / "tls.cfg"
    tls_cfg.write_text(render(HERE / "tls.cfg", CERT=certs["cert"], KEY=certs["key"], CA=certs["ca"]))
    kam = kamailio_factory("wss", render(HERE / "kamailio.cfg", ASTERISK_PORT=ast.sip_port, TLS_CFG=tls_cfg, **ports),
                           listens=[("udp", ports["UDP_PORT"]), ("tcp", ports["WSS_PORT"])],
                           ping_port=ports["UDP_PORT"])
    alice = UA("alice", "wss", ports["WSS_PORT"], cafile=str(certs["ca"]))
    yield ast, kam, alice
    alice.close()


def test_register_over_wss(lab):
    ast, kam, alice = lab
    ok = alice.register()
    assert ok.code == 200, ok.start
    # The connection of the client (Kamailio writes "ws" for WS and WSS alike).
    assert "transport%3dws" in ok.header("Path").lower(), ok.header("Path")
    assert "WebSocket handshake from 127.0.0.1" in kam.log_text()
    assert "REGISTER sip:alice@127.0.0.1 over wss" in kam.log_text()
    # Stored with the connection's address (the client's Contact host is made up).
    aor = ast.cli("pjsip show aor alice").stdout
    assert f"sip:alice@127.0.0.1:{alice.t.local[1]}" in aor, aor


def test_client_calls_and_hangs_up(lab):
    ast, _, alice = lab
    ami = ast.ami()
    try:
        d, final = alice.invite("600")
        assert final.code == 200, final.start
        assert final.header("Content-Type") == "application/sdp"
        assert ami.wait_event("UserEvent", UserEvent="WebCall", Exten="600")["From"] == "alice"
        bye_ok = alice.bye(d, ['Reason: Q.850;cause=16;text="Normal call clearing"'])
        assert bye_ok.code == 200, bye_ok.start
        ended = ami.wait_event("UserEvent", UserEvent="WebCallEnded", Exten="600")
    finally:
        ami.close()
    assert (ended["Cause"], ended["Reason"]) == ("16", "Normal call clearing")


def test_asterisk_hangs_up_bye_reaches_the_client(lab):
    ast, _, alice = lab
    d, final = alice.invite("601")
    assert final.code == 200, final.start
    bye = alice.wait_bye(d, timeout=10)  # sent by Asterisk after 1 s, through Kamailio, over WSS
    assert bye.header("Reason").startswith("Q.850;cause=16"), bye.raw


def test_asterisk_calls_the_client_through_its_path(lab):
    ast, kam, alice = lab
    got = {}
    t = threading.Thread(target=lambda: got.update(zip(("dialog", "invite"), alice.answer(timeout=15))))
    t.start()
    ami = ast.ami()
    try:
        ami.action("Originate", Channel="PJSIP/alice", Application="Wait", Data="1", Async="true")
        t.join(20)
        assert "invite" in got, "the client got no INVITE"
        bye = alice.wait_bye(got["dialog"], timeout=10)
    finally:
        ami.close()
    assert got["invite"].start.startswith(f"INVITE sip:alice@127.0.0.1:{alice.t.local[1]}"), got["invite"].start
    assert bye.header("Call-ID") == got["invite"].header("Call-ID")
    assert "INVITE routed (udp from" in kam.log_text()
