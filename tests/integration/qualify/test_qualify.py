"""qualify_reachable_codes: which OPTIONS replies mean reachable, per AOR; the last reply shown
in CLI and AMI; unreachable contacts not dialed; tested against SIPp peers and a real Kamailio.

SIPp responders (sipp/responder.xml) answer OPTIONS with a fixed code and INVITEs with 200 OK;
a port with nothing behind it gives no reply at all. Kamailio (kamailio.cfg) relays OPTIONS to
a SIPp backend and answers 503 itself when the backend does not reply.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from buildtools.testing.kamailio import kamailio
from buildtools.testing.sipp import Sipp
from buildtools.testing.helpers import eventually

HERE = Path(__file__).parent
RESPONDER = HERE / "sipp" / "responder.xml"
pytestmark = pytest.mark.asterisk

PHRASES = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
           503: "Service Unavailable"}
SETTINGS = {
    "any": "",
    "2xx": "qualify_2xx_only = yes\n",
    "list": "qualify_reachable_codes = 2xx, 404,405\n",
}
REPLIES = ("200", "404", "405", "503", "dead")
EXPECTED = {  # setting -> reply -> reachable?
    "any": {"200": True, "404": True, "405": True, "503": True, "dead": False},
    "2xx": {"200": True, "404": False, "405": False, "503": False, "dead": False},
    "list": {"200": True, "404": True, "405": True, "503": False, "dead": False},
}


class Responders:
    """SIPp peers answering OPTIONS with a given code, started and stopped by port."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: dict[int, Sipp] = {}

    def start(self, port: int, code: int, peer: str = "peer", phrase: str | None = None) -> None:
        self.stop(port)
        scenario = self.workdir / f"responder-{code}-{port}.xml"
        # Latin-1 like the scenario's XML declaration: a phrase may hold bytes that are not UTF-8.
        scenario.write_text(RESPONDER.read_text().replace("{code}", str(code))
                            .replace("{phrase}", phrase or PHRASES[code]), encoding="latin-1")
        self.running[port] = Sipp(scenario, 0, self.workdir, port=port, calls=1000000, timeout=900,
                                  variables={"peer": peer})
        self.running[port].wait_ready()

    def stop(self, port: int) -> None:
        proc = self.running.pop(port, None)
        if proc:
            proc.stop()

    def messages(self, port: int) -> str:
        proc = self.running[port]
        return proc.msg_file.read_text(errors="replace") if proc.msg_file.exists() else ""

    def stop_all(self) -> None:
        for port in list(self.running):
            self.stop(port)


def kamailio_cfg(listen: int, backend: int) -> str:
    return (HERE / "kamailio.cfg").read_text().replace("@LISTEN@", str(listen)).replace("@BACKEND@", str(backend))


@pytest.fixture(scope="module")
def env(asterisk_factory, sandbox_root, ports):
    names = ("200", "404", "405", "408", "503", "dead", "flip", "direct", "kamailio", "backend")
    port = dict(zip(names, ports.many(len(names))))
    with contextlib.ExitStack() as stack:  # whatever started is stopped, also when a later start fails
        responders = Responders(sandbox_root)
        stack.callback(responders.stop_all)
        for code in (200, 404, 405, 408, 503):
            responders.start(port[str(code)], code)
        responders.start(port["direct"], 200, peer="direct")

        kamailio_dir = sandbox_root / "kamailio"
        stack.enter_context(kamailio(kamailio_dir, kamailio_cfg(port["kamailio"], port["backend"]), port["kamailio"]))
        responders.start(port["backend"], 200, peer="backend")

        pjsip = (HERE / "pjsip.conf").read_text()
        for setting, option in SETTINGS.items():
            for reply in REPLIES:
                pjsip += (f"\n[{setting}-{reply}]\ntype = aor\nqualify_frequency = 1\nqualify_timeout = 0.8\n"
                          f"contact = sip:{setting}-{reply}@127.0.0.1:{port[reply]}\n{option}")
            pjsip += f"\n[ep-{setting}](endpoint-common)\naors = {','.join(f'{setting}-{r}' for r in REPLIES)}\n"
        for name, value in port.items():
            pjsip = pjsip.replace(f"@PORT_{name.upper()}@", str(value))
        ast = asterisk_factory("qualify", {"pjsip.conf": pjsip,
                                           "extensions.conf": (HERE / "extensions.conf").read_text()})
        yield ast, port, responders, kamailio_dir


def contacts(ast) -> dict[str, tuple[str, str]]:
    """`pjsip show contacts`: {contact URI user: (status, last reply)}."""
    out = {}
    for line in ast.cli("pjsip show contacts").stdout.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0] == "Contact:" and "/sip:" in fields[1]:
            user = fields[1].split("/sip:")[1].split("@")[0]
            out[user] = (fields[3], " ".join(fields[5:]))
    return out


def dial(ast, case: str) -> dict[str, str]:
    """Dial(PJSIP/<case>) from a Local channel (extension call-<case>); its UserEvent Dialed."""
    ami = ast.ami()
    try:
        ami.action("Originate", Channel=f"Local/call-{case}@from-sipp", Application="Wait", Data="10",
                   Async="true")
        return ami.wait_event("UserEvent", timeout=20, UserEvent="Dialed", Case=case)
    finally:
        ami.close()


def test_reply_codes_decide_reachability(env):
    ast, _, _, _ = env
    expected = {f"{s}-{r}": ("Avail" if ok else "Unavail") for s, row in EXPECTED.items() for r, ok in row.items()}

    def settled():
        now = contacts(ast)
        return now if all(now.get(k, ("",))[0] == v for k, v in expected.items()) else None

    got = eventually(settled, what="contact statuses")
    # The last reply, as CLI shows it: code and phrase, or why none came.
    assert got["list-503"][1] == "503 Service Unavailable"
    assert got["list-405"][1] == "405 Method Not Allowed"
    assert got["any-404"][1] == "404 Not Found"
    assert got["2xx-dead"][1] in ("No reply (timeout)", "Transport error")
    aor = ast.cli("pjsip show aor list-503").stdout
    assert "<LastReply....>" in aor and "Unavail" in aor and "503 Service Unavailable" in aor
    assert "Reachable codes      : 2xx, 404,405" in ast.cli("pjsip show qualify aor list-503").stdout
    assert "Reachable codes      : (any reply)" in ast.cli("pjsip show qualify aor any-503").stdout


def test_ami_contact_status_detail_fields(env):
    ast, _, _, _ = env
    with ast.ami() as ami:
        _, events = ami.list_action("PJSIPShowEndpoint", Endpoint="ep-list")
    details = {ev["URI"].split(":")[1].split("@")[0]: ev for ev in events if ev["Event"] == "ContactStatusDetail"}
    assert details["list-503"]["Status"] == "Unreachable"
    assert details["list-503"]["LastReplyCode"] == "503"
    assert details["list-503"]["LastReplyReason"] == "Service Unavailable"
    assert details["list-405"]["Status"] == "Reachable"
    assert details["list-dead"]["LastReplyCode"] == "0"
    # Appended after the stock fields: the stock ones keep their order.
    keys = list(details["list-503"])
    assert keys.index("Qualify2xxOnly") < keys.index("QualifyReachableCodes") < keys.index("LastReplyCode")


def test_registered_contact_takes_the_aor_list(env, sipp):
    ast, ports, _, _ = env
    # A phone registers a contact that answers OPTIONS with 404: listed for AOR "reg".
    result = sipp(HERE / "sipp" / "register.xml", ast.sip_port, service="reg",
                  variables={"contact": f"127.0.0.1:{ports['404']}"}).wait()
    assert result.ok, result.stdout[-1500:]
    eventually(lambda: contacts(ast).get("reg", ("",))[0] == "Avail", what="registered contact")
    with ast.ami() as ami:
        _, events = ami.list_action("PJSIPShowEndpoint", Endpoint="reg")
    (detail,) = [ev for ev in events if ev["Event"] == "ContactStatusDetail"]
    assert detail["QualifyReachableCodes"] == "2xx,404"
    assert (detail["LastReplyCode"], detail["LastReplyReason"]) == ("404", "Not Found")


def test_received_408_follows_the_list_but_no_reply_never_counts(env):
    ast, _, _, _ = env

    def settled():
        now = contacts(ast)
        return now if now.get("r408-408", ("",))[0] == "Avail" and now.get("r408-dead", ("",))[0] == "Unavail" else None

    got = eventually(settled, what="408 statuses")
    assert got["r408-408"][1] == "408 Request Timeout"


def test_transitions_publish_contact_status_with_the_reply(env):
    ast, ports, responders, _ = env
    ami = ast.ami()
    try:
        responders.start(ports["flip"], 200)
        ami.wait_event("ContactStatus", timeout=15, AOR="flip", ContactStatus="Reachable")
        responders.start(ports["flip"], 503)
        down = ami.wait_event("ContactStatus", timeout=15, AOR="flip", ContactStatus="Unreachable")
        assert (down["LastReplyCode"], down["LastReplyReason"]) == ("503", "Service Unavailable")
        responders.start(ports["flip"], 200)
        up = ami.wait_event("ContactStatus", timeout=15, AOR="flip", ContactStatus="Reachable")
        assert (up["LastReplyCode"], up["LastReplyReason"]) == ("200", "OK")
        # Stock fields first, ours appended.
        assert list(up)[-2:] == ["LastReplyCode", "LastReplyReason"]
    finally:
        ami.close()
        responders.stop(ports["flip"])


def test_a_reason_phrase_that_is_not_utf8_still_publishes_contact_status(env):
    ast, ports, responders, _ = env
    ami = ast.ami()
    try:
        responders.start(ports["flip"], 200)
        eventually(lambda: contacts(ast).get("flip", ("",))[0] == "Avail", what="flip reachable")
        responders.start(ports["flip"], 404, phrase="Nicht gefunden \xe9")  # a Latin-1 byte
        down = ami.wait_event("ContactStatus", timeout=15, AOR="flip", ContactStatus="Unreachable")
        assert down["LastReplyCode"] == "404"
    finally:
        ami.close()
        responders.stop(ports["flip"])


def test_unreachable_contact_is_not_dialed(env):
    ast, ports, responders, _ = env
    # AOR "failover": its first contact answers OPTIONS 503 (unreachable with 2xx), the second 200.
    eventually(lambda: contacts(ast).get("fo-down", ("",))[0] == "Unavail"
             and contacts(ast).get("fo-up", ("",))[0] == "Avail", what="failover contacts")
    assert dial(ast, "failover")["Status"] == "ANSWER"
    assert "INVITE sip:fo-up@" in responders.messages(ports["direct"])
    assert "INVITE sip:fo-down@" not in responders.messages(ports["503"])


@pytest.mark.allow_warnings  # chan_pjsip logs that it could not create the session to 'down'
def test_all_unreachable_means_dial_fails(env):
    ast, _, _, _ = env
    eventually(lambda: contacts(ast).get("down-503", ("",))[0] == "Unavail", what="down-503")
    assert dial(ast, "down")["Status"] == "CHANUNAVAIL"


def test_behind_kamailio_backend_down_and_back(env):
    ast, ports, responders, kamailio_dir = env
    ami = ast.ami()
    try:
        eventually(lambda: contacts(ast).get("via-kamailio", ("",))[0] == "Avail", what="backend up")
        responders.stop(ports["backend"])
        down = ami.wait_event("ContactStatus", timeout=20, AOR="proxied", ContactStatus="Unreachable")
        # Kamailio answered for the dead backend: a received 503, not a timeout.
        assert (down["LastReplyCode"], down["LastReplyReason"]) == ("503", "Backend Unavailable")

        # Meanwhile a call to the endpoint goes to its other, reachable contact.
        assert dial(ast, "proxied")["Status"] == "ANSWER"
        assert "INVITE sip:proxied-direct@" in responders.messages(ports["direct"])

        responders.start(ports["backend"], 200, peer="backend")
        up = ami.wait_event("ContactStatus", timeout=20, AOR="proxied", ContactStatus="Reachable")
        assert up["LastReplyCode"] == "200"
    finally:
        ami.close()
    log = (kamailio_dir / "kamailio.log").read_text(errors="replace")
    assert "OPTIONS" in log  # Kamailio saw (and logged) the OPTIONS it relayed


def test_invalid_value_is_rejected_naming_aor_and_token(env):
    ast, _, _, _ = env
    assert "aor 'bad-codes': invalid qualify_reachable_codes token '2yy'" in ast.log_text("messages")
    assert "Unable to find object bad-codes" in ast.cli("pjsip show aor bad-codes", check=False).stdout


def test_option_documented(env):
    ast, _, _, _ = env
    out = ast.cli("config show help res_pjsip aor qualify_reachable_codes").stdout
    assert "OPTIONS reply codes that mean the contact is reachable" in out
    assert "No reply at all (timeout, transport error) is always unreachable" in " ".join(out.split())
    # Every AMI event that carries the new fields documents them.
    synopsis = "QualifyReachableCodes OPTIONS reply codes that mean the contact is reachable"
    for event in ("AorDetail", "AorList", "ContactList", "ContactStatusDetail", "InboundRegistrationDetail"):
        out = " ".join(ast.cli(f"manager show event {event}").stdout.split())
        assert synopsis in out or "QualifyReachableCodes The reply codes that mean reachable" in out, event
    for event in ("ContactStatus", "ContactStatusDetail"):
        out = " ".join(ast.cli(f"manager show event {event}").stdout.split())
        assert "LastReplyCode" in out and "LastReplyReason" in out, event
