"""examples/many-accounts: many accounts behind one proxy address.

Two customers' PBXs (SIPp, fixed source ports) call through Kamailio, which sets
X-Account-Number from their source address; Asterisk identifies the endpoint by that header.
Asterisk registers two accounts at a provider (SIPp registrar) through Kamailio with line = yes;
the provider calls each registered Contact and the call reaches that account's endpoint.
"""

from __future__ import annotations

import re

import pytest
from helpers import assert_sipp_ok
from integration.examples.lab import EXAMPLES, example_configs, render, wait_listening

from buildtools.sandbox import Sipp, free_port
from buildtools.testing.helpers import eventually

NAME = "many-accounts"
HERE = EXAMPLES / NAME
SIPP = HERE / "sipp"
pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def lab(asterisk_factory, kamailio_factory, module_sipp_dir):
    ports = {k: free_port() for k in ("kamailio", "provider", "a", "b")}
    registrar = Sipp(SIPP / "registrar.xml", 0, module_sipp_dir, port=ports["provider"], calls=2, timeout=60)
    wait_listening(ports["provider"], proc=registrar.proc, what="SIPp registrar")
    ast = asterisk_factory("accounts", example_configs(NAME, "pjsip.conf", "extensions.conf",
                                                       KAMAILIO_PORT=ports["kamailio"]),
                          ["res_pjsip_outbound_registration.so"])
    kam = kamailio_factory("accounts", render(
        HERE / "kamailio.cfg", KAMAILIO_PORT=ports["kamailio"], ASTERISK=f"127.0.0.1:{ast.sip_port}",
        PROVIDER=f"127.0.0.1:{ports['provider']}", CUSTOMER_A=f"127.0.0.1:{ports['a']}",
        CUSTOMER_B=f"127.0.0.1:{ports['b']}"), listens=[("udp", ports["kamailio"])], ping_port=ports["kamailio"])
    # Kamailio is up now: register at once rather than after the retry interval.
    ast.cli("pjsip send register *all")
    yield {"ast": ast, "kam": kam, "ports": ports, "registrar": registrar, "dir": module_sipp_dir}
    if registrar.proc.poll() is None:
        registrar.proc.kill()


def registered(ast) -> dict[str, str]:
    out = {}
    for line in ast.cli("pjsip show registrations").stdout.splitlines():
        m = re.match(r"\s*(reg-\d+)/\S+\s+\S+\s+(\w+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def landed(ast, run) -> dict[str, str]:
    ami = ast.ami()
    try:
        assert_sipp_ok(run())
        return ami.wait_event("UserEvent", timeout=15, UserEvent="Landed")
    finally:
        ami.close()


def test_accounts_register_through_the_proxy_with_line(lab):
    ast = lab["ast"]
    eventually(lambda: registered(ast) == {"reg-1001": "Registered", "reg-1002": "Registered"},
             what="both registrations Registered")
    result = lab["registrar"].wait()
    assert_sipp_ok(result)
    contacts = {user: uri for uri, user in re.findall(r"Contact: <(sip:(100[12])@[^>]*)>", result.messages)}
    assert set(contacts) == {"1001", "1002"}, result.messages[-2000:]
    for uri in contacts.values():
        assert ";line=" in uri, uri
    lab["contacts"] = contacts
    assert "REGISTER sip:provider.example.com from Asterisk to the provider" in lab["kam"].log_text()


@pytest.mark.parametrize("customer, claim, account", [("a", "1001", "1001"), ("b", "1001", "1002")],
                         ids=["customer-a", "customer-b-claims-1001"])
def test_customers_land_in_their_own_endpoint(lab, customer, claim, account):
    ast, ports = lab["ast"], lab["ports"]
    event = landed(ast, lambda: Sipp(SIPP / "customer.xml", ports["kamailio"], lab["dir"], port=ports[customer],
                                     service="5550100", variables={"claim": claim}).wait())
    # Identified by the header Kamailio set from the source address, whatever the PBX claimed.
    assert event["Endpoint"] == f"acct-{account}"
    assert event["Context"] == f"cust-{account}"
    assert event["Account"] == account


@pytest.mark.parametrize("account", ["1001", "1002"])
def test_call_to_a_registered_line_reaches_its_endpoint(lab, account):
    ast, ports = lab["ast"], lab["ports"]
    assert "contacts" in lab, "the registration test did not run"
    ruri = lab["contacts"][account]
    event = landed(ast, lambda: Sipp(SIPP / "provider-call.xml", ports["kamailio"], lab["dir"], port=ports["provider"],
                                     variables={"ruri": ruri}).wait())
    # No X-Account-Number here: the line parameter alone names the endpoint.
    assert (event["Endpoint"], event["Context"], event["Account"]) == (f"acct-{account}", f"cust-{account}", "")
    assert event["Exten"] == account
    assert f"INVITE {ruri} from the provider" in lab["kam"].log_text()
