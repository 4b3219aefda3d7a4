"""Shared by the example setups' tests (examples/<name>/): render their config templates, start a real
Kamailio and wait until it answers, wait for SIPp peers to listen, poll for a condition.

Config files in examples/ are templates: ``@NAME@`` placeholders (ports, paths) are filled by
:func:`render`; a placeholder left unfilled is an error naming the file.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from buildtools.testing.helpers import eventually

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"
_PLACEHOLDER = re.compile(r"@([A-Z][A-Z0-9_]*)@")


def render(path: Path, **fields: object) -> str:
    """The text of template ``path`` with every ``@NAME@`` replaced by ``fields[NAME]``."""
    text = path.read_text()
    missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in fields and m != "SIP_PORT"})
    if missing:
        raise ValueError(f"{path}: placeholders not filled: {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(fields[m.group(1)]) if m.group(1) in fields else m.group(0), text)


def example_configs(name: str, *files: str | dict[str, str], **fields: object) -> dict[str, str]:
    """Asterisk config files of example ``name``, rendered (``@SIP_PORT@`` is left to the sandbox).

    Each of ``files`` is a file name, or a dict {name Asterisk reads: file of the example}.
    """
    out = {}
    for f in files:
        for target, source in (f.items() if isinstance(f, dict) else [(f, f)]):
            out[target] = render(EXAMPLES / name / source, **fields)
    return out


def _listening(port: int, proto: str) -> bool:
    """Whether something listens on 127.0.0.1:``port`` (UDP bound, or TCP in LISTEN state)."""
    table = "/proc/net/udp" if proto == "udp" else "/proc/net/tcp"
    want_port = f"{port:04X}"
    with open(table) as f:
        next(f)
        for line in f:
            fields = line.split()
            addr, state = fields[1], fields[3]
            if addr.endswith(":" + want_port) and (proto == "udp" or state == "0A"):
                return True
    return False


def wait_listening(port: int, proto: str = "udp", timeout: float = 10, proc: subprocess.Popen | None = None,
                   what: str = "peer") -> None:
    """Wait until ``port`` is bound (a SIPp peer, Kamailio); fail early if ``proc`` exited."""
    deadline = time.monotonic() + timeout
    while not _listening(port, proto):
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what} exited with {proc.returncode} before listening on {proto} {port}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} is not listening on {proto} 127.0.0.1:{port} after {timeout} s")
        time.sleep(0.05)


def sip_options(port: int, timeout: float = 1.0) -> str | None:
    """Send one OPTIONS to 127.0.0.1:``port`` over UDP (no user part: for the proxy itself);
    the status line of the reply, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        me = s.getsockname()[1]
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{me};branch={branch};rport\r\n"
               f"From: <sip:probe@127.0.0.1:{me}>;tag={random.getrandbits(32):x}\r\n"
               f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: {random.getrandbits(64):x}@probe\r\n"
               "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            data = s.recv(65535).decode(errors="replace")
        except (socket.timeout, ConnectionRefusedError):
            return None
        return data.split("\r\n", 1)[0]


class Kamailio:
    """One Kamailio process (Debian's package) running a rendered config, in its own folder.

    Started in its own session (process group) so that stopping it stops its children and
    nothing else. Ready when every listed socket is bound and, when ``ping_port`` is given,
    it answers an OPTIONS there.
    """

    def __init__(self, workdir: Path, config: str, listens: list[tuple[str, int]],
                 ping_port: int | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.cfg = workdir / "kamailio.cfg"
        self.cfg.write_text(config)
        self.log = workdir / "kamailio.log"
        self.listens = listens
        self.ping_port = ping_port
        self.proc: subprocess.Popen | None = None

    @property
    def binary(self) -> str:
        return shutil.which("kamailio") or "/usr/sbin/kamailio"

    def check(self) -> None:
        """Syntax-check the config (kamailio -c); fail with Kamailio's own error lines."""
        res = subprocess.run([self.binary, "-c", "-f", str(self.cfg)], capture_output=True, text=True,
                             errors="replace", timeout=30)
        if res.returncode != 0:
            errors = [l for l in (res.stdout + res.stderr).splitlines() if "ERROR" in l or "CRITICAL" in l]
            raise AssertionError(f"{self.cfg}: Kamailio rejects the config:\n" + "\n".join(errors[-10:]))

    def start(self, timeout: float = 20) -> None:
        self.check()
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-f", str(self.cfg), "-DD", "-E", "-m", "32", "-M", "8",
                 "-Y", str(self.workdir), "-P", str(self.workdir / "kamailio.pid")],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + timeout
            for proto, port in self.listens:
                wait_listening(port, proto, max(0.5, deadline - time.monotonic()), self.proc, "Kamailio")
            if self.ping_port:
                eventually(lambda: sip_options(self.ping_port) or (self.proc.poll() is not None and "exited"),
                         max(0.5, deadline - time.monotonic()), "Kamailio to answer OPTIONS")
                if self.proc.poll() is not None:
                    raise AssertionError(f"Kamailio exited with {self.proc.returncode}")
        except BaseException as exc:
            self.stop()
            raise AssertionError(f"{exc}; see {self.log}:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 15) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        # Children that outlived the main process (same process group, ours only).
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def make_certificates(directory: Path, name: str = "localhost") -> dict[str, Path]:
    """A self-signed CA and a server certificate for ``name`` (and 127.0.0.1) signed by it,
    made with openssl: {"ca", "cert", "key"} paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (directory / f for f in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem"))
    ext = directory / "server.ext"
    ext.write_text(f"subjectAltName = DNS:{name}, IP:127.0.0.1\nbasicConstraints = CA:FALSE\n"
                   "keyUsage = digitalSignature, keyEncipherment\nextendedKeyUsage = serverAuth\n")
    steps = [
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=examples test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
         "-days", "2", "-extfile", ext],
    ]
    for args in steps:
        res = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
        if res.returncode != 0:
            raise AssertionError(f"openssl {args[0]} failed: {res.stderr.strip()[-500:]}")
    return {"ca": ca, "cert": cert, "key": key}
