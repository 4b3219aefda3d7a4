"""Fixtures shared by every test: a built Asterisk, sandboxes of it, SIPp runs.

The built prefix comes from ``--asterisk-prefix`` or ``BUILDTOOLS_PREFIX``; otherwise it is
built (or found up to date) by ``buildtools.build.ensure_built``, exactly what
``buildtools pipeline`` does. Integration tests never skip for want of a build.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from buildtools.sandbox import AsteriskSandbox, Sipp


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--asterisk-prefix", default=None,
                     help="an installed Asterisk prefix to test (default: build one with buildtools)")


@pytest.fixture(scope="session")
def asterisk_prefix(pytestconfig: pytest.Config) -> Path:
    """The installed Asterisk under test, built on demand."""
    given = pytestconfig.getoption("--asterisk-prefix") or os.environ.get("BUILDTOOLS_PREFIX")
    if given:
        prefix = Path(given)
        if not (prefix / "sbin" / "asterisk").exists():
            pytest.fail(f"{prefix} holds no installed Asterisk; run `buildtools pipeline --prefix {prefix}`")
        return prefix
    from buildtools.build import ensure_built

    return ensure_built()


@pytest.fixture(scope="session")
def asterisk_tree(request: pytest.FixtureRequest) -> Path:
    """The source tree the prefix was built from (``BUILDTOOLS_TREE``, else the build stamp)."""
    given = os.environ.get("BUILDTOOLS_TREE")
    if given:
        return Path(given)
    from buildtools.build import read_build_stamp

    asterisk_prefix = request.getfixturevalue("asterisk_prefix")

    stamp = read_build_stamp(asterisk_prefix) or {}
    if not stamp.get("tree"):
        pytest.fail(f"{asterisk_prefix} has no build stamp naming its tree; set BUILDTOOLS_TREE")
    return Path(stamp["tree"])


@pytest.fixture(scope="session")
def sandbox_root(request: pytest.FixtureRequest):
    """Folder holding every sandbox of the session; kept (and named) when a test failed."""
    root = Path(tempfile.mkdtemp(prefix="bt-"))
    yield root
    if request.session.testsfailed:
        print(f"\nAsterisk sandboxes and SIPp logs kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def asterisk_factory(asterisk_prefix: Path, sandbox_root: Path):
    """Start sandboxed Asterisk processes: ``factory(name, configs, modules)``."""
    started: list[AsteriskSandbox] = []

    def factory(name: str, configs: dict[str, str], modules: list[str] | None = None) -> AsteriskSandbox:
        root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=sandbox_root))
        ast = AsteriskSandbox(prefix=asterisk_prefix, root=root, configs=configs, modules=modules or [])
        started.append(ast)
        ast.start()
        return ast

    yield factory
    for ast in started:
        ast.stop()


@pytest.fixture
def sipp(sandbox_root: Path, request: pytest.FixtureRequest):
    """Start SIPp scenarios: ``sipp(scenario, target_port, **kw)`` returns a running :class:`Sipp`."""
    running: list[Sipp] = []
    workdir = sandbox_root / "sipp" / request.node.name.replace("/", "_")
    workdir.mkdir(parents=True, exist_ok=True)

    def start(scenario: Path, target_port: int = 0, **kw) -> Sipp:
        proc = Sipp(scenario, target_port, workdir, **kw)
        running.append(proc)
        return proc

    yield start
    for proc in running:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait()
