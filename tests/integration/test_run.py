"""`buildtools run`: the built Asterisk with README's example configuration, as a user starts it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from buildtools.testing import scenarios
from buildtools.testing.logs import LogFollower
from buildtools.testing.sipp import Sipp

pytestmark = pytest.mark.asterisk
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def run(asterisk_prefix: Path, tmp_path: Path):
    """Start `buildtools run --no-console` with extra arguments; wait for its summary; stop it after the test."""
    started: list[subprocess.Popen] = []

    def start(*extra: str) -> dict[str, str]:
        out = tmp_path / f"run-{len(started)}.out"
        with open(out, "wb") as f:
            proc = subprocess.Popen([sys.executable, "-m", "buildtools", "run", "--prefix", str(asterisk_prefix),
                                     "--no-console", *extra], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
        started.append(proc)
        with LogFollower(out, from_start=True) as follower:
            text = follower.expect(r"console from another shell: (\S+) -C (\S+) -r", timeout=60)
        info = dict(re.findall(r"^\s*(SIP|AMI|config): (?:udp )?(\S+)", text, re.MULTILINE))
        info["conf"] = re.search(r"-C (\S+) -r", text).group(1)
        info["binary"] = re.search(r"shell: (\S+) -C", text).group(1)
        return info

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # SIGINT: ignored when pytest runs as a background job
            try:
                proc.wait(timeout=90)  # it stops Asterisk: `core stop now`, else SIGKILL after 10 + 10 s
            except subprocess.TimeoutExpired:
                proc.kill()
                raise


def cli(info: dict[str, str], command: str) -> str:
    return subprocess.run([info["binary"], "-C", info["conf"], "-rx", command], capture_output=True, text=True,
                          check=True, timeout=15).stdout


def test_run_starts_the_example_and_stops_clean(run, tmp_path: Path) -> None:
    info = run()
    host, port = info["SIP"].split(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert "Reachable codes      : 2xx,405,501" in cli(info, "pjsip show qualify aor carrier")
    assert "res_pjsip_hangup_headers.so" in cli(info, "module show like hangup_headers")
    assert "Dial(PJSIP/${EXTEN}@carrier-b,30)" in cli(info, "dialplan show lcr")
    # A call from the example's phone endpoint reaches the LCR dialplan (whose carriers are absent).
    scenario = scenarios.render(scenarios.UAC_BYE, tmp_path / "uac.xml", pause=100)
    scenario.write_text(scenario.read_text().replace("sipp <sip:sipp@", "phone <sip:phone@"))
    sandbox = Path(info["conf"]).parents[1]
    result = Sipp(scenario, int(port), tmp_path, service="100", variables={"target": "none"}, timeout=10).wait()
    assert "INVITE sip:100@" in result.messages and "SIP/2.0 " in result.messages
    full = (sandbox / "log" / "full").read_text(errors="replace")
    assert "Executing [100@from-phone:1] Gosub(" in full


def test_run_takes_the_users_config_dir(run, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "extensions.conf").write_text("[from-phone]\nexten => 42,1,Answer()\n same => n,Hangup()\n")
    info = run("--config", str(mine))
    assert "42" in cli(info, "dialplan show from-phone") and "lcr" not in cli(info, "dialplan show")
    # The example's pjsip.conf is still there (the user gave none).
    assert "Reachable codes" in cli(info, "pjsip show qualify aor carrier")


def test_interrupt_stops_asterisk_and_removes_the_sandbox(asterisk_prefix: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.out"
    with open(out, "wb") as f:
        proc = subprocess.Popen([sys.executable, "-m", "buildtools", "run", "--prefix", str(asterisk_prefix),
                                 "--no-console"], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    with LogFollower(out, from_start=True) as follower:
        text = follower.expect(r"console from another shell: \S+ -C (\S+) -r", timeout=60)
    conf = Path(re.search(r"-C (\S+) -r", text).group(1))
    pid = int(re.search(r"\(pid (\d+)\)", text).group(1))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=90) == 0
    assert not conf.parents[1].exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)



def test_run_attaches_the_console_and_exit_stops_asterisk(asterisk_prefix: Path) -> None:
    import pexpect

    child = pexpect.spawn(sys.executable, ["-m", "buildtools", "run", "--prefix", str(asterisk_prefix)],
                          cwd=str(ROOT), encoding="utf-8", codec_errors="replace", timeout=60)
    try:
        child.expect(r"\(pid (\d+)\)")
        pid = int(child.match.group(1))
        child.expect(r"\*CLI> ")
        child.sendline("pjsip show transports")
        child.expect(r"transport-udp\s+udp\s+\d+\s+\d+\s+127\.0\.0\.1:\d+")
        child.expect(r"\*CLI> ")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
