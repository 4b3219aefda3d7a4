"""Messages with thousands of headers (a hostile or broken peer): the dialplan reads what it can
within the documented bounds, and Asterisk stays up.

Each BYE or failure response carries 6,000 distinct headers ``X0: v`` ... ``X5999: v`` (~55 KB over
UDP, sent by the raw user agents of rawsip.py and rawuas.py: SIPp refuses scenarios that large).
res_pjsip_hangup_headers keeps the first 256 headers of a BYE, and chan_pjsip passes the first 256
headers of a failure response to the dialing channel (both also at most 16 KiB): those are read
exactly, the rest read as empty. The per-call CPU and memory of the same traffic, side by side
with stock Asterisk, are measured by ``benchmarks/hostile_peer.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from buildtools.testing.plugin import asterisk_proc
from helpers import assert_sipp_ok, b64, configs_from
from integration import scenarios
from integration.rawsip import RawUac
from integration.rawuas import RawUas

HERE = Path(__file__).parent
pytestmark = pytest.mark.asterisk

COUNT = 6000


def many_headers() -> list[str]:
    """``X<i>: v``, with a value naming the header on every 50th and on X3."""
    return [f"X{i}: {value(i)}" for i in range(COUNT)]


def value(i: int) -> str:
    return f"v{i}" if i == 3 or i % 50 == 0 else "v"


ast = asterisk_proc("hostile", lambda: configs_from(HERE, "pjsip.conf", "extensions.conf"),
                    ["res_pjsip_hangup_headers.so"])


def test_bye_with_6000_headers(ast, ami, no_new_warnings):
    # 256 kept: Via, From, To, Call-ID, CSeq, Max-Forwards and X0..X249.
    uac = RawUac(ast.sip_port, "bye")
    try:
        uac.call()
        assert uac.bye("\n".join(many_headers())).startswith("SIP/2.0 200")
    finally:
        uac.close()
    event = ami.wait_event("UserEvent", UserEvent="Bye")
    assert b64(event, "Names") == ",".join(f"X{i}" for i in range(250))
    assert b64(event, "X3") == "v3"
    assert b64(event, "Last") == value(249)
    assert b64(event, "Beyond") == ""


def test_486_with_6000_headers_read_by_the_caller(ast, ami, sipp, scenario, no_new_warnings):
    # 256 kept: Via, From, To, Call-ID, CSeq and X0..X250.
    uas = RawUas(486, "Busy Here", many_headers())
    uac = sipp(scenario(scenarios.UAC_WAIT, "uac"), ast.sip_port, service="dial",
               variables={"target": f"PJSIP/sipp/sip:uas@127.0.0.1:{uas.port}"})
    assert_sipp_ok(uac.wait())
    uas.wait()
    event = ami.wait_event("UserEvent", UserEvent="Resp")
    assert event["Tech"] == "SIP 486 Busy Here"
    assert b64(event, "Names") == ",".join(f"X{i}" for i in range(251))
    assert b64(event, "X3") == "v3"
    assert b64(event, "Last") == value(250)
    assert b64(event, "Beyond") == ""
