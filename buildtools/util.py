"""Running commands with logs, timing steps, hashing and small file helpers."""

from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from buildtools.errors import BuildError

log = logging.getLogger("buildtools")

TAIL_LINES = 20


class Result(NamedTuple):
    """Exit code and (when captured) the combined stdout/stderr of a command."""

    rc: int
    output: str


class Heartbeat:
    """Logs `<step>: still running, <elapsed> s, <n> lines, last <target>` every `interval`
    seconds while a long command (make) runs; `target` is the last `[CC]`/`[LD]`-style line."""

    TARGET = re.compile(r"^\s*\[(CC|CXX|LD|AR|AS)\]\s+(.*?)\s*$")

    def __init__(self, step: str, interval: float) -> None:
        self.step = step
        self.interval = interval
        self.lines = 0
        self.target = ""
        self._start = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{step}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def line(self, text: str) -> None:
        self.lines += 1
        if m := self.TARGET.match(text):
            self.target = f"[{m.group(1)}] {m.group(2)}"

    def message(self) -> str:
        last = f", last {self.target}" if self.target else ""
        return f"{self.step}: still running, {time.monotonic() - self._start:.0f} s, {self.lines} lines{last}"

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            log.info("%s", self.message())


def run(cmd: Sequence[str | os.PathLike[str]], cwd: Path, log_path: Path, step: str, *,
        env: Mapping[str, str] | None = None, check: bool = True, capture: bool = False,
        heartbeat: float | None = None) -> Result:
    """Run `cmd` in `cwd`, appending its output to `log_path` (echoed to stderr at DEBUG).

    `env` adds to the current environment. A non-zero exit raises `BuildError` (naming step,
    command, exit code and log, with the last lines of output) unless `check` is false.
    `heartbeat`: log a progress line every that many seconds (see Heartbeat).
    """
    argv = [os.fspath(c) for c in cmd]
    log.debug("%s$ %s", cwd, shlex.join(argv))
    echo = log.isEnabledFor(logging.DEBUG)
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    captured: list[str] = []
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", encoding="utf-8", errors="replace") as logf:
        logf.write(f"\n{cwd}$ {shlex.join(argv)}\n")
        logf.flush()
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env} if env else None,
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, errors="replace")
        except OSError as e:
            logf.write(f"cannot run: {e}\n")
            raise BuildError(f"{step}: cannot run `{shlex.join(argv)}` in {cwd}: {e.strerror}", log=log_path) from None
        beat = Heartbeat(step, heartbeat) if heartbeat else contextlib.nullcontext()
        try:
            assert proc.stdout is not None
            with beat:
                rc = _pump(proc, logf, tail, captured if capture else None, echo, beat)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        logf.write(f"[exit code {rc}]\n")
    if check and rc != 0:
        raise BuildError.from_command(step, argv, rc, log_path, "\n".join(tail))
    return Result(rc, "".join(captured))


def _pump(proc: subprocess.Popen, logf, tail: collections.deque[str], captured: list[str] | None, echo: bool,
          beat: object) -> int:
    """Copy the command's output to the log (and tail, capture, stderr, heartbeat); its exit code."""
    for line in proc.stdout:
        logf.write(line)
        tail.append(line.rstrip("\n"))
        if captured is not None:
            captured.append(line)
        if echo:
            sys.stderr.write(line)
        if isinstance(beat, Heartbeat):
            beat.line(line)
    return proc.wait()


@contextlib.contextmanager
def step(name: str, log_path: Path) -> Iterator[Path]:
    """Time step `name`: truncate its log, log one INFO line at start and one at the end."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"# buildtools step {name}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    log.info("%s ...", name)
    start = time.monotonic()
    yield log_path
    log.info("%s done (%.1f s)", name, time.monotonic() - start)


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file's contents."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of `data`."""
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Write `path` through a temporary file and a rename, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
