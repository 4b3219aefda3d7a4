"""A Kamailio proxy in a private folder, ready once its SIP port is bound."""

from __future__ import annotations

import shutil
from pathlib import Path

from buildtools.testing.process import ManagedProcess, udp_bound


def kamailio(workdir: Path, config: str, port: int, *, timeout: float = 20) -> ManagedProcess:
    """A (not yet started) Kamailio running ``config`` in the foreground from ``workdir``, logging to
    ``workdir/kamailio.log``; ready when UDP ``port`` (where ``config`` listens) is bound."""
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = workdir / "kamailio.cfg"
    cfg.write_text(config)
    binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
    return ManagedProcess(
        "Kamailio", [binary, "-f", cfg, "-DD", "-E", "-n", "1", "-Y", workdir, "-P", workdir / "kamailio.pid"],
        log_path=workdir / "kamailio.log", ready=lambda: udp_bound(port), cwd=workdir, timeout=timeout)
