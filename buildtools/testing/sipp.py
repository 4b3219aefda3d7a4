"""SIPp runs: a scenario against a target, or a responder waiting on its own port."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from buildtools.testing.ports import free_port
from buildtools.testing.process import udp_bound, wait_until


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
    """A SIPp process running a scenario file (against ``127.0.0.1:target_port`` when given);
    started by the constructor."""

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
        self.ip = ip
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def wait_ready(self, timeout: float = 10) -> Sipp:
        """Wait until SIPp has bound its SIP port (for a responder, before anything is sent to it)."""
        def gone() -> str | None:
            if self.proc.poll() is None:
                return None
            out = self.proc.stdout.read() if self.proc.stdout else ""
            return f"SIPp exited with {self.proc.returncode} before binding port {self.port}: {out[-500:]}"

        wait_until(lambda: udp_bound(self.port, self.ip), timeout, f"SIPp {self.scenario.name} on port {self.port}",
                   alive=gone)
        return self

    def messages(self) -> str:
        """The SIP messages logged so far."""
        return self.msg_file.read_text(errors="replace") if self.msg_file.exists() else ""

    def wait(self) -> SippResult:
        """Wait for SIPp to finish (killed after its own timeout + 15 s); its result."""
        try:
            out, _ = self.proc.communicate(timeout=self.timeout + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, _ = self.proc.communicate()
        read = (lambda p: p.read_text(errors="replace") if p.exists() else "")
        return SippResult(self.proc.returncode, out, read(self.msg_file), read(self.err_file))

    def stop(self, timeout: float = 10) -> None:
        """Terminate SIPp if it still runs (then kill it)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()

    def __enter__(self) -> Sipp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
