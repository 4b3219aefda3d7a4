"""libFuzzer harnesses of our parsers (tests/fuzz/<target>/): build them from an applied tree and run them.

Each harness `#include`s the source file of the applied tree that holds the parser (so that
static functions are reachable) or links it as its own translation unit; nothing of Asterisk is
copied into this project. `tests/fuzz/common/stubs.c` supplies logging and allocation. Every
other symbol those files reference (pjproject, channels, sorcery...) is unreachable from the
harness: the build binds each one to a generated function that prints its name and aborts, so
reaching one would be a crash, never a silent success.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from buildtools.errors import BuildError, ConfigError
from buildtools.paths import project_root

log = logging.getLogger("buildtools")

CLANG = "clang-16"
SANITIZE = "-fsanitize=fuzzer,address,undefined"
# UBSan reports are findings: abort on the first, as ASan does.
CFLAGS = ("-g", "-O1", "-fblocks", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all", "-D_GNU_SOURCE",
          "-Wno-unused-function", "-Wno-unused-variable", "-Wno-unknown-warning-option",
          "-Wno-gnu-variable-sized-type-not-at-end", "-Wno-deprecated-declarations")
PJ_INCLUDES = ("pjlib", "pjlib-util", "pjnath", "pjmedia", "pjsip")
PJ_DEFINES = ("-DPJ_AUTOCONF=1", "-DPJ_IS_BIG_ENDIAN=0", "-DPJ_IS_LITTLE_ENDIAN=1", "-DPJMEDIA_HAS_SRTP=0")
# libFuzzer: a run taking longer than this is a hang (issue 11: >1 s)
TIMEOUT_S = 1
MAX_LEN = 65536


@dataclass(frozen=True)
class Unit:
    """One translation unit: a file of the tree (or of tests/fuzz) and its defines."""

    path: str  # relative to the tree, or "harness" for the target's own fuzz_<target>.c
    defines: tuple[str, ...] = ()


@dataclass(frozen=True)
class Target:
    name: str
    help: str
    # Files of the applied tree the harness needs (checked before building)
    needs: tuple[str, ...]
    units: tuple[Unit, ...] = field(default_factory=tuple)
    pjsip: bool = False

    @property
    def dir(self) -> Path:
        return project_root() / "tests" / "fuzz" / self.name

    @property
    def harness(self) -> Path:
        return self.dir / f"fuzz_{self.name}.c"

    @property
    def corpus(self) -> Path:
        return self.dir / "corpus"

    @property
    def regressions(self) -> Path:
        return self.dir / "regressions"

    @property
    def dictionary(self) -> Path:
        return self.dir / f"{self.name}.dict"


_MODULE = ('-DAST_MODULE="{0}"', "-DAST_MODULE_SELF_SYM=__internal_{0}_self")


def _module(name: str) -> tuple[str, ...]:
    return tuple(d.format(name) for d in _MODULE)


CORE = ('-DAST_MODULE="core"', "-DAST_IN_CORE")

TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("reason", "the Reason header parser (0001: main/hangup_reason.c)",
           needs=("main/hangup_reason.c",),
           units=(Unit("harness", CORE), Unit("main/hangup_reason.c", CORE))),
    Target("bye_headers", "res_pjsip_hangup_headers: BYE header section copy, parse, lookup and list",
           needs=("res/res_pjsip_hangup_headers.c",),
           units=(Unit("harness", _module("res_pjsip_hangup_headers")),), pjsip=True),
    Target("response_headers", "failure responses: chan_pjsip's header capture (0002), the cause code "
                               "payload (0002: main/frame.c) and PJSIP_RESPONSE_HEADER(S)' parser (0005)",
           needs=("res/res_pjsip_header_funcs.c", "channels/chan_pjsip.c", "main/frame.c"),
           units=(Unit("harness", _module("res_pjsip_header_funcs")),
                  Unit("tests/fuzz/response_headers/capture.c", _module("chan_pjsip")),
                  Unit("main/frame.c", CORE), Unit("main/hangup_reason.c", CORE), Unit("main/utils.c", CORE)),
           pjsip=True),
    Target("cause_code", "cause code payloads as queued between channels (0002: main/frame.c)",
           needs=("main/frame.c", "main/channel.c"),
           units=(Unit("harness", CORE), Unit("main/frame.c", CORE))),
    Target("qualify_codes", "qualify_reachable_codes list parser (0006: res/res_pjsip/location.c)",
           needs=("res/res_pjsip/location.c",),
           units=(Unit("harness", _module("res_pjsip")),), pjsip=True),
)}


def select(names: Sequence[str]) -> list[Target]:
    """The targets named (all when none), or a ConfigError naming the unknown one."""
    for name in names:
        if name not in TARGETS:
            raise ConfigError(f"unknown fuzz target '{name}' (choose from {', '.join(TARGETS)})")
    return [TARGETS[n] for n in names] if names else list(TARGETS.values())


def clang() -> str:
    path = shutil.which(CLANG)
    if not path:
        raise ConfigError(f"{CLANG} is not installed (fuzzing needs Debian's clang-16 and libfuzzer-16-dev)",
                          hint="run `bash .ci/install-deps` or `apt-get install clang-16 libfuzzer-16-dev`")
    return path


def check_tree(tree: Path, targets: Sequence[Target]) -> None:
    """The tree must be configured (autoconfig.h), hold the bundled pjproject and our patches."""
    if not (tree / "include/asterisk/autoconfig.h").is_file():
        raise ConfigError(f"{tree} is not configured (no include/asterisk/autoconfig.h)",
                          hint="run `buildtools pipeline` or `buildtools build --tree` first")
    if any(t.pjsip for t in targets) and not (tree / "third-party/pjproject/source/pjlib/include/pj/config_site.h").is_file():
        raise ConfigError(f"{tree} has no configured bundled pjproject (third-party/pjproject/source)",
                          hint="build the tree once (`buildtools build --tree ...`)")
    for t in targets:
        for rel in t.needs:
            if not (tree / rel).is_file():
                raise ConfigError(f"fuzz target {t.name}: {tree / rel} is missing; is the tree patched?",
                                  hint="run `buildtools apply --tree ...`")
    if not (tree / "include/asterisk/hangup_reason.h").is_file():
        raise ConfigError(f"{tree} is not patched (no include/asterisk/hangup_reason.h)",
                          hint="run `buildtools apply --tree ...`")


def _flags(tree: Path, target: Target, unit: Unit) -> list[str]:
    flags = [SANITIZE, *CFLAGS, *unit.defines, f"-I{project_root() / 'tests/fuzz/common'}", f"-I{target.dir}",
             f"-I{tree / 'include'}", f"-I{tree}"]
    if target.pjsip:
        flags += [*PJ_DEFINES, *(f"-I{tree / 'third-party/pjproject/source' / d / 'include'}" for d in PJ_INCLUDES),
                  f"-I{tree / 'channels/pjsip/include'}", f"-I{tree / 'res/res_pjsip/include'}"]
    return flags


def _run(cmd: list[str], log_path: Path, what: str) -> subprocess.CompletedProcess[str]:
    res = subprocess.run(cmd, capture_output=True, text=True)
    with log_path.open("a") as f:
        f.write(f"$ {' '.join(cmd)}\n{res.stdout}{res.stderr}\n")
    return res


UNDEFINED = re.compile(r"undefined reference to `([^'`]+)'")


def build(tree: Path, target: Target, out: Path, log_path: Path) -> Path:
    """Compile and link `target` against `tree` into `out/fuzz_<name>`; return the binary."""
    cc = clang()
    out.mkdir(parents=True, exist_ok=True)
    objects = []
    for i, unit in enumerate(target.units):
        src = target.harness if unit.path == "harness" else (
            project_root() / unit.path if unit.path.startswith("tests/") else tree / unit.path)
        obj = out / f"{i}-{Path(unit.path).stem if unit.path != 'harness' else 'harness'}.o"
        res = _run([cc, *_flags(tree, target, unit), "-c", str(src), "-o", str(obj)], log_path, "compile")
        if res.returncode:
            raise BuildError(f"fuzz target {target.name}: compiling {src} failed", log=log_path,
                             details="\n".join(res.stderr.splitlines()[-15:]))
        objects.append(str(obj))
    stubs = out / "stubs.o"
    res = _run([cc, *_flags(tree, target, Unit("stubs", CORE)), "-c",
                str(project_root() / "tests/fuzz/common/stubs.c"), "-o", str(stubs)], log_path, "compile")
    if res.returncode:
        raise BuildError(f"fuzz target {target.name}: compiling the stubs failed", log=log_path,
                         details="\n".join(res.stderr.splitlines()[-15:]))
    binary = out / f"fuzz_{target.name}"
    unreached = out / "unreached.c"
    unreached.write_text("/* generated: symbols the harness never reaches */\n")
    for _ in range(3):
        ures = _run([cc, "-c", "-O0", str(unreached), "-o", str(out / "unreached.o")], log_path, "compile")
        if ures.returncode:
            raise BuildError(f"fuzz target {target.name}: compiling {unreached} failed", log=log_path)
        res = _run([cc, SANITIZE, *objects, str(stubs), str(out / "unreached.o"), "-lm", "-o", str(binary)],
                   log_path, "link")
        if not res.returncode:
            return binary
        missing = sorted(set(UNDEFINED.findall(res.stderr)))
        if not missing:
            break
        unreached.write_text(_unreached_source(missing, unreached.read_text()))
    raise BuildError(f"fuzz target {target.name}: linking failed", log=log_path,
                     details="\n".join(res.stderr.splitlines()[-15:]))


def _unreached_source(names: Sequence[str], existing: str) -> str:
    lines = [existing.rstrip("\n")]
    if "#include" not in existing:
        lines.insert(1, "#include <stdio.h>\n#include <stdlib.h>\n"
                        "static void unreached(const char *name)\n{\n"
                        "\tfprintf(stderr, \"fuzz harness reached unstubbed %s\\n\", name);\n\tabort();\n}\n")
    for name in names:
        lines.append(f"void {name}(void) {{ unreached(\"{name}\"); }}")
    return "\n".join(lines) + "\n"


@dataclass
class RunResult:
    target: str
    execs: int = 0
    seconds: float = 0.0
    exec_per_s: int = 0
    corpus: int = 0
    findings: list[Path] = field(default_factory=list)
    rc: int = 0


def run(binary: Path, target: Target, work: Path, seconds: int, log_path: Path, *, runs: int | None = None,
        jobs: int = 1, timeout: int = TIMEOUT_S) -> RunResult:
    """Fuzz for `seconds` (or `runs` executions) from the committed corpus and a working corpus in
    `work`; new crashing inputs are copied to tests/fuzz/<target>/regressions/.

    `timeout`: seconds an input may take before libFuzzer stops with a timeout (wall-clock time).
    Above TIMEOUT_S, an input slower than TIMEOUT_S is still kept, as a `slow-unit-*` finding,
    without stopping the run: on a shared machine, replay it alone to tell a hang from the load."""
    corpus = work / "corpus"
    artifacts = work / "artifacts"
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    cmd = ["nice", "-n", "10", str(binary), f"-max_total_time={seconds}", f"-timeout={timeout}",
           f"-max_len={MAX_LEN}", "-print_final_stats=1", f"-artifact_prefix={artifacts}/", "-use_value_profile=1"]
    if runs:
        cmd.append(f"-runs={runs}")
    if jobs > 1:
        # libFuzzer's fork mode: one run, `jobs` worker processes fuzzing in turns from the shared
        # corpus, merged by the parent, which counts the executions of all of them and stops at
        # -runs or -max_total_time. Crashes stop it; timeouts and OOMs are written as artifacts
        # (kept as findings below) while the other workers go on.
        cmd.append(f"-fork={jobs}")
    if timeout > TIMEOUT_S:
        cmd.append(f"-report_slow_units={TIMEOUT_S}")
    if target.dictionary.is_file():
        cmd.append(f"-dict={target.dictionary}")
    cmd += [str(corpus), *(str(d) for d in (target.corpus, target.regressions) if d.is_dir())]
    t0 = time.monotonic()
    with log_path.open("w") as f:
        f.write(f"$ {' '.join(cmd)}\n")
        f.flush()
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, **SANITIZER_ENV})
    result = RunResult(target.name, seconds=time.monotonic() - t0, rc=proc.returncode)
    text = log_path.read_text(errors="replace")
    # The last figures printed (libFuzzer prints them once, at exit)
    if jobs > 1:
        # The parent of fork mode prints no final stats: its last "#N: cov: ..." line counts the
        # executions merged from every worker
        execs = re.findall(r"^#(\d+): cov:", text, re.M)
        result.execs = int(execs[-1]) if execs else 0
        result.exec_per_s = int(result.execs / result.seconds) if result.seconds else 0
    else:
        execs = re.findall(r"stat::number_of_executed_units: (\d+)", text)
        rates = re.findall(r"stat::average_exec_per_sec:\s+(\d+)", text)
        result.execs = int(execs[-1]) if execs else 0
        result.exec_per_s = int(rates[-1]) if rates else 0
    result.corpus = sum(1 for _ in corpus.iterdir())
    for path in sorted(set(artifacts.iterdir()) - before):
        target.regressions.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
        kept = target.regressions / f"{path.name.split('-')[0]}-{digest}"
        shutil.copyfile(path, kept)
        result.findings.append(kept)
    return result


SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:symbolize=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}


def inputs(target: Target, *, corpus: bool = True) -> list[Path]:
    """The committed inputs of a target: its regressions, and its seed corpus."""
    dirs = [target.regressions] + ([target.corpus] if corpus else [])
    return sorted(p for d in dirs if d.is_dir() for p in d.iterdir() if p.is_file() and not p.name.startswith("."))


def replay(binary: Path, files: Sequence[Path], log_path: Path) -> subprocess.CompletedProcess[str]:
    """Run the binary once over each file (no fuzzing): exit 0 when none crashes."""
    cmd = [str(binary), f"-timeout={TIMEOUT_S}", *map(str, files)]
    res = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **SANITIZER_ENV})
    log_path.write_text(f"$ {' '.join(cmd)}\n{res.stdout}{res.stderr}")
    return res
