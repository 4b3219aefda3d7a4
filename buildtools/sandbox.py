"""Run a built Asterisk in a sandbox: its own config, run, log and spool dirs, loopback only.

An :class:`AsteriskSandbox` writes ``asterisk.conf`` pointing every directory into a
private folder (the installed prefix supplies only modules and XML docs), picks free
loopback ports, starts ``asterisk -f`` and waits until it is fully booted. Tests talk to it
through the CLI (``asterisk -rx``), an AMI connection (:class:`AmiClient`) and SIPp
(:func:`run_sipp`). The log files stay in the sandbox folder for inspection.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from buildtools.errors import SandboxError

#: Modules every sandbox loads (plus those a test asks for). Kept small: boot in < 1 s.
BASE_MODULES = [
    "res_pjproject.so", "res_sorcery_config.so", "res_sorcery_memory.so", "res_sorcery_astdb.so",
    "res_pjsip.so", "res_pjsip_session.so", "res_pjsip_pubsub.so", "chan_pjsip.so",
    "res_pjsip_endpoint_identifier_ip.so", "res_pjsip_endpoint_identifier_user.so",
    "res_pjsip_authenticator_digest.so", "res_pjsip_outbound_authenticator_digest.so",
    "res_pjsip_sdp_rtp.so", "res_pjsip_caller_id.so", "res_pjsip_rfc3326.so",
    "res_pjsip_header_funcs.so", "res_pjsip_logger.so", "res_pjsip_registrar.so",
    "res_pjsip_path.so", "res_rtp_asterisk.so", "res_timing_timerfd.so",
    "bridge_simple.so", "bridge_native_rtp.so", "pbx_config.so",
    "app_dial.so", "app_echo.so", "app_playback.so", "app_verbose.so", "app_stack.so",
    "app_userevent.so", "func_hangupcause.so", "func_channel.so", "func_strings.so",
    "func_logic.so", "func_base64.so", "func_cut.so", "func_callerid.so", "codec_ulaw.so", "codec_alaw.so",
    "format_wav.so", "format_pcm.so",
]


def free_port(kind: int = socket.SOCK_DGRAM, also_tcp: bool = True) -> int:
    """A port free on 127.0.0.1 for UDP (and TCP when ``also_tcp``)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if also_tcp:
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                    t.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise SandboxError("no free port on 127.0.0.1")


class AmiClient:
    """A minimal Asterisk Manager Interface client that collects events in a queue."""

    def __init__(self, port: int, username: str = "test", secret: str = "test") -> None:
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self._file = self._sock.makefile("r", encoding="utf-8", errors="replace", newline="\r\n")
        self._file.readline()  # banner
        self.events: queue.Queue[dict[str, str]] = queue.Queue()
        self._responses: queue.Queue[dict[str, str]] = queue.Queue()
        self._seen: list[dict[str, str]] = []
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()
        resp = self.action("Login", Username=username, Secret=secret)
        if resp.get("Response") != "Success":
            raise SandboxError(f"AMI login failed: {resp}")

    def _reader(self) -> None:
        msg: dict[str, str] = {}
        try:
            for line in self._file:
                line = line.rstrip("\r\n")
                if not line:
                    if "Event" in msg:
                        self.events.put(msg)
                    elif msg:
                        self._responses.put(msg)
                    msg = {}
                    continue
                key, _, value = line.partition(":")
                msg[key.strip()] = value.removeprefix(" ")
        except (OSError, ValueError):
            pass

    def action(self, name: str, **fields: str) -> dict[str, str]:
        """Send an action and return its response."""
        lines = [f"Action: {name}"] + [f"{k}: {v}" for k, v in fields.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            return self._responses.get(timeout=10)
        except queue.Empty:
            raise SandboxError(f"no AMI response to {name}") from None

    def wait_event(self, event: str, timeout: float = 15, **match: str) -> dict[str, str]:
        """The first event named ``event`` whose fields equal ``match`` (case-sensitive values)."""
        def matches(ev: dict[str, str]) -> bool:
            return ev.get("Event") == event and all(ev.get(k) == v for k, v in match.items())

        for ev in self._seen:
            if matches(ev):
                self._seen.remove(ev)
                return ev
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                break
            if matches(ev):
                return ev
            self._seen.append(ev)
        raise SandboxError(f"no AMI event {event} {match} within {timeout} s")

    def drain(self, event: str, **match: str) -> list[dict[str, str]]:
        """Take every event received so far named ``event`` whose fields equal ``match``."""
        while True:
            try:
                self._seen.append(self.events.get_nowait())
            except queue.Empty:
                break
        taken = [ev for ev in self._seen
                 if ev.get("Event") == event and all(ev.get(k) == v for k, v in match.items())]
        self._seen = [ev for ev in self._seen if ev not in taken]
        return taken

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


@dataclass
class AsteriskSandbox:
    """One Asterisk process with private directories under ``root``."""

    prefix: Path
    root: Path
    configs: dict[str, str] = field(default_factory=dict)
    modules: list[str] = field(default_factory=list)
    sip_port: int = 0
    ami_port: int = 0
    proc: subprocess.Popen | None = None
    wrapper: list[str] = field(default_factory=list)  # command prefix, e.g. `unshare -m …` (must exec)

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def binary(self) -> Path:
        return self.prefix / "sbin" / "asterisk"

    def _write_configs(self) -> None:
        for d in ("etc", "run", "log", "spool", "db", "keys"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        lib = self.prefix / "lib" / "asterisk"
        data = self.prefix / "var" / "lib" / "asterisk"
        files = {
            "asterisk.conf": f"""[directories]
astetcdir => {self.etc}
astmoddir => {lib / 'modules'}
astvarlibdir => {self.root / 'db'}
astdbdir => {self.root / 'db'}
astkeydir => {self.root / 'keys'}
astdatadir => {data}
astagidir => {data / 'agi-bin'}
astspooldir => {self.root / 'spool'}
astrundir => {self.root / 'run'}
astlogdir => {self.log_dir}
astsbindir => {self.prefix / 'sbin'}
[options]
verbose = 3
debug = 0
hideconnect = yes
""",
            "modules.conf": "[modules]\nautoload = no\n"
            + "".join(f"load = {m}\n" for m in BASE_MODULES + self.modules),
            "logger.conf": "[general]\ndateformat=%F %T.%3q\n[logfiles]\n"
            "full => notice,warning,error,verbose,debug\nmessages => warning,error\n",
            "manager.conf": f"""[general]
enabled = yes
bindaddr = 127.0.0.1
port = {self.ami_port}
[test]
secret = test
read = all
write = all
""",
            "rtp.conf": "[general]\nrtpstart = 20000\nrtpend = 29999\n",
            "indications.conf": "[general]\ncountry = us\n[us]\ndescription = US\n"
            "ringcadence = 2000,4000\ndial = 350+440\nbusy = 480+620/500,0/500\n"
            "ring = 440+480/2000,0/4000\ncongestion = 480+620/250,0/250\n",
        }
        files.update(self.configs)
        for name, text in files.items():
            (self.etc / name).write_text(text.replace("@SIP_PORT@", str(self.sip_port)))

    def start(self, timeout: float = 30) -> None:
        """Write the configuration, start Asterisk and wait until it is fully booted."""
        if not self.binary.exists():
            raise SandboxError(f"{self.binary} not found; run `buildtools pipeline` first")
        self.sip_port = self.sip_port or free_port()
        self.ami_port = self.ami_port or free_port(socket.SOCK_STREAM, also_tcp=False)
        self._write_configs()
        out = open(self.log_dir / "console.log", "wb")
        self.proc = subprocess.Popen(
            [*self.wrapper, str(self.binary), "-C", str(self.etc / "asterisk.conf"), "-f", "-n"],
            stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SandboxError(
                    f"Asterisk exited with {self.proc.returncode} while booting; "
                    f"see {self.log_dir / 'console.log'}")
            if (self.root / "run" / "asterisk.ctl").exists():
                res = self.cli("core waitfullybooted", check=False, timeout=max(1.0, deadline - time.monotonic()))
                if res.returncode == 0 and "fully booted" in res.stdout:
                    self._check_modules()
                    return
            time.sleep(0.1)
        raise SandboxError(f"Asterisk did not boot within {timeout} s; see {self.log_dir}")

    def _check_modules(self) -> None:
        """Fail when a module the sandbox asked for did not load (e.g. a missing dependency), or
        when the XML documentation (where config options and functions are described) is broken."""
        console = (self.log_dir / "console.log").read_text(errors="replace")
        if "Could not open XML documentation" in console:
            self.stop()
            raise SandboxError(f"Asterisk could not load its XML documentation; see {self.log_dir / 'console.log'}")
        shown = self.cli("module show").stdout
        missing = [m for m in BASE_MODULES + self.modules if f"{m} " not in shown]
        if missing:
            self.stop()
            raise SandboxError(f"modules not loaded: {', '.join(missing)}; see {self.log_dir / 'messages'}")

    def cli(self, command: str, check: bool = True, timeout: float = 15) -> subprocess.CompletedProcess:
        """Run a CLI command through ``asterisk -rx`` and return the completed process."""
        res = subprocess.run(
            [str(self.binary), "-C", str(self.etc / "asterisk.conf"), "-rx", command],
            capture_output=True, text=True, errors="replace", timeout=timeout, check=False,
        )
        if check and res.returncode != 0:
            raise SandboxError(f"CLI '{command}' failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def ami(self) -> AmiClient:
        """A new logged-in AMI client."""
        return AmiClient(self.ami_port)

    def log_text(self, name: str = "full") -> str:
        path = self.log_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def warnings(self) -> list[str]:
        """WARNING and ERROR lines logged so far."""
        return [line for line in self.log_text("messages").splitlines()
                if "WARNING[" in line or "ERROR[" in line]

    def stop(self) -> None:
        """Stop Asterisk (gracefully, then by signal)."""
        if not self.proc or self.proc.poll() is not None:
            return
        try:
            self.cli("core stop now", check=False, timeout=10)
            self.proc.wait(timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            try:
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)


def make_root(prefix: str = "ast-") -> Path:
    """A short private folder (the control socket path must stay under 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_root(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)


@dataclass
class SippResult:
    """Outcome of one SIPp run."""

    returncode: int
    stdout: str
    messages: str
    errors: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


class Sipp:
    """A SIPp process running a scenario file against the sandbox."""

    def __init__(self, scenario: Path, target_port: int, workdir: Path, *, port: int | None = None,
                 service: str = "s", variables: dict[str, str] | None = None,
                 calls: int = 1, timeout: float = 30, extra: list[str] | None = None,
                 ip: str = "127.0.0.1") -> None:
        self.scenario = scenario
        self.port = port or free_port()
        self.workdir = workdir
        self.timeout = timeout
        name = f"{scenario.stem}-{self.port}"
        self.msg_file = workdir / f"{name}-messages.log"
        self.err_file = workdir / f"{name}-errors.log"
        cmd = ["sipp", "-sf", str(scenario), "-i", ip, "-p", str(self.port),
               "-m", str(calls), "-s", service, "-nostdin", "-trace_msg", "-message_file",
               str(self.msg_file), "-trace_err", "-error_file", str(self.err_file),
               "-timeout", f"{int(timeout)}s", "-timeout_error", "-max_recv_loops", "1000"]
        for key, value in (variables or {}).items():
            cmd += ["-key", key, value]
        cmd += extra or []
        if target_port:
            cmd.append(f"127.0.0.1:{target_port}")
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait(self) -> SippResult:
        try:
            out, _ = self.proc.communicate(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        read = (lambda p: p.read_text(errors="replace") if p.exists() else "")
        return SippResult(self.proc.returncode, out, read(self.msg_file), read(self.err_file))
