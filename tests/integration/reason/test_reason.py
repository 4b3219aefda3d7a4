"""HANGUPCAUSE(<channel>,reason,...): Reason header values (RFC 3326) of BYE, CANCEL and final responses.

Real Asterisk and SIPp on loopback. Each case renders a SIPp scenario with its own Reason
lines (tests/integration/scenarios.py) and asserts what the dialplan reads (extensions.conf
reports it in AMI UserEvents).

Stock behaviour kept byte-identical: the expected HANGUPCAUSE_KEYS(), HANGUPCAUSE(<ch>,tech),
HANGUPCAUSE(<ch>,ast) and ${HANGUPCAUSE} values below (STOCK_*) were recorded by running these
same scenarios against an Asterisk 22.10.1 built from the same source without our patches
(`buildtools build` on a tree where `buildtools apply --reverse` was run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_sipp_ok, b64, configs_from
from integration import scenarios

HERE = Path(__file__).parent
pytestmark = pytest.mark.asterisk

FIELDS = ("Protocols", "Q850", "Q850Text", "Q850Location", "Q850Raw", "SIP", "SIPText", "SIP2",
          "Preemption", "STIR1", "STIR2", "STIR2Text", "Missing")
EMPTY = {key: "" for key in FIELDS}

# Recorded from stock Asterisk 22.10.1 (see the module docstring).
STOCK_486 = {"Tech": "SIP 486 Busy Here", "Ast": "User busy"}
STOCK_503 = {"Tech": "SIP 503 Service Unavailable", "Ast": "Circuit/channel congestion"}
STOCK_200 = {"Tech": "SIP 200 OK", "Ast": "Normal Clearing"}


@pytest.fixture(scope="module")
def ast(asterisk_factory):
    return asterisk_factory("reason", configs_from(HERE, "pjsip.conf", "extensions.conf"))





def reasons(event: dict[str, str]) -> dict[str, str]:
    return {key: b64(event, key) for key in FIELDS}


def inbound_bye(ast, ami, sipp, scenario, headers) -> tuple[dict[str, str], str]:
    """A caller hangs up with a BYE carrying ``headers``; its hangup handler reports."""
    uac = sipp(scenario(scenarios.UAC_BYE, "uac_bye", headers), ast.sip_port, service="inbound",
               variables={"target": "none"})
    assert_sipp_ok(uac.wait())
    event = ami.wait_event("UserEvent", UserEvent="Reason", Case="inbound")
    return reasons(event), event["Cause"]


CASES = {
    "q850-only": (
        ['Reason: Q.850;cause=17;text="User busy"'],
        {"Protocols": "Q.850", "Q850": "17", "Q850Text": "User busy",
         "Q850Raw": 'Q.850;cause=17;text="User busy"'}, "17"),
    "sip-only": (
        ['Reason: SIP;cause=480;text="Temporarily Unavailable"'],
        {"Protocols": "SIP", "SIP": "480", "SIPText": "Temporarily Unavailable"}, "19"),
    "both-separate-lines": (
        ['Reason: SIP;cause=487;text="Request Terminated"', 'Reason: Q.850;cause=31'],
        {"Protocols": "SIP,Q.850", "SIP": "487", "SIPText": "Request Terminated", "Q850": "31",
         "Q850Raw": "Q.850;cause=31"}, "31"),
    "both-comma-one-line": (
        ['Reason: Q.850;cause=16;location=LN;text="Normal, call; clearing" , SIP;cause=200;text="OK"'],
        {"Protocols": "Q.850,SIP", "Q850": "16", "Q850Text": "Normal, call; clearing",
         "Q850Location": "LN", "Q850Raw": 'Q.850;cause=16;location=LN;text="Normal, call; clearing"',
         "SIP": "200", "SIPText": "OK"}, "16"),
    "quoted-escapes": (
        ['Reason: Q.850 ; cause = 21 ; text="a, b; \\"c\\" d\\\\e"'],
        {"Protocols": "Q.850", "Q850": "21", "Q850Text": 'a, b; "c" d\\e',
         "Q850Raw": 'Q.850 ; cause = 21 ; text="a, b; \\"c\\" d\\\\e"'}, "21"),
    "unknown-protocols-rfc9366": (
        ['Reason: preemption;cause=1;text="UA Preemption"',
         'Reason: STIR;cause=403;text="Stale Date", STIR;cause=436;text="Bad Identity Info"',
         'Reason: X-Vendor;cause=7'],
        {"Protocols": "preemption,STIR,STIR,X-Vendor", "Preemption": "1", "STIR1": "403",
         "STIR2": "436", "STIR2Text": "Bad Identity Info"}, "0"),
    "two-sip-values": (
        ['Reason: SIP;cause=603;text="Declined", SIP;cause=600;text="Busy Everywhere"'],
        {"Protocols": "SIP,SIP", "SIP": "603", "SIPText": "Declined", "SIP2": "600"}, "21"),
    "malformed-ignored": (
        ['Reason: Q.850;cause=abc;text="not a number", SIP;cause=486', 'Reason: ;cause=1',
         'Reason: Q.850;cause=3;text="unterminated'],
        {"Protocols": "SIP", "SIP": "486"}, "17"),
    "no-reason": ([], {}, "0"),
    "unquoted-text": (
        ["Reason: Q.850;cause=16;text=Normal Clearing"],
        {"Protocols": "Q.850", "Q850": "16", "Q850Text": "Normal Clearing",
         "Q850Raw": "Q.850;cause=16;text=Normal Clearing"}, "16"),
    # Over 4096 bytes of values: the cause still sees them all; HANGUPCAUSE() keeps whole values.
    "oversized": (
        [f'Reason: SIP;cause=480;x-pad="{"x" * 4060}"', "Reason: Q.850;cause=16"],
        {"Protocols": "SIP", "SIP": "480"}, "16"),
}


# ${HANGUPCAUSE} of stock 22.10.1 for the same BYEs equals CASES' except where its parser was
# wrong: "quoted-escapes" gave 0 (it needs "cause=" without white space, RFC 3261 allows it) and
# "malformed-ignored" gave 3 (its 20-byte copy cut the unterminated text and took Q.850 cause 3).


@pytest.mark.parametrize("case", CASES)
def test_bye_reason_read_in_own_hangup_handler(case, ast, ami, sipp, scenario, no_new_warnings):
    headers, expected, cause = CASES[case]
    got, hangupcause = inbound_bye(ast, ami, sipp, scenario, headers)
    assert got == {**EMPTY, **expected}
    # ${HANGUPCAUSE} in the handler: a Q.850 cause, else a SIP cause mapped to Q.850, else not set
    # yet (0); per protocol the last line wins (test_stock_rule.py).
    assert hangupcause == cause


def test_cancel_reason(ast, ami, sipp, scenario, no_new_warnings):
    uac = sipp(scenario(scenarios.UAC_CANCEL, "uac_cancel",
                        ['Reason: SIP;cause=200;text="Call completed elsewhere"']),
               ast.sip_port, service="ringing", variables={"target": "none"})
    assert_sipp_ok(uac.wait())
    got = reasons(ami.wait_event("UserEvent", UserEvent="Reason", Case="cancel"))
    assert got == {**EMPTY, "Protocols": "SIP", "SIP": "200", "SIPText": "Call completed elsewhere"}


def dial(ast, ami, sipp, scenario, dial_string: str, *uas_procs) -> dict[str, dict]:
    """The caller dials ``dial_string`` (``|`` separates a serial retry) and reports each dialed
    channel: {channel: {"tech", "ast", "reason" (read by the caller), "callee" (read by the
    callee itself in its hangup handler), "cause" (the callee's ${HANGUPCAUSE})}}."""
    uac = sipp(scenario(scenarios.UAC_WAIT, "uac_wait"), ast.sip_port, service="dial",
               variables={"target": dial_string})
    for proc in (*uas_procs, uac):
        assert_sipp_ok(proc.wait())
    keys = b64(ami.wait_event("UserEvent", UserEvent="Keys"), "Keys").split(",")
    assert len(keys) == len(set(keys))  # each dialed channel listed once, as stock
    ami.wait_event("UserEvent", UserEvent="Done", Case="caller")
    out = {}
    for key in keys:
        tech = ami.wait_event("UserEvent", UserEvent="Tech", Key=key)
        callee = ami.wait_event("UserEvent", UserEvent="Reason", Case="callee", Key=key)
        out[key] = {
            "tech": {"Tech": tech["Tech"], "Ast": tech["Ast"]},
            "reason": reasons(ami.wait_event("UserEvent", UserEvent="Reason", Case="caller", Key=key)),
            "callee": reasons(callee),
            "cause": callee["Cause"],
        }
    return out


def target(endpoint: str, uas) -> str:
    return f"PJSIP/{endpoint}/sip:uas@127.0.0.1:{uas.port}"


def uas_fail(sipp, scenario, name, code, phrase, headers, pause=300):
    return sipp(scenario(scenarios.UAS_FAIL, name, headers, code=code, phrase=phrase, pause=pause), 0)


def test_486_with_reason_read_by_caller_and_callee(ast, ami, sipp, scenario, no_new_warnings):
    uas = uas_fail(sipp, scenario, "uas486", 486, "Busy Here", ['Reason: Q.850;cause=17;text="User busy"'])
    ((key, got),) = dial(ast, ami, sipp, scenario, target("sipp", uas), uas).items()
    assert key.startswith("PJSIP/sipp-")
    assert got["tech"] == STOCK_486
    expected = {**EMPTY, "Protocols": "Q.850", "Q850": "17", "Q850Text": "User busy",
                "Q850Raw": 'Q.850;cause=17;text="User busy"'}
    assert got["reason"] == got["callee"] == expected
    assert got["cause"] == "17"


def test_parallel_dial_keeps_each_channel_apart(ast, ami, sipp, scenario, no_new_warnings):
    busy = uas_fail(sipp, scenario, "uas486", 486, "Busy Here", ['Reason: Q.850;cause=17;text="User busy"'])
    down = uas_fail(sipp, scenario, "uas503", 503, "Service Unavailable",
                    ['Reason: SIP;cause=503;text="Backend down", Q.850;cause=34'], pause=600)
    out = dial(ast, ami, sipp, scenario, f"{target('sipp', busy)}&{target('sipp', down)}", busy, down)
    by_tech = {got["tech"]["Tech"]: got for got in out.values()}
    assert sorted(by_tech) == sorted([STOCK_486["Tech"], STOCK_503["Tech"]])
    assert by_tech[STOCK_486["Tech"]]["tech"] == STOCK_486
    assert by_tech[STOCK_503["Tech"]]["tech"] == STOCK_503
    assert by_tech[STOCK_486["Tech"]]["reason"] == {
        **EMPTY, "Protocols": "Q.850", "Q850": "17", "Q850Text": "User busy",
        "Q850Raw": 'Q.850;cause=17;text="User busy"'}
    assert by_tech[STOCK_503["Tech"]]["reason"] == {
        **EMPTY, "Protocols": "SIP,Q.850", "SIP": "503", "SIPText": "Backend down", "Q850": "34",
        "Q850Raw": "Q.850;cause=34"}


def test_answered_call_ended_by_callee_bye_with_reason(ast, ami, sipp, scenario, no_new_warnings):
    uas = sipp(scenario(scenarios.UAS_BYE, "uas_bye", ['Reason: Q.850;cause=16;text="Normal call clearing"',
                                                        'Reason: SIP;cause=200;text="Bye"']), 0)
    ((_, got),) = dial(ast, ami, sipp, scenario, target("sipp", uas), uas).items()
    # #1606: tech stays the status line of the last response, not the BYE's Reason.
    assert got["tech"] == STOCK_200
    expected = {**EMPTY, "Protocols": "Q.850,SIP", "Q850": "16", "Q850Text": "Normal call clearing",
                "Q850Raw": 'Q.850;cause=16;text="Normal call clearing"', "SIP": "200", "SIPText": "Bye"}
    assert got["reason"] == got["callee"] == expected
    assert got["cause"] == "16"


def test_serial_dial_sees_only_its_own_channels(ast, ami, sipp, scenario, no_new_warnings):
    first = uas_fail(sipp, scenario, "uas486", 486, "Busy Here", ["Reason: Q.850;cause=17"])
    second = uas_fail(sipp, scenario, "uas503", 503, "Service Unavailable", [])
    out = dial(ast, ami, sipp, scenario, f"{target('sipp', first)}|{target('sipp', second)}", first, second)
    by_tech = {got["tech"]["Tech"]: got for got in out.values()}
    assert by_tech[STOCK_486["Tech"]]["reason"]["Q850"] == "17"
    assert by_tech[STOCK_503["Tech"]]["reason"] == EMPTY  # the retry's own channel had no Reason


@pytest.mark.parametrize("endpoint,cause", [("sipp", "17"), ("sipp-ignore", "16")])
def test_ignore_reason_hangupcause_option(endpoint, cause, ast, ami, sipp, scenario, no_new_warnings):
    # A callee's BYE with Reason Q.850 17 makes its ${HANGUPCAUSE} 17, unless its endpoint has
    # ignore_reason_hangupcause: then it is 16 (normal clearing), as without a Reason. The
    # values stay readable either way. (For a 3xx-6xx response, Asterisk 22 itself derives the
    # final cause from the status code, Reason or not.)
    uas = sipp(scenario(scenarios.UAS_BYE, "uas_bye", ['Reason: Q.850;cause=17;text="User busy"']), 0)
    ((_, got),) = dial(ast, ami, sipp, scenario, target(endpoint, uas), uas).items()
    assert got["tech"] == STOCK_200
    assert got["callee"]["Q850"] == got["reason"]["Q850"] == "17"
    assert got["cause"] == cause


def test_option_shown_in_cli(ast):
    out = ast.cli("pjsip show endpoint sipp-ignore").stdout
    assert any(line.split() == ["ignore_reason_hangupcause", ":", "true"] for line in out.splitlines())


def test_documented(ast):
    out = " ".join(ast.cli("core show function HANGUPCAUSE").stdout.split())
    assert "The Reason header values (RFC 3326) that ended the channel" in out
    out = ast.cli("config show help res_pjsip endpoint ignore_reason_hangupcause").stdout
    assert "Do not set the hangup cause from a received Reason header" in out
    # The AMI event that carries the option documents it.
    out = " ".join(ast.cli("manager show event EndpointDetail").stdout.split())
    assert "IgnoreReasonHangupcause Do not set the hangup cause from a received Reason header" in out


# An answered call: Asterisk sends a re-INVITE, the caller answers 488 (with a Reason), then hangs
# up with a BYE carrying {headers}.
UAC_REINVITE_488 = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="uac_reinvite_488">
""" + scenarios._INVITE.replace("<send retrans", "<send retrans", 1) + """  <recv response="180" optional="true"/>
  <recv response="200" rtd="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="remote_to"/>
    </action>
  </recv>
""" + scenarios._ACK + """  <recv request="INVITE"/>
  <send>
    <![CDATA[
      SIP/2.0 488 Not Acceptable Here
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Reason: Q.850;cause=65;text="re-INVITE refused"
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To:[$remote_to]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: <sip:sipp@[local_ip]:[local_port]>
""" + scenarios._BYE_TAIL


@pytest.mark.parametrize("bye_reason, expected", [
    (['Reason: Q.850;cause=16;text="Normal call clearing"'],
     {"Protocols": "Q.850", "Q850": "16", "Q850Text": "Normal call clearing",
      "Q850Raw": 'Q.850;cause=16;text="Normal call clearing"'}),
    ([], {}),
], ids=["bye-with-reason", "bye-without-reason"])
def test_reinvite_488_neither_sets_nor_erases_reason(bye_reason, expected, ast, ami, sipp, scenario,
                                                     no_new_warnings):
    uac = sipp(scenario(UAC_REINVITE_488, "uac_reinvite", bye_reason), ast.sip_port, service="reinvite",
               variables={"target": "none"})
    assert_sipp_ok(uac.wait())
    event = ami.wait_event("UserEvent", UserEvent="Reason", Case="reinvite")
    # Only what ended the call: the BYE's Reason, never the 488's (a response to a re-INVITE).
    assert reasons(event) == {**EMPTY, **expected}
