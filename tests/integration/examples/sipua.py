"""A small SIP user agent over TCP, TLS and WebSocket (RFC 7118), for the examples' phones.

SIPp maps every message to a call by Call-ID, so one SIPp process cannot register over a
connection and then take a call that arrives on it. A phone behind a proxy over TCP, TLS or
WSS must do exactly that: this UA registers, places and answers calls and hangs up on the one
connection it keeps. Signaling only (the SDP is a fixed offer/answer; no media is sent).
"""

from __future__ import annotations

import random
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


def _rand(bits: int = 32) -> str:
    return f"{random.getrandbits(bits):x}"


@dataclass
class Message:
    """A parsed SIP message: start line, headers in order (name as received), body."""

    start: str
    headers: list[tuple[str, str]]
    body: str = ""
    raw: str = ""

    @property
    def is_response(self) -> bool:
        return self.start.startswith("SIP/2.0 ")

    @property
    def code(self) -> int:
        return int(self.start.split()[1]) if self.is_response else 0

    @property
    def method(self) -> str:
        if self.is_response:
            return self.header("CSeq").split()[-1]
        return self.start.split()[0]

    def header(self, name: str) -> str:
        values = self.all(name)
        return values[0] if values else ""

    def all(self, name: str) -> list[str]:
        """Every value of header ``name`` (comma-separated values of Record-Route/Via split)."""
        out = []
        for key, value in self.headers:
            if key.lower() == name.lower():
                if name.lower() in ("record-route", "route", "via", "path"):
                    out += [v.strip() for v in _split_commas(value)]
                else:
                    out.append(value)
        return out


def _split_commas(value: str) -> list[str]:
    parts, depth, cur = [], 0, ""
    for ch in value:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def parse(text: str) -> Message:
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif ":" in line:
            key, _, value = line.partition(":")
            headers.append((key.strip(), value.strip()))
    return Message(lines[0], headers, body, text)


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    local_uri: str
    remote_uri: str
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    cseq: int = 1


class Transport:
    """A connection to the proxy: TCP, TLS (stream, framed by Content-Length) or WS/WSS."""

    def __init__(self, kind: str, port: int, cafile: str | None = None, host: str = "127.0.0.1",
                 server_name: str = "localhost") -> None:
        self.kind = kind
        self.ws = None
        self.sock = None
        ctx = None
        if kind in ("tls", "wss"):
            ctx = ssl.create_default_context(cafile=cafile)
            ctx.check_hostname = True
        if kind in ("ws", "wss"):
            from websockets.sync.client import connect

            scheme = "wss" if kind == "wss" else "ws"
            self._ws_cm = connect(f"{scheme}://{host}:{port}/", subprotocols=["sip"], ssl=ctx,
                                  server_hostname=server_name if ctx else None, open_timeout=10)
            self.ws = self._ws_cm.__enter__()
            self.local = self.ws.socket.getsockname()
        else:
            raw = socket.create_connection((host, port), timeout=10)
            self.sock = ctx.wrap_socket(raw, server_hostname=server_name) if ctx else raw
            self.local = self.sock.getsockname()
        self.buffer = b""
        self.lock = threading.Lock()

    @property
    def via_transport(self) -> str:
        return self.kind.upper()

    def send(self, text: str) -> None:
        with self.lock:
            if self.ws is not None:
                self.ws.send(text)
            else:
                self.sock.sendall(text.encode())

    def recv(self, timeout: float) -> str | None:
        """One SIP message, or None when nothing came within ``timeout``."""
        if self.ws is not None:
            try:
                data = self.ws.recv(timeout=timeout)
            except TimeoutError:
                return None
            return data if isinstance(data, str) else data.decode(errors="replace")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._frame()
            if msg is not None:
                return msg
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except (socket.timeout, TimeoutError):
                return None
            if not chunk:
                raise ConnectionError("the proxy closed the connection")
            self.buffer += chunk

    def _frame(self) -> str | None:
        self.buffer = self.buffer.lstrip(b"\r\n")  # keepalive CRLFs
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = self.buffer[:end].decode(errors="replace")
        length = 0
        for line in head.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() in ("content-length", "l"):
                length = int(value.strip() or 0)
        total = end + 4 + length
        if len(self.buffer) < total:
            return None
        msg, self.buffer = self.buffer[:total], self.buffer[total:]
        return msg.decode(errors="replace")

    def close(self) -> None:
        try:
            if self.ws is not None:
                self.ws.close()
            else:
                self.sock.close()
        except OSError:
            pass


class UA:
    """A phone ``user`` connected to the proxy at 127.0.0.1:``port``."""

    def __init__(self, user: str, kind: str, port: int, cafile: str | None = None, domain: str = "127.0.0.1") -> None:
        self.user = user
        self.domain = domain
        self.proxy_port = port
        self.t = Transport(kind, port, cafile)
        self.kind = kind
        host, lport = self.t.local[:2]
        # RFC 7118: a WebSocket client has no reachable address; its Contact host is made up.
        self.contact_host = f"{_rand()}.invalid" if kind in ("ws", "wss") else f"{host}:{lport}"
        self.via_host = self.contact_host if kind in ("ws", "wss") else f"{host}:{lport}"
        self.contact = f"<sip:{user}@{self.contact_host};transport={kind}>"
        self.log: list[Message] = []
        self.pending: list[Message] = []

    # -- messages ----------------------------------------------------------------------------
    def _via(self) -> str:
        return f"SIP/2.0/{self.t.via_transport} {self.via_host};branch=z9hG4bK{_rand(48)};rport"

    def _send(self, start: str, headers: list[str], body: str = "") -> None:
        if body:
            headers = headers + ["Content-Type: application/sdp"]
        text = "\r\n".join([start, *headers, f"Content-Length: {len(body.encode())}", "", body])
        self.t.send(text)

    def recv(self, timeout: float = 10, want=None) -> Message:
        """The next message for which ``want(msg)`` is true (others are kept for later)."""
        for msg in self.pending:
            if want is None or want(msg):
                self.pending.remove(msg)
                return msg
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            text = self.t.recv(left)
            if text is None:
                break
            msg = parse(text)
            self.log.append(msg)
            if want is None or want(msg):
                return msg
            self.pending.append(msg)
        raise TimeoutError(f"{self.user}: no matching SIP message within {timeout} s")

    def final(self, method: str, call_id: str, timeout: float = 10) -> Message:
        return self.recv(timeout, lambda m: m.is_response and m.code >= 200 and m.method == method
                         and m.header("Call-ID") == call_id)

    def request(self, method: str, timeout: float = 10) -> Message:
        return self.recv(timeout, lambda m: not m.is_response and m.method == method)

    def reply(self, req: Message, code: int, phrase: str, headers: list[str] = (), body: str = "",
              to_tag: str = "") -> None:
        lines = [f"Via: {v}" for v in req.all("Via")]
        to = req.header("To")
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines += [f"From: {req.header('From')}", f"To: {to}", f"Call-ID: {req.header('Call-ID')}",
                  f"CSeq: {req.header('CSeq')}"]
        self._send(f"SIP/2.0 {code} {phrase}", lines + list(headers), body)

    # -- registration ------------------------------------------------------------------------
    def register(self, expires: int = 600, headers: list[str] = ()) -> Message:
        call_id = f"{_rand(64)}@reg"
        uri = f"sip:{self.user}@{self.domain}"
        self._send(f"REGISTER sip:{self.domain} SIP/2.0", [
            f"Via: {self._via()}", f"From: <{uri}>;tag={_rand()}", f"To: <{uri}>",
            f"Call-ID: {call_id}", "CSeq: 1 REGISTER", f"Contact: {self.contact}",
            f"Expires: {expires}", "Max-Forwards: 70", *headers])
        return self.final("REGISTER", call_id)

    # -- calls ---------------------------------------------------------------------------------
    def invite(self, target: str, headers: list[str] = ()) -> tuple[Dialog, Message]:
        """Call ``target`` (a user at the proxy); the dialog and the final response (ACKed)."""
        d = Dialog(f"{_rand(64)}@{self.user}", _rand(), f"sip:{self.user}@{self.domain}",
                   f"sip:{target}@{self.domain}")
        branch_via = self._via()
        ruri = f"sip:{target}@{self.domain}"
        self._send(f"INVITE {ruri} SIP/2.0", [
            f"Via: {branch_via}", f"From: <{d.local_uri}>;tag={d.local_tag}", f"To: <{d.remote_uri}>",
            f"Call-ID: {d.call_id}", "CSeq: 1 INVITE", f"Contact: {self.contact}", "Max-Forwards: 70",
            *headers], SDP)
        final = self.final("INVITE", d.call_id, timeout=20)
        d.remote_tag = final.header("To").split(";tag=")[-1] if ";tag=" in final.header("To") else ""
        if final.code >= 300:
            # ACK of a failure: same branch, hop by hop.
            self._send(f"ACK {ruri} SIP/2.0", [
                f"Via: {branch_via}", f"From: <{d.local_uri}>;tag={d.local_tag}", f"To: {final.header('To')}",
                f"Call-ID: {d.call_id}", "CSeq: 1 ACK", "Max-Forwards: 70"])
            return d, final
        d.route_set = list(reversed(final.all("Record-Route")))
        d.remote_target = final.header("Contact").strip("<>").split(">")[0]
        self._in_dialog(d, "ACK", cseq=1)
        return d, final

    def answer(self, timeout: float = 20, headers: list[str] = ()) -> tuple[Dialog, Message]:
        """Wait for an INVITE and answer it 200 OK; the dialog (ACK received) and the INVITE."""
        inv = self.request("INVITE", timeout)
        d = Dialog(inv.header("Call-ID"), _rand(), inv.header("To").strip("<>").split(">")[0],
                   inv.header("From").split(";tag=")[0].strip().strip("<>"),
                   inv.header("From").split(";tag=")[-1])
        d.route_set = inv.all("Record-Route")
        d.remote_target = inv.header("Contact").strip("<>").split(">")[0]
        d.cseq = 0
        self.reply(inv, 180, "Ringing", to_tag=d.local_tag)
        self.reply(inv, 200, "OK", [*(f"Record-Route: {r}" for r in inv.all("Record-Route")),
                                    f"Contact: {self.contact}", *headers], SDP, to_tag=d.local_tag)
        self.request("ACK", timeout)
        return d, inv

    def _in_dialog(self, d: Dialog, method: str, headers: list[str] = (), cseq: int | None = None) -> None:
        if cseq is None:
            d.cseq += 1
            cseq = d.cseq
        to = f"<{d.remote_uri}>" + (f";tag={d.remote_tag}" if d.remote_tag else "")
        self._send(f"{method} {d.remote_target} SIP/2.0", [
            f"Via: {self._via()}", *(f"Route: {r}" for r in d.route_set),
            f"From: <{d.local_uri}>;tag={d.local_tag}", f"To: {to}", f"Call-ID: {d.call_id}",
            f"CSeq: {cseq} {method}", "Max-Forwards: 70", *headers])

    def bye(self, d: Dialog, headers: list[str] = ()) -> Message:
        """Hang up with a BYE carrying ``headers``; the final response to it."""
        self._in_dialog(d, "BYE", headers, cseq=max(d.cseq, 1) + 1)
        return self.final("BYE", d.call_id)

    def wait_bye(self, d: Dialog, timeout: float = 20) -> Message:
        """Wait for the far end's BYE, answer 200; the BYE."""
        bye = self.recv(timeout, lambda m: not m.is_response and m.method == "BYE"
                        and m.header("Call-ID") == d.call_id)
        self.reply(bye, 200, "OK")
        return bye

    def close(self) -> None:
        self.t.close()
