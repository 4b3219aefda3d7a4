"""${HANGUPCAUSE} set from several Reason headers keeps stock's rule.

Stock's rule: a Q.850 cause is preferred to a SIP cause (mapped to Q.850), and per protocol the
last Reason header line wins; the old parser read the first 19 characters of each line, so within
one line the first value of a protocol counts. The expected causes below were recorded by running
this module against stock Asterisk 22.10.1 built from the same source without our patches:

    BUILDTOOLS_PREFIX=<stock prefix> pytest tests/integration/reason/test_stock_rule.py

(its configuration and dialplan use nothing our patches add). They hold on the patched build too.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from buildtools.testing.plugin import asterisk_proc
from helpers import assert_sipp_ok, configs_from
from integration import scenarios

HERE = Path(__file__).parent / "stock_rule"
pytestmark = pytest.mark.asterisk

# Reason lines of the BYE -> ${HANGUPCAUSE} in stock 22.10.1 (recorded, see above).
CASES = {
    "q850-last-line-wins": (["Reason: Q.850;cause=16", "Reason: Q.850;cause=17"], "17"),
    "sip-last-line-wins": (["Reason: SIP;cause=486", "Reason: SIP;cause=404"], "1"),
    "q850-before-sip": (["Reason: Q.850;cause=31", "Reason: SIP;cause=486"], "31"),
    "q850-before-later-sip": (["Reason: SIP;cause=480", "Reason: Q.850;cause=18", "Reason: SIP;cause=404",
                               "Reason: Q.850;cause=19"], "19"),
    "first-value-of-a-line": (['Reason: SIP;cause=603;text="Declined", SIP;cause=600'], "21"),
    "text-on-each-line": (['Reason: Q.850;cause=16;text="Normal Clearing"',
                           'Reason: Q.850;cause=41;text="Temporary failure"'], "41"),
    "sip-then-q850-then-sip": (["Reason: SIP;cause=503", "Reason: Q.850;cause=17", "Reason: SIP;cause=200"],
                               "17"),
}


ast = asterisk_proc("stockrule", lambda: configs_from(HERE, "pjsip.conf", "extensions.conf"))


@pytest.mark.parametrize("case", CASES)
def test_hangupcause_from_several_reason_lines(case, ast, ami, sipp, scenario, no_new_warnings):
    lines, stock_cause = CASES[case]
    uac = sipp(scenario(scenarios.UAC_BYE, "uac_bye", lines, pause=100), ast.sip_port, service="inbound",
               variables={"target": "none"})
    assert_sipp_ok(uac.wait())
    assert ami.wait_event("UserEvent", UserEvent="Cause")["Cause"] == stock_cause
