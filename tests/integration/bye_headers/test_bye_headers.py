"""PJSIP_HANGUP_HEADER(S): headers of received BYEs and of the BYE Asterisk sends.

Real Asterisk, real SIP: SIPp (and, for folded lines, a raw UDP UAC) on loopback. Every value
the dialplan reads arrives as a base64 field of an AMI UserEvent (see extensions.conf).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import assert_sipp_ok, b64, configs_from

HERE = Path(__file__).parent
SIPP = HERE / "sipp"
LONG = "".join(chr(ord("a") + i % 26) for i in range(1500))

pytestmark = pytest.mark.asterisk

# Every field the [report] subroutine reads, and its value when nothing was received.
FIELDS = ("Names", "XNames", "Foo1", "Foo2", "Foo3", "Long", "Subject", "SubjectCompact",
          "Lower", "Star2", "Quoted", "Reason", "CallId", "Missing")


@pytest.fixture(scope="module")
def ast(asterisk_factory):
    return asterisk_factory("bye", configs_from(HERE, "pjsip.conf", "extensions.conf"),
                            ["res_pjsip_hangup_headers.so"])




def wait_hangup_handler(log) -> None:
    """Extension inbound has pushed its hangup handler: the dialplan went on to Echo()."""
    log.expect(r"Executing \[inbound@[^:]+:3\] Echo\(")


def report(event: dict[str, str]) -> dict[str, str]:
    return {key: b64(event, key) for key in FIELDS}


def call_id_of(messages: str) -> str:
    for line in messages.splitlines():
        if line.startswith("Call-ID:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no Call-ID in SIPp's message log")


def test_inbound_bye_read_in_own_hangup_handler(ast, ami, sipp, no_new_warnings):
    uac = sipp(SIPP / "uac_sends_bye.xml", ast.sip_port, service="inbound",
               variables={"long": LONG, "target": "none"})
    assert_sipp_ok(uac.wait())
    got = report(ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="inbound"))

    assert got["Names"] == ("Via,From,To,Call-ID,CSeq,Contact,Max-Forwards,X-Foo,X-Long,Subject,"
                            "x-lower-case,X-Quoted,Reason,User-Agent,Content-Length")
    assert got["XNames"] == "X-Foo,X-Long,x-lower-case,X-Quoted"
    assert got["Foo1"] == "first"
    assert got["Foo2"] == "second, with comma"
    assert got["Foo3"] == ""
    assert got["Long"] == LONG
    assert got["Subject"] == got["SubjectCompact"] == "compact subject"
    assert got["Lower"] == "Mixed Case Value"
    assert got["Star2"] == "second, with comma"
    assert got["Quoted"] == '"a, \\"b\\"; c"'
    assert got["Reason"] == 'Q.850;cause=16;text="Normal call clearing"'
    assert got["CallId"] == call_id_of(uac.wait().messages)
    assert got["Missing"] == ""


def test_outbound_bye_read_by_callee_and_by_caller_after_dial(ast, ami, sipp, no_new_warnings):
    uas = sipp(SIPP / "uas_sends_bye.xml", 0, variables={"long": LONG})
    uac = sipp(SIPP / "uac_waits_bye.xml", ast.sip_port, service="outbound",
               variables={"target": f"sip:bob@127.0.0.1:{uas.port}"})
    assert_sipp_ok(uas.wait())
    assert_sipp_ok(uac.wait())

    callee = ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="callee")
    own = report(ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="caller-own"))
    peer = report(ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="caller-peer"))

    expected = {
        "XNames": "X-Foo,X-Long", "Foo1": "callee first", "Foo2": "callee second", "Foo3": "",
        "Long": LONG, "Subject": "callee subject", "SubjectCompact": "callee subject",
        "Star2": "callee second", "Reason": 'SIP;cause=480;text="Gone, \\"away\\"; sorry"',
        "Missing": "",
    }
    for got in (report(callee), peer):
        assert {k: got[k] for k in expected} == expected
        assert got["Names"].startswith("Via,From,To,Call-ID,CSeq,Contact,Max-Forwards,X-Foo,X-Long,")
    # The caller received no BYE itself: its own read is empty.
    assert set(own.values()) == {""}
    assert callee["Chan"].startswith("PJSIP/sipp-")
    assert peer["CallId"] == call_id_of(uas.wait().messages)


def test_headers_added_updated_removed_on_the_bye_asterisk_sends(ast, sipp, no_new_warnings):
    # uac_checks_bye makes SIPp itself fail unless the BYE carries X-Added (updated), both
    # X-Twice in order, and neither X-Gone nor the Reason that res_pjsip_rfc3326 adds.
    result = sipp(SIPP / "uac_checks_bye.xml", ast.sip_port, service="addremove").wait()
    assert_sipp_ok(result)
    bye = result.messages[result.messages.index("BYE sip:"):]
    assert "X-Added: updated value" in bye and "Reason:" not in bye.split("\n\n")[0]


def test_headers_set_in_a_hangup_handler_reach_the_bye(ast, sipp, no_new_warnings):
    assert_sipp_ok(sipp(SIPP / "uac_checks_bye.xml", ast.sip_port, service="inhandler").wait())


@pytest.mark.allow_warnings  # extension misuse logs its errors (test_misuse_is_one_error_line_each)
def test_stock_bye_keeps_its_reason_header(ast, sipp):
    # Without PJSIP_HANGUP_HEADER writes, Asterisk's BYE is as stock: Reason: Q.850;cause=16.
    result = sipp(SIPP / "uac_waits_bye.xml", ast.sip_port, service="misuse",
                  variables={"target": "none"}).wait()
    assert_sipp_ok(result)
    bye = result.messages[result.messages.index("BYE sip:"):]
    assert "Reason: Q.850;cause=16" in bye


def test_pass_through_from_caller_bye_to_callee_bye(ast, sipp, no_new_warnings):
    # The callee's hangup handler copies X-Foo of the BYE the caller sent; SIPp (UAS) checks it.
    uas = sipp(SIPP / "uas_waits_bye.xml", 0)
    uac = sipp(SIPP / "uac_sends_bye.xml", ast.sip_port, service="passthrough",
               variables={"long": "x", "target": f"sip:bob@127.0.0.1:{uas.port}"})
    assert_sipp_ok(uac.wait())
    assert_sipp_ok(uas.wait())


def test_cancelled_call_reads_empty_without_warning(ast, ami, sipp, no_new_warnings):
    assert_sipp_ok(sipp(SIPP / "uac_cancels.xml", ast.sip_port, service="cancel").wait())
    got = report(ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="cancel"))
    assert got == {key: "" for key in FIELDS}


def test_folded_header_lines_are_unfolded(ast, ami):
    from buildtools.testing.rawsip import RawUac

    uac = RawUac(ast.sip_port, "inbound")
    try:
        with ast.follow() as log:
            uac.call()
            wait_hangup_handler(log)
        answer = uac.bye("X-Foo: folded\n   over\n\tthree lines\nX-Foo: second\nX-Quoted: \"q\"\n"
                         "X-Long: short\ns: folded\n subject")
    finally:
        uac.close()
    assert answer.startswith("SIP/2.0 200")
    got = report(ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="inbound"))
    assert got["Foo1"] == "folded over three lines"
    assert got["Foo2"] == "second"
    assert got["Subject"] == "folded subject"


def test_cr_only_lines_and_a_body_that_looks_like_headers(ast, ami):
    # pjproject accepts a lone CR as line end; the body ends the headers, whatever it holds.
    from buildtools.testing.rawsip import RawUac

    uac = RawUac(ast.sip_port, "inbound")
    try:
        with ast.follow() as log:
            uac.call()
            wait_hangup_handler(log)
        answer = uac.bye_raw("X-Foo: real\rX-Quoted: q\rX-Long: l\rs: subj",
                             body="\rX-Foo: from-the-body\rX-Missing: spoofed\r", eol="\r")
    finally:
        uac.close()
    assert answer.startswith("SIP/2.0 200")
    got = report(ami.wait_event("UserEvent", UserEvent="ByeHeaders", Case="inbound"))
    assert got["Foo1"] == "real" and got["Foo2"] == ""
    assert got["Missing"] == ""
    assert got["CallId"] != "" and got["Subject"] == "subj"


@pytest.mark.allow_warnings
def test_misuse_is_one_error_line_each(ast, ami, sipp):
    before = len(ast.warnings())
    assert_sipp_ok(sipp(SIPP / "uac_waits_bye.xml", ast.sip_port, service="misuse",
                        variables={"target": "none"}).wait())
    ami.wait_event("UserEvent", UserEvent="Misuse")
    errors = [line.split(": ", 1)[-1] for line in ast.warnings()[before:]]
    assert errors == [
        "PJSIP_HANGUP_HEADER: unknown action 'add' when reading, must be 'read'.",
        "PJSIP_HANGUP_HEADER: header Via of a BYE cannot be changed.",
        "PJSIP_HANGUP_HEADER: unknown action 'bogus' when writing, must be 'add', 'update' or 'remove'.",
        "PJSIP_HANGUP_HEADER: invalid header number 'zero', must be 1 or more.",
        "PJSIP_HANGUP_HEADER: header CSeq of a BYE cannot be changed.",
        "PJSIP_HANGUP_HEADER: 'X:Bad' is not a header name.",
        "PJSIP_HANGUP_HEADER: the value of header X-Tab holds a control character.",
    ]
    assert "fully booted" in ast.cli("core waitfullybooted").stdout


@pytest.mark.allow_warnings
def test_declines_where_the_functions_exist(ast, tmp_path):
    """Where PJSIP_HANGUP_HEADER(S) are registered already (upstream PR #1409 adds them to
    res_pjsip_header_funcs), the module declines to load with one error line. A second copy of the
    module, loaded under another name, stands in for that module."""
    installed = ast.prefix / "lib" / "asterisk" / "modules" / "res_pjsip_hangup_headers.so"
    copy = tmp_path / "res_pjsip_hangup_headers_copy.so"
    copy.write_bytes(installed.read_bytes())
    before = len(ast.warnings())
    # "module load" takes a path relative to the module directory
    ast.cli(f"module load {os.path.relpath(copy, installed.parent)}", check=False)
    errors = [line.split(": ", 1)[-1] for line in ast.warnings()[before:]]
    assert errors == ["PJSIP_HANGUP_HEADER and PJSIP_HANGUP_HEADERS are provided by another module already "
                      "(res_pjsip_header_funcs?): not loading res_pjsip_hangup_headers."]
    shown = {line.split()[0].rsplit("/", 1)[-1]: line for line in
             ast.cli("module show like hangup_headers").stdout.splitlines() if ".so" in line}
    assert "Not Running" in shown["res_pjsip_hangup_headers_copy.so"]
    assert " Running" in shown["res_pjsip_hangup_headers.so"] and "Not" not in shown["res_pjsip_hangup_headers.so"]
    # The functions are still those of the loaded module.
    assert "Gets headers of a received BYE" in ast.cli("core show function PJSIP_HANGUP_HEADER").stdout


def test_documented(ast):
    out = " ".join(ast.cli("core show function PJSIP_HANGUP_HEADER").stdout.split())
    assert "Gets headers of a received BYE, or sets headers on the BYE Asterisk sends." in out
    assert "22.12.0" in out
