"""A minimal UDP SIP user agent for what SIPp cannot send: folded header lines (RFC 3261 7.3.1).

SIPp strips the leading white space of every scenario line, so a continuation line cannot be
written in a scenario. This UAC places one call (INVITE, ACK) and ends it with a BYE whose
header block is given verbatim.
"""

from __future__ import annotations

import random
import socket


class RawUac:
    """One call from 127.0.0.1 to Asterisk over UDP."""

    def __init__(self, target_port: int, service: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5)
        self.port = self.sock.getsockname()[1]
        self.target = ("127.0.0.1", target_port)
        self.service = service
        self.call_id = f"{random.getrandbits(64):x}@127.0.0.1"
        self.tag = f"{random.getrandbits(32):x}"
        self.to_hdr = ""

    def _send(self, text: str) -> None:
        self.sock.sendto(text.replace("\n", "\r\n").encode(), self.target)

    def _recv_final(self, method: str) -> str:
        while True:
            data = self.sock.recv(65535).decode(errors="replace")
            first = data.split("\r\n", 1)[0]
            if data.startswith("SIP/2.0 ") and f" {method}\r\n" in data and int(first.split()[1]) >= 200:
                return data
            if not data.startswith("SIP/2.0 "):
                # A request from Asterisk (none expected here): ignore it.
                continue

    def _header(self, msg: str, name: str) -> str:
        for line in msg.split("\r\n"):
            if line.lower().startswith(name.lower() + ":"):
                return line.split(":", 1)[1].strip()
        return ""

    def call(self) -> None:
        uri = f"sip:{self.service}@127.0.0.1:{self.target[1]}"
        sdp = ("v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\n"
               "m=audio 6000 RTP/AVP 0\na=rtpmap:0 PCMU/8000\n").replace("\n", "\r\n")
        self._send(
            f"INVITE {uri} SIP/2.0\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.getrandbits(32):x}\n"
            f"From: <sip:raw@127.0.0.1:{self.port}>;tag={self.tag}\n"
            f"To: <{uri}>\nCall-ID: {self.call_id}\nCSeq: 1 INVITE\n"
            f"Contact: <sip:raw@127.0.0.1:{self.port}>\nMax-Forwards: 70\n"
            f"Content-Type: application/sdp\nContent-Length: {len(sdp)}\n\n" + sdp.replace("\r\n", "\n"))
        ok = self._recv_final("INVITE")
        assert ok.startswith("SIP/2.0 200"), ok.split("\r\n", 1)[0]
        self.to_hdr = self._header(ok, "To")
        self.remote_contact = self._header(ok, "Contact").strip("<>").split(">")[0]
        self._send(
            f"ACK {self.remote_contact} SIP/2.0\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.getrandbits(32):x}\n"
            f"From: <sip:raw@127.0.0.1:{self.port}>;tag={self.tag}\nTo: {self.to_hdr}\n"
            f"Call-ID: {self.call_id}\nCSeq: 1 ACK\nMax-Forwards: 70\nContent-Length: 0\n\n")

    def bye_raw(self, extra_headers: str, body: str = "", eol: str = "\r\n") -> str:
        """Send a BYE whose lines end with ``eol`` (a lone CR is legal for pjproject) and with ``body``."""
        lines = [f"BYE {self.remote_contact} SIP/2.0",
                 f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.getrandbits(32):x}",
                 f"From: <sip:raw@127.0.0.1:{self.port}>;tag={self.tag}", f"To: {self.to_hdr}",
                 f"Call-ID: {self.call_id}", "CSeq: 2 BYE", "Max-Forwards: 70",
                 *extra_headers.splitlines(), "Content-Type: text/plain", f"Content-Length: {len(body)}"]
        self.sock.sendto((eol.join(lines) + eol + eol + body).encode(), self.target)
        return self._recv_final("BYE")

    def bye(self, extra_headers: str, cseq: int = 2) -> str:
        """Send a BYE with ``extra_headers`` (lines joined by \\n, continuation lines kept)."""
        self._send(
            f"BYE {self.remote_contact} SIP/2.0\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{random.getrandbits(32):x}\n"
            f"From: <sip:raw@127.0.0.1:{self.port}>;tag={self.tag}\nTo: {self.to_hdr}\n"
            f"Call-ID: {self.call_id}\nCSeq: {cseq} BYE\nMax-Forwards: 70\n"
            f"{extra_headers.rstrip()}\nContent-Length: 0\n\n")
        return self._recv_final("BYE")

    def close(self) -> None:
        self.sock.close()
