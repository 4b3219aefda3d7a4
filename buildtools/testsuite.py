"""Run our official-testsuite tests (tests/testsuite/) and the stock ones that touch our code with
asterisk/testsuite's own runner, runtests.py, against an installed prefix.

runtests.py kills every `asterisk` and `sipp` process it can see before each test and uses
/tmp/asterisk-testsuite, /etc/asterisk or /usr/local/etc/asterisk and /usr/local/include: it is
run inside private PID, network and mount namespaces (`unshare --pid --net --mount --fork
--mount-proc`), where it sees only its own processes, a private loopback, a private /tmp, an
asterisk.conf pointing at the prefix and the prefix's headers (for `buildoption:` checks).
Nothing outside the namespaces is touched.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from buildtools.errors import ConfigError

log = logging.getLogger("buildtools")

ENV_STARPY = "BUILDTOOLS_STARPY"
OUR_TESTS_DIR = "tests/testsuite/tests"
# The stock tests that exercise the code our patches change; they must pass in the same run.
STOCK_TESTS = (
    "tests/apps/dial/dial_busy",
    "tests/channels/pjsip/qualify/basic",
    "tests/channels/pjsip/qualify/auth",
    "tests/channels/pjsip/qualify/max_initial_qualify_time",
    "tests/channels/pjsip/qualify/qualify_timeout",
    "tests/channels/pjsip/qualify/no_qualify",
    "tests/channels/pjsip/qualify/call_unreachable",
    "tests/channels/pjsip/ami/pjsip_qualify",
    "tests/channels/pjsip/dialplan_functions/pjsip_header",
    "tests/channels/pjsip/dialplan_functions/pjsip_hangup",
)
REPORT = "asterisk-test-suite-report.xml"


def our_tests(root: Path) -> list[str]:
    """`tests/...` paths of the test directories under tests/testsuite/tests/."""
    base = root / OUR_TESTS_DIR
    return sorted("tests/" + str(p.parent.relative_to(base)) for p in base.rglob("test-config.yaml"))


def _listed(yaml_text: str, name: str) -> bool:
    return re.search(rf"^\s*-\s*(test|dir)\s*:\s*['\"]?{re.escape(name)}['\"]?\s*$", yaml_text, re.MULTILINE) is not None


def register(checkout: Path, test_dir: str) -> list[str]:
    """List `test_dir` (and each new parent directory) in its parent's tests.yaml; return what changed."""
    changed = []
    parts = Path(test_dir).parts  # ("tests", "channels", ..., "name")
    for depth in range(len(parts) - 1, 0, -1):
        parent = checkout.joinpath(*parts[:depth])
        child = parts[depth]
        kind = "test" if depth == len(parts) - 1 else "dir"
        yaml = parent / "tests.yaml"
        text = yaml.read_text() if yaml.is_file() else "tests:\n"
        if _listed(text, child):
            continue
        if not text.endswith("\n"):
            text += "\n"
        yaml.write_text(text + f"    - {kind}: '{child}'\n")
        changed.append(str(yaml.relative_to(checkout)))
    return changed


def install_tests(root: Path, checkout: Path) -> list[str]:
    """Copy tests/testsuite/tests/* into the checkout and list every test in its parent's tests.yaml."""
    src = root / OUR_TESTS_DIR
    shutil.copytree(src, checkout / "tests", dirs_exist_ok=True)
    changed = set()
    for t in our_tests(root):
        changed.update(register(checkout, t))
    return sorted(changed)


def check_checkout(checkout: Path) -> None:
    if not (checkout / "runtests.py").is_file() or not (checkout / "tests").is_dir():
        raise ConfigError(f"--testsuite-dir {checkout}: not an asterisk/testsuite checkout (no runtests.py)")


def ensure_venv(checkout: Path, starpy: Path, log_path: Path) -> Path:
    """`<checkout>/.venv` with the testsuite's requirements and starpy (from a local checkout: it is
    not on PyPI and requirements.txt names it by a GitHub URL). Rebuilt when either changes."""
    from buildtools.util import run

    req = (checkout / "requirements.txt").read_text()
    wanted = [ln for ln in req.splitlines() if not ln.strip().lower().startswith("starpy")]
    if not (starpy / "setup.py").is_file() and not (starpy / "pyproject.toml").is_file():
        raise ConfigError(f"--starpy {starpy}: not a starpy checkout (no setup.py)")
    starpy_id = subprocess.run(["git", "-C", str(starpy), "rev-parse", "HEAD"], capture_output=True,
                               text=True).stdout.strip() or str(starpy.stat().st_mtime)
    digest = hashlib.sha256(("\n".join(wanted) + "\0" + starpy_id + "\0" + sys.version).encode()).hexdigest()
    venv = checkout / ".venv"
    stamp = venv / ".buildtools-requirements"
    if stamp.is_file() and stamp.read_text() == digest and (venv / "bin/python").exists():
        return venv
    log.info("testsuite: creating %s (requirements.txt, starpy from %s)", venv, starpy)
    if venv.exists():
        shutil.rmtree(venv)
    run([sys.executable, "-m", "venv", str(venv)], checkout, log_path, "testsuite venv")
    reqfile = venv / "requirements-no-starpy.txt"
    reqfile.write_text("\n".join(wanted) + "\n")
    pip = [str(venv / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "-r", str(reqfile)], checkout, log_path, "testsuite venv")
    run([*pip, str(starpy)], checkout, log_path, "testsuite venv")
    stamp.write_text(digest)
    return venv


def asterisk_conf(prefix: Path) -> str:
    """The asterisk.conf runtests.py reads its directories from. It mirrors each into the test's
    own base directory (files symlinked, subdirectories such as cdr-csv recreated), so they point
    at the prefix `make install` filled; only the run directory (sockets) stays short."""
    var = f"{prefix}/var"
    return "\n".join([
        "[directories]",
        "astetcdir => /etc/asterisk",
        f"astmoddir => {prefix}/lib/asterisk/modules",
        f"astvarlibdir => {var}/lib/asterisk",
        f"astdbdir => {var}/lib/asterisk",
        f"astkeydir => {var}/lib/asterisk",
        f"astdatadir => {var}/lib/asterisk",
        f"astagidir => {var}/lib/asterisk/agi-bin",
        f"astspooldir => {var}/spool/asterisk",
        "astrundir => /var/run/asterisk",
        f"astlogdir => {var}/log/asterisk",
        f"astsbindir => {prefix}/sbin",
        "", "[options]", "", ""])


def namespace_script(checkout: Path, prefix: Path, tests: Sequence[str], extra: Sequence[str]) -> str:
    """The shell script run as PID 1's child inside the namespaces."""
    conf = asterisk_conf(prefix)
    args = " ".join(f"-t {shlex.quote(t)}" for t in tests)
    return f"""#!/bin/sh
# Generated by buildtools testsuite: runs inside `unshare --pid --net --mount --fork --mount-proc`.
set -eu
mount --make-rprivate /
ip link set lo up
mount -t tmpfs buildtools-tmp /tmp
mount -t tmpfs buildtools-etc /usr/local/etc
mkdir -p /usr/local/etc/asterisk
cat > /usr/local/etc/asterisk/asterisk.conf <<'EOF'
{conf}EOF
mount -t tmpfs buildtools-include /usr/local/include
ln -s {shlex.quote(str(prefix))}/include/asterisk /usr/local/include/asterisk
export PATH={shlex.quote(str(prefix))}/sbin:"$PATH"
export AST_WORK_DIR=/tmp
cd {shlex.quote(str(checkout))}
rm -f {REPORT}
exec .venv/bin/python runtests.py {args} {' '.join(shlex.quote(a) for a in extra)}
"""


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str  # passed, failed, skipped
    detail: str = ""
    seconds: float = 0.0


def read_report(path: Path) -> list[Outcome]:
    """The test cases of runtests.py's JUnit report."""
    if not path.is_file():
        return []
    root = ET.parse(path).getroot()
    out = []
    for tc in root.iter("testcase"):
        name = f"{tc.get('classname', '').replace('.', '/')}/{tc.get('name')}"
        secs = float(tc.get("time") or 0)
        if (s := tc.find("skipped")) is not None:
            out.append(Outcome(name, "skipped", (s.text or "").strip(), secs))
        elif (f := tc.find("failure")) is not None:
            out.append(Outcome(name, "failed", (f.text or "").strip().splitlines()[0][:200] if f.text else "", secs))
        else:
            out.append(Outcome(name, "passed", "", secs))
    return out


def check_prefix(prefix: Path) -> None:
    if not (prefix / "sbin/asterisk").is_file():
        raise ConfigError(f"--prefix {prefix}: no sbin/asterisk there",
                          hint="build one with `buildtools pipeline --profile testsuite --workdir DIR`")
    opts = prefix / "include/asterisk/buildopts.h"
    if not opts.is_file():
        raise ConfigError(f"--prefix {prefix}: no include/asterisk/buildopts.h (make install-headers)")
    if "TEST_FRAMEWORK" not in opts.read_text():
        raise ConfigError(f"--prefix {prefix}: built without TEST_FRAMEWORK, which several tests need",
                          hint="build with --profile testsuite (a fresh tree, --enable-dev-mode)")


def run_testsuite(root: Path, checkout: Path, prefix: Path, starpy: Path, tests: Sequence[str],
                  log_path: Path, extra: Sequence[str] = ()) -> tuple[int, list[Outcome]]:
    """Install our tests, prepare the venv and run runtests.py in private namespaces."""
    check_checkout(checkout)
    check_prefix(prefix)
    for tool in ("unshare", "ip", "sipp"):
        if not shutil.which(tool):
            raise ConfigError(f"testsuite: {tool} not found (util-linux, iproute2, sip-tester)")
    changed = install_tests(root, checkout)
    for c in changed:
        log.info("testsuite: listed our tests in %s", c)
    for t in tests:
        if not (checkout / t / "test-config.yaml").is_file():
            raise ConfigError(f"testsuite: {t}: no such test in {checkout}")
    ensure_venv(checkout, starpy, log_path)
    script = checkout / ".buildtools-run.sh"
    script.write_text(namespace_script(checkout, prefix, tests, extra))
    script.chmod(0o755)
    cmd = ["unshare", "--pid", "--net", "--mount", "--fork", "--mount-proc", str(script)]
    log.info("testsuite: runtests.py with %d tests in private namespaces (log: %s)", len(tests), log_path)
    with open(log_path, "a") as logf:
        logf.write(f"$ {shlex.join(cmd)}\n")
        logf.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
        assert proc.stdout is not None
        for line in proc.stdout:
            logf.write(line)
            if line.startswith(("--> ", "Running ['", "    Running", "Test ")) or "Tests completed" in line:
                log.info("testsuite: %s", line.rstrip())
        rc = proc.wait()
    return rc, read_report(checkout / REPORT)
