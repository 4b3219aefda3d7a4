"""A minimal UDP SIP user agent server for what SIPp cannot send: final responses too large for
a SIPp scenario (SIPp refuses to load a scenario holding a message with thousands of headers)."""

from __future__ import annotations

import socket
import threading


class RawUas:
    """Answers one INVITE on 127.0.0.1 with a final failure response given verbatim."""

    def __init__(self, code: int, phrase: str, headers: list[str]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.status = f"SIP/2.0 {code} {phrase}"
        self.headers = headers
        self.error: BaseException | None = None
        self.acked = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            data, peer = self.sock.recvfrom(65535)
            invite = data.decode(errors="replace").split("\r\n")
            assert invite[0].startswith("INVITE "), invite[0]
            keep = [line for line in invite[1:] if line.split(":", 1)[0].lower()
                    in ("via", "from", "to", "call-id", "cseq")]
            keep = [f"{line};tag=rawuas" if line.lower().startswith("to:") else line for line in keep]
            response = "\r\n".join([self.status, *keep, *self.headers, "Content-Length: 0", "", ""])
            # Retransmitted until the ACK comes (UDP).
            for _ in range(10):
                self.sock.sendto(response.encode(), peer)
                try:
                    while True:
                        if self.sock.recv(65535).startswith(b"ACK "):
                            self.acked = True
                            return
                except socket.timeout:
                    continue
        except BaseException as exc:  # reported by wait()
            self.error = exc

    def wait(self, timeout: float = 30) -> None:
        """Wait until the response was acknowledged; fails with what went wrong otherwise."""
        self._thread.join(timeout)
        if self.error:
            raise self.error
        assert self.acked, "the failure response was never acknowledged"
        self.sock.close()
