"""examples/flood-limiting: Kamailio rate-limits REGISTER and OPTIONS per source (htable).

A SIPp flood (one source, REGISTER + OPTIONS at a fixed rate) and a legitimate phone
registering once a second from another source, both through Kamailio. Asterisk's SIP logger
shows what got through. The figures (offered vs passed per second) are printed.
"""

from __future__ import annotations

import math
import re
import time

import pytest
from helpers import assert_sipp_ok
from integration.examples.lab import EXAMPLES, example_configs, render

from buildtools.sandbox import free_port

NAME = "flood-limiting"
HERE = EXAMPLES / NAME
LIMIT = 10          # requests per second and method from one source (Kamailio's @LIMIT@)
FLOOD_RATE = 100    # flood "calls" per second, each one REGISTER + one OPTIONS
FLOOD_CALLS = 800   # 8 s
pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="module")
def lab(asterisk_factory, kamailio_factory):
    kport = free_port()
    ast = asterisk_factory("flood", example_configs(NAME, "pjsip.conf", "extensions.conf"))
    kam = kamailio_factory("flood", render(HERE / "kamailio.cfg", KAMAILIO_PORT=kport,
                                           ASTERISK=f"127.0.0.1:{ast.sip_port}", LIMIT=LIMIT),
                           listens=[("udp", kport)], ping_port=kport)
    return ast, kam, kport


_RECEIVED = re.compile(r"\[[\d-]+ (\d\d:\d\d:\d\d)\.\d+\] VERBOSE\[\d+\] res_pjsip_logger\.c: "
                       r"<--- Received SIP request[^\n]*\n(\w+) (.*?)\n\n", re.S)


def received_by_asterisk(ast) -> tuple[dict[str, int], dict[str, int]]:
    """Requests Asterisk received (its SIP logger), by sender (From user) and method: the totals
    and the most in any one second."""
    totals: dict[str, int] = {}
    per_second: dict[tuple[str, str], int] = {}
    for second, method, rest in _RECEIVED.findall(ast.log_text()):
        sender = re.search(r"\nFrom: <sip:(\w+)@", "\n" + rest)
        key = f"{sender.group(1) if sender else '?'} {method}"
        totals[key] = totals.get(key, 0) + 1
        per_second[(key, second)] = per_second.get((key, second), 0) + 1
    peak: dict[str, int] = {}
    for (key, _), n in per_second.items():
        peak[key] = max(peak.get(key, 0), n)
    return totals, peak


def test_flood_is_cut_to_the_limit_and_the_phone_still_registers(lab, sipp, capsys):
    ast, kam, kport = lab
    ast.cli("pjsip set logger on")
    started = time.monotonic()
    flood = sipp(HERE / "sipp" / "flood.xml", kport, calls=FLOOD_CALLS, timeout=60,
                 extra=["-r", str(FLOOD_RATE), "-l", "1000", "-default_behaviors", "none"])
    phone = sipp(HERE / "sipp" / "register.xml", kport, calls=8, timeout=30, extra=["-r", "1"])
    phone_result = phone.wait()
    flood_result = flood.wait()
    duration = time.monotonic() - started
    time.sleep(0.5)  # the last relayed requests reach Asterisk
    ast.cli("pjsip set logger off")
    assert_sipp_ok(flood_result)
    # Every legitimate registration succeeded during the flood.
    assert_sipp_ok(phone_result)
    assert "Successful call        |        0                  |        8" in phone_result.stdout, phone_result.stdout[-1500:]
    got, peak = received_by_asterisk(ast)
    assert got.get("phone REGISTER", 0) >= 8, got  # more when a slow answer made SIPp retransmit
    # Asterisk saw at most LIMIT per second of each method from the flooding source.
    windows = math.ceil(duration) + 1
    for method in ("REGISTER", "OPTIONS"):
        passed = got.get(f"flood {method}", 0)
        assert LIMIT <= passed <= LIMIT * windows, (method, passed, windows)
        # Kamailio's window and Asterisk's log are both wall-clock seconds; a request counted
        # at the very end of one second may be logged at the start of the next.
        assert peak[f"flood {method}"] <= LIMIT + 2, (method, peak)
    assert "rate limit: REGISTER from 127.0.0.1" in kam.log_text()
    assert "rate limit: OPTIONS from 127.0.0.1" in kam.log_text()
    offered = FLOOD_CALLS / duration
    with capsys.disabled():
        print(f"\n[flood-limiting] {duration:.1f} s: offered {FLOOD_CALLS} REGISTER + {FLOOD_CALLS} OPTIONS "
              f"({offered:.0f}/s each) from one source; Asterisk received {got.get('flood REGISTER', 0)} REGISTER "
              f"({got.get('flood REGISTER', 0) / duration:.1f}/s, at most {peak['flood REGISTER']} in one second) and "
              f"{got.get('flood OPTIONS', 0)} OPTIONS ({got.get('flood OPTIONS', 0) / duration:.1f}/s, at most "
              f"{peak['flood OPTIONS']} in one second), limit {LIMIT}/s per method; "
              f"legitimate phone: 8/8 registrations answered 200")
