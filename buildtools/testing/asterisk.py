"""A built Asterisk in a sandbox: its own config, run, log and spool dirs, loopback only.

:class:`AsteriskSandbox` writes ``asterisk.conf`` pointing every directory into a private
folder (the installed prefix supplies only modules and XML docs), takes loopback ports from the
session's allocator, starts ``asterisk -f`` and hands it over once ``core waitfullybooted``
answers and every module it asked for runs; on any failure it stops the process first. Tests
talk to it through the CLI (``asterisk -rx``), AMI (:class:`~buildtools.testing.ami.AmiClient`)
and SIP. The log files stay in the sandbox folder for inspection.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from buildtools.errors import SandboxError
from buildtools.modules import SANDBOX_MODULES
from buildtools.testing.ami import AmiClient
from buildtools.testing.logs import LogFollower
from buildtools.testing.ports import free_port

#: Modules every sandbox loads (plus those a test asks for); file names.
BASE_MODULES: list[str] = [f"{m}.so" for m in SANDBOX_MODULES]

#: The log line a sandbox writes to sync with its logger thread (see AsteriskSandbox.sync_log).
MARK = "bt-log-mark-"


def _known_noise(line: str) -> bool:
    """WARNING/ERROR lines that say nothing about the code under test.

    res_rtp_asterisk, setting up RTCP for an RTP socket bound to the any-address (an endpoint
    without ``transport =`` binds its RTP there: res_pjsip_sdp_rtp.c create_rtp), asks
    ast_find_ourip() for "our" address: it resolves the machine's host name, then
    A.ROOT-SERVERS.NET (main/acl.c). Where the host name does not resolve (a chroot without
    /etc/hosts) each lookup logs one line (acl.c "Unable to lookup '<name>'"; netsock2.c
    "getaddrinfo(...)" in other versions), once per call; the call works (RTCP uses the bound
    address). No asterisk.conf/rtp.conf option turns the lookup off, and the tests' endpoints
    need not name a transport, so exactly these lines are not counted.
    """
    if "acl.c" not in line and "netsock2.c" not in line:
        return False
    return any(f"{how}{name}" in line for name in (socket.gethostname(), "A.ROOT-SERVERS.NET")
               for how in ("Unable to lookup '", 'getaddrinfo("'))


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

    def start(self, timeout: float = 30) -> AsteriskSandbox:
        """Write the configuration, start Asterisk and wait until it is fully booted with every
        module loaded; on failure Asterisk is stopped and SandboxError names the log."""
        if not self.binary.exists():
            raise SandboxError(f"{self.binary} not found; run `buildtools pipeline` first")
        self.sip_port = self.sip_port or free_port()
        self.ami_port = self.ami_port or free_port(socket.SOCK_STREAM)
        self._write_configs()
        with open(self.log_dir / "console.log", "wb") as out:
            self.proc = subprocess.Popen(
                [*self.wrapper, str(self.binary), "-C", str(self.etc / "asterisk.conf"), "-f", "-n"],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            self._wait_booted(timeout)
            self._check_modules()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_booted(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        ctl = self.root / "run" / "asterisk.ctl"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SandboxError(f"Asterisk exited with {self.proc.returncode} while booting; "
                                   f"see {self.log_dir / 'console.log'}")
            if ctl.exists():
                left = max(1.0, deadline - time.monotonic())
                try:
                    res = self.cli("core waitfullybooted", check=False, timeout=left)
                except subprocess.TimeoutExpired:
                    break
                if res.returncode == 0 and "fully booted" in res.stdout:
                    return
            time.sleep(0.05)  # the control socket is not there yet: nothing to wait on but the file
        raise SandboxError(f"Asterisk did not boot within {timeout:g} s; see {self.log_dir}")

    def _check_modules(self) -> None:
        """Fail when a module the sandbox asked for did not load (e.g. a missing dependency), or
        when the XML documentation (where config options and functions are described) is broken."""
        console = (self.log_dir / "console.log").read_text(errors="replace")
        if "Could not open XML documentation" in console:
            raise SandboxError(f"Asterisk could not load its XML documentation; see {self.log_dir / 'console.log'}")
        shown = self.cli("module show").stdout
        missing = [m for m in BASE_MODULES + self.modules if f"{m} " not in shown]
        if missing:
            raise SandboxError(f"modules not loaded: {', '.join(missing)}; see {self.log_dir / 'messages'}")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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

    def follow(self, name: str = "full") -> LogFollower:
        """A follower of log ``name`` (``full``, ``messages``, ``console.log``) from its current end."""
        return LogFollower(self.log_dir / name)

    def log_text(self, name: str = "full") -> str:
        path = self.log_dir / name
        return path.read_text(errors="replace") if path.exists() else ""

    def sync_log(self, timeout: float = 15) -> None:
        """Return once every line logged before the call is in the log files.

        Asterisk writes its logs from a logger thread; a line logged just before an AMI event
        may not be in the file yet when the event arrives. This logs a WARNING marker (a
        `module unload` of a module that does not exist) and waits for it in `messages`.
        """
        if not self.running():
            return
        token = f"{MARK}{uuid.uuid4().hex[:12]}"
        with LogFollower(self.log_dir / "messages") as follower:
            self.cli(f"module unload {token}.so", check=False)
            follower.expect(token, timeout=timeout, exact=True)

    def warnings(self, sync: bool = True) -> list[str]:
        """WARNING and ERROR lines logged so far (after :meth:`sync_log` unless ``sync`` is false),
        without the sandbox's own markers and known noise (see ``_known_noise``)."""
        if sync:
            self.sync_log()
        return [line for line in self.log_text("messages").splitlines()
                if ("WARNING[" in line or "ERROR[" in line) and MARK not in line and not _known_noise(line)]

    def stop(self, timeout: float = 10) -> None:
        """Stop Asterisk: `core stop now`, else (or when it does not exit in ``timeout``) SIGKILL."""
        if not self.proc or self.proc.poll() is not None:
            return
        graceful = False
        if (self.root / "run" / "asterisk.ctl").exists():
            try:
                graceful = self.cli("core stop now", check=False, timeout=timeout).returncode == 0
            except (subprocess.TimeoutExpired, OSError):
                graceful = False
        if graceful:
            try:
                self.proc.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=timeout)

    def __enter__(self) -> AsteriskSandbox:
        return self.start() if not self.running() else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_root(prefix: str = "ast-") -> Path:
    """A short private folder (the control socket path must stay under 108 bytes)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


def remove_root(root: Path) -> None:
    shutil.rmtree(root, ignore_errors=True)
