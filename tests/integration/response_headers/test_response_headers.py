"""PJSIP_RESPONSE_HEADER(S) on final 3xx-6xx responses: in the callee's hangup handler, and on
the caller after Dial, per dialed channel (4th argument / 2nd argument: the channel name).

Real Asterisk; SIPp UASs answer Asterisk's INVITEs with failures (scenarios rendered from
tests/integration/scenarios.py); the dialplan (extensions.conf) reports what it reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_sipp_ok, b64, configs_from
from integration import scenarios

HERE = Path(__file__).parent
pytestmark = pytest.mark.asterisk

FIELDS = ("Names", "XNames", "RetryAfter", "XReason", "Billing1", "Billing2", "Long", "Warning",
          "Contact", "Diversion", "XOk", "Missing")
EMPTY = {key: "" for key in FIELDS}
LONG = "".join(chr(ord("A") + i % 26) for i in range(2000))
CORE = "Via,From,To,Call-ID,CSeq"


@pytest.fixture(scope="module")
def ast(asterisk_factory):
    return asterisk_factory("resp", configs_from(HERE, "pjsip.conf", "extensions.conf"))





def fields(event: dict[str, str]) -> dict[str, str]:
    return {key: b64(event, key) for key in FIELDS}


def target(uas) -> str:
    return f"PJSIP/sipp/sip:uas@127.0.0.1:{uas.port}"


def uas_fail(sipp, scenario, code, phrase, headers, pause=300):
    return sipp(scenario(scenarios.UAS_FAIL, f"uas{code}", headers, code=code, phrase=phrase, pause=pause), 0)


def dial(ast, ami, sipp, scenario, dial_string, *uas_procs, service="dial") -> dict[str, dict]:
    """Run ``Dial(dial_string)`` from a SIPp caller; per dialed channel: what the caller read,
    what the callee read in its hangup handler, and HANGUPCAUSE(<channel>,tech)."""
    uac = sipp(scenario(scenarios.UAC_WAIT, "uac"), ast.sip_port, service=service,
               variables={"target": dial_string})
    for proc in (*uas_procs, uac):
        assert_sipp_ok(proc.wait())
    ami.wait_event("UserEvent", UserEvent="Done", Case="caller")
    out = {}
    for event in ami.drain("UserEvent", UserEvent="Tech"):
        key = event["Key"]
        out[key] = {
            "tech": event["Tech"],
            "caller": fields(ami.wait_event("UserEvent", UserEvent="Resp", Case="caller", Key=key)),
            "callee": fields(ami.wait_event("UserEvent", UserEvent="Resp", Case="callee", Key=key)),
        }
    return out


def only(out: dict[str, dict]) -> dict:
    assert len(out) == 1, out
    return next(iter(out.values()))


def test_503_retry_after_and_repeated_x_headers(ast, ami, sipp, scenario, no_new_warnings):
    uas = uas_fail(sipp, scenario, 503, "Service Unavailable",
                   ["Retry-After: 120", "X-Reason: route-closed", "X-Billing-Id: a-1", "X-Billing-Id: b-2"])
    got = only(dial(ast, ami, sipp, scenario, target(uas), uas))
    assert got["tech"] == "SIP 503 Service Unavailable"
    # Each name once, in the order of its first appearance.
    expected = {**EMPTY, "Names": f"{CORE},Retry-After,X-Reason,X-Billing-Id,Content-Length",
                "XNames": "X-Reason,X-Billing-Id", "RetryAfter": "120",
                "XReason": "route-closed", "Billing1": "a-1", "Billing2": "b-2"}
    assert got["caller"] == got["callee"] == expected


def test_486_with_a_long_header(ast, ami, sipp, scenario, no_new_warnings):
    uas = uas_fail(sipp, scenario, 486, "Busy Here", [f"X-Long: {LONG}"])
    got = only(dial(ast, ami, sipp, scenario, target(uas), uas))
    assert got["tech"] == "SIP 486 Busy Here"
    assert got["caller"]["Long"] == got["callee"]["Long"] == LONG


def test_404_with_warning(ast, ami, sipp, scenario, no_new_warnings):
    warning = '399 proxy.example.net "No route, try later"'
    uas = uas_fail(sipp, scenario, 404, "Not Found", [f"Warning: {warning}"])
    got = only(dial(ast, ami, sipp, scenario, target(uas), uas))
    assert got["caller"]["Warning"] == got["callee"]["Warning"] == warning


def test_302_with_contact_and_diversion(ast, ami, sipp, scenario, no_new_warnings):
    uas = uas_fail(sipp, scenario, 302, "Moved Temporarily",
                   ["Contact: <sip:elsewhere@127.0.0.1:5999>",
                    "Diversion: <sip:orig@example.net>;reason=unconditional"])
    got = only(dial(ast, ami, sipp, scenario, target(uas), uas))
    # The outbound channel reads its 302 in its hangup handler.
    assert got["callee"]["Contact"] == "<sip:elsewhere@127.0.0.1:5999>"
    assert got["callee"]["Diversion"] == "<sip:orig@example.net>;reason=unconditional"
    # app_dial handles a 3xx as a forward (here refused by option i) and never reads the cause
    # code of that response: as in stock, the caller's HANGUPCAUSE(<leg>,tech) is the last one it
    # read (180), and the 302's headers do not reach the caller either.
    assert got["tech"] == "SIP 180 Ringing"
    assert got["caller"] == EMPTY


def test_parallel_dial_keeps_each_response_apart(ast, ami, sipp, scenario, no_new_warnings):
    busy = uas_fail(sipp, scenario, 486, "Busy Here", ["X-Reason: busy-leg"])
    down = uas_fail(sipp, scenario, 503, "Service Unavailable", ["X-Reason: down-leg", "Retry-After: 30"],
                    pause=600)
    out = dial(ast, ami, sipp, scenario, f"{target(busy)}&{target(down)}", busy, down)
    by_tech = {got["tech"]: got for got in out.values()}
    assert set(by_tech) == {"SIP 486 Busy Here", "SIP 503 Service Unavailable"}
    assert by_tech["SIP 486 Busy Here"]["caller"]["XReason"] == "busy-leg"
    assert by_tech["SIP 486 Busy Here"]["caller"]["RetryAfter"] == ""
    assert by_tech["SIP 503 Service Unavailable"]["caller"]["XReason"] == "down-leg"
    assert by_tech["SIP 503 Service Unavailable"]["caller"]["RetryAfter"] == "30"


def test_serial_retry_sees_its_own_attempt(ast, ami, sipp, scenario, no_new_warnings):
    first = uas_fail(sipp, scenario, 503, "Service Unavailable", ["X-Reason: first-try"])
    second = uas_fail(sipp, scenario, 486, "Busy Here", ["X-Billing-Id: second-try"])
    out = dial(ast, ami, sipp, scenario, f"{target(first)}|{target(second)}", first, second)
    by_tech = {got["tech"]: got["caller"] for got in out.values()}
    assert by_tech["SIP 503 Service Unavailable"]["XReason"] == "first-try"
    assert by_tech["SIP 503 Service Unavailable"]["Billing1"] == ""
    assert by_tech["SIP 486 Busy Here"]["XReason"] == ""  # not the first attempt's
    assert by_tech["SIP 486 Busy Here"]["Billing1"] == "second-try"


def test_answered_call_200_ok_headers_unchanged(ast, ami, sipp, scenario, no_new_warnings):
    ok = sipp(scenario(scenarios.UAS_OK_BYE, "uas_ok_bye", ["X-Ok: yes", "X-Billing-Id: ok-1"]), 0)
    uac = sipp(scenario(scenarios.UAC_WAIT, "uac"), ast.sip_port, service="answered",
               variables={"target": target(ok)})
    assert_sipp_ok(ok.wait())
    assert_sipp_ok(uac.wait())
    # U() on the answered callee reads its 200 OK, as before.
    connected = fields(ami.wait_event("UserEvent", UserEvent="Resp", Case="connected"))
    assert connected["XOk"] == "yes" and connected["Billing1"] == "ok-1"
    assert connected["XNames"] == "X-Ok,X-Billing-Id"
    # The caller asking for the answered channel's failure response gets nothing, quietly.
    assert fields(ami.wait_event("UserEvent", UserEvent="Resp", Case="caller")) == EMPTY


def test_lcr_fails_over_on_503_route_closed(ast, ami, sipp, scenario, no_new_warnings):
    closed = uas_fail(sipp, scenario, 503, "Service Unavailable", ["X-Reason: route-closed", "Retry-After: 60"])
    second = sipp(scenario(scenarios.UAS_BYE, "uas_bye", []), 0)
    uac = sipp(scenario(scenarios.UAC_WAIT, "uac"), ast.sip_port, service="lcr",
               variables={"target": f"{target(closed)}|{target(second)}"})
    for proc in (closed, second, uac):
        assert_sipp_ok(proc.wait())
    event = ami.wait_event("UserEvent", UserEvent="Lcr")
    assert event["Route"] == "second" and event["Status"] == "ANSWER"


def test_documented(ast):
    out = " ".join(ast.cli("core show function PJSIP_RESPONSE_HEADER").stdout.split())
    assert "final 3xx, 4xx, 5xx or 6xx response" in out
