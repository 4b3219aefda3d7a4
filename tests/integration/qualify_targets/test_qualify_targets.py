"""qualify_reachable_codes when a contact's host resolves to two targets answering different codes.

A DNS stub (dnsstub.py) on a private 127.x.y.1:53 holds A records naming two SIPp responders
(127.x.y.2 and 127.x.y.3, same port); Asterisk runs in its own mount namespace (`unshare -m`)
where /etc/resolv.conf is bind-mounted to point at the stub, so its system DNS resolver (the
one res_pjsip uses when no resolver module is loaded) asks the stub and nothing else on the
machine is affected.

With upstream #2041 ("Qualify all resolved contact targets", patch variant patches/master/0006)
every target is qualified: a contact is reachable when ANY target's reply is listed, and the
last reply shown is that of the target that decided (the first listed one, else the last one
to fail). Without #2041 (patches/22/0006) pjproject sends one OPTIONS to the target it picks:
the contact's status must then follow that target's reply.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from dnsstub import DnsStub

from buildtools.sandbox import AsteriskSandbox, Sipp, free_port
from buildtools.testing.helpers import eventually

HERE = Path(__file__).parent
RESPONDER = HERE.parent / "qualify" / "sipp" / "responder.xml"
PHRASES = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
pytestmark = pytest.mark.asterisk

PJSIP = """
[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:@SIP_PORT@

[aor-common](!)
type = aor
qualify_frequency = 1
qualify_timeout = 0.8
qualify_reachable_codes = 2xx

[endpoint-common](!)
type = endpoint
context = default
disallow = all
allow = ulaw

[okfirst](aor-common)
contact = sip:okfirst@okfirst.targets.test:@PORT@
[okfirst](endpoint-common)
aors = okfirst
[badfirst](aor-common)
contact = sip:badfirst@badfirst.targets.test:@PORT@
[badfirst](endpoint-common)
aors = badfirst
[allbad](aor-common)
contact = sip:allbad@allbad.targets.test:@PORT@
[allbad](endpoint-common)
aors = allbad
"""


def has_2041(tree: Path) -> bool:
    return "sip_options_queue_target_result" in (tree / "res/res_pjsip/pjsip_options.c").read_text(errors="replace")


@pytest.fixture(scope="module")
def env(asterisk_prefix: Path, asterisk_tree: Path, sandbox_root: Path):
    if shutil.which("unshare") is None:
        pytest.fail("unshare (util-linux) is needed to give Asterisk a private resolv.conf")
    net = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
    ips = {200: f"{net}.2", 503: f"{net}.3", 404: f"{net}.4"}
    port = free_port()
    records = {"okfirst.targets.test": [ips[200], ips[503]],
               "badfirst.targets.test": [ips[503], ips[200]],
               "allbad.targets.test": [ips[503], ips[404]]}
    root = Path(tempfile.mkdtemp(prefix="qualify-targets-", dir=sandbox_root))
    resolv = root / "resolv.conf"
    resolv.write_text(f"nameserver {net}.1\noptions timeout:1 attempts:2\n")
    with contextlib.ExitStack() as stack:  # stops what was started, whatever fails half-way
        responders = []
        for code, ip in ips.items():
            scenario = root / f"responder-{code}.xml"
            scenario.write_text(RESPONDER.read_text().replace("{code}", str(code))
                                .replace("{phrase}", PHRASES[code]), encoding="latin-1")
            responders.append(stack.enter_context(Sipp(scenario, 0, root, port=port, calls=1000000, timeout=900,
                                                       variables={"peer": f"r{code}"}, ip=ip)).wait_ready())
        dns = stack.enter_context(DnsStub(f"{net}.1", records))
        ast = AsteriskSandbox(prefix=asterisk_prefix, root=root / "ast",
                              configs={"pjsip.conf": PJSIP.replace("@PORT@", str(port))},
                              wrapper=["unshare", "-m", "sh", "-c",
                                       'mount --bind "$0" /etc/resolv.conf && exec "$@"', str(resolv)])
        ast.start()
        stack.callback(ast.stop)
        yield ast, dns, responders, has_2041(asterisk_tree)


def contact_state(ast, aor: str) -> tuple[str, str]:
    """(status, last reply) of the AOR's contact in `pjsip show contacts`."""
    for line in ast.cli("pjsip show contacts").stdout.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0] == "Contact:" and fields[1].startswith(f"{aor}/sip:"):
            return fields[3], " ".join(fields[5:])
    return "", ""


def wait_state(ast, aor: str, status: str, replies: tuple[str, ...] = (), timeout: float = 10) -> tuple[str, str]:
    """The contact's (status, last reply) once its status is ``status`` (and its last reply one of
    ``replies``, when given), else as it is after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    state = contact_state(ast, aor)
    while time.monotonic() < deadline and (state[0] != status or (replies and state[1] not in replies)):
        time.sleep(0.3)
        state = contact_state(ast, aor)
    return state


def options_received(responder: Sipp, user: str) -> bool:
    return f"OPTIONS sip:{user}@" in responder.messages()


def test_names_are_resolved_through_the_stub(env) -> None:
    ast, dns, _, _ = env
    names = {"okfirst.targets.test", "badfirst.targets.test", "allbad.targets.test"}
    deadline = time.monotonic() + 10  # each AOR's first qualify starts at a random point of its interval
    while time.monotonic() < deadline and not names <= {q[0] for q in dns.queries}:
        time.sleep(0.3)
    assert names <= {q[0] for q in dns.queries}


def test_first_target_listed_is_reachable(env) -> None:
    ast, _, _, _ = env
    assert wait_state(ast, "okfirst", "Avail") == ("Avail", "200 OK")


def test_no_target_listed_is_unreachable(env) -> None:
    ast, _, responders, both = env
    # A qualify that timed out (a loaded machine, qualify_timeout 0.8 s) shows "No reply (timeout)"
    # until the next one, a second later: wait for a state set by a received reply.
    status, reply = wait_state(ast, "allbad", "Unavail", ("503 Service Unavailable", "404 Not Found"))
    assert status == "Unavail"
    assert reply in ("503 Service Unavailable", "404 Not Found")
    if both:  # every target was asked; the reply shown is the last one to fail
        r503, r404 = responders[1], responders[2]
        assert options_received(r503, "allbad") and options_received(r404, "allbad")


def test_a_later_listed_target_decides(env) -> None:
    """badfirst: the first address answers 503, the second 200."""
    ast, _, responders, both = env
    if both:
        assert wait_state(ast, "badfirst", "Avail") == ("Avail", "200 OK")
        assert options_received(responders[0], "badfirst") and options_received(responders[1], "badfirst")
        # It stays reachable: the 503 target never takes over the verdict or the reply shown.
        for _ in range(4):
            time.sleep(0.6)
            assert contact_state(ast, "badfirst") == ("Avail", "200 OK")
    else:  # one target, picked by pjproject: the verdict follows that target's reply
        verdicts = (("Avail", "200 OK"), ("Unavail", "503 Service Unavailable"))
        eventually(lambda: contact_state(ast, "badfirst") in verdicts, 10, f"badfirst in {verdicts}")


def test_show_aor_shows_the_deciding_reply(env) -> None:
    ast, _, _, _ = env
    wait_state(ast, "okfirst", "Avail")
    detail = ast.cli("pjsip show aor okfirst").stdout
    line = next(ln for ln in detail.splitlines() if "Contact:" in ln and "okfirst/sip:" in ln)
    assert "Avail" in line and line.rstrip().endswith("200 OK"), line
