"""Fixtures of the example setups' tests (examples/<name>/); the helpers are in lab.py."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from integration.examples.lab import Kamailio


@pytest.fixture(scope="module")
def kamailio_factory(sandbox_root: Path):
    """Start Kamailio: ``factory(name, config_text, listens=[("udp", port)], ping_port=port)``;
    every one started is stopped at the end of the module."""
    started: list[Kamailio] = []

    def factory(name: str, config: str, listens: list[tuple[str, int]], ping_port: int | None = None) -> Kamailio:
        kam = Kamailio(Path(tempfile.mkdtemp(prefix=f"kamailio-{name}-", dir=sandbox_root)), config,
                       listens, ping_port)
        started.append(kam)
        kam.start()
        return kam

    yield factory
    for kam in started:
        kam.stop()


@pytest.fixture(scope="module")
def module_sipp_dir(sandbox_root: Path, request: pytest.FixtureRequest) -> Path:
    """A folder for SIPp peers that live as long as the test module."""
    d = sandbox_root / "sipp" / request.module.__name__
    d.mkdir(parents=True, exist_ok=True)
    return d
