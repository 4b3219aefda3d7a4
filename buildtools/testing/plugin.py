"""pytest plugin: fixtures for tests against a built Asterisk.

Session: ``asterisk_prefix`` (``--asterisk-prefix``, ``BUILDTOOLS_PREFIX``, else built on demand
by :func:`buildtools.build.ensure_built`), ``asterisk_tree``, ``sandbox_root`` (kept and named
in the terminal summary when a test failed), ``ports`` (the session's port allocator).

Processes (stopped at the end of their scope, and when their setup fails half-way):
``asterisk_factory(name, configs, modules)`` (module scope), ``sipp(scenario, target_port, **kw)``
(function scope), and fixture factories for test modules, in the style of pytest-postgresql::

    ast = asterisk_proc("bye", lambda: configs_from(HERE, "pjsip.conf", "extensions.conf"),
                        ["res_pjsip_hangup_headers.so"])

Per test: ``ami`` (a client of the module's ``ast``), ``scenario`` (render a SIPp template),
``log_follower``, and the warning check of every test: a test fails when an Asterisk sandbox of its
module logged a WARNING or ERROR while it ran; mark a test that expects them with
``@pytest.mark.allow_warnings``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from buildtools.testing import scenarios
from buildtools.testing.asterisk import AsteriskSandbox
from buildtools.testing.logs import LogFollower
from buildtools.testing.ports import PORTS, PortAllocator
from buildtools.testing.sipp import Sipp

_KEPT = pytest.StashKey[Path]()

#: Sandboxes started by asterisk_factory that are running now (checked by the warnings fixture).
_LIVE: list[AsteriskSandbox] = []


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--asterisk-prefix", default=None,
                     help="an installed Asterisk prefix to test (default: build one with buildtools)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_warnings: the test may make Asterisk log WARNING/ERROR lines")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, None)
    if kept is not None:
        terminalreporter.write_sep("-", "sandboxes")
        terminalreporter.write_line(f"Asterisk sandboxes and SIPp logs kept in {kept}")


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
def ports() -> PortAllocator:
    """The session's port allocator: ``ports.allocate()``, never the same port twice."""
    return PORTS


@pytest.fixture(scope="session")
def sandbox_root(request: pytest.FixtureRequest) -> Iterator[Path]:
    """Folder holding every sandbox of the session; kept (and named in the summary) when a test failed."""
    root = Path(tempfile.mkdtemp(prefix="bt-"))
    yield root
    if request.session.testsfailed:
        request.config.stash[_KEPT] = root
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def asterisk_factory(asterisk_prefix: Path, sandbox_root: Path) -> Iterator[Callable[..., AsteriskSandbox]]:
    """Start sandboxed Asterisk processes: ``factory(name, configs, modules, prefix=None)``.
    Each is stopped at the end of the module, or at once when it fails to boot."""
    with contextlib.ExitStack() as stack:
        def factory(name: str, configs: dict[str, str], modules: list[str] | None = None, *,
                    prefix: Path | None = None) -> AsteriskSandbox:
            root = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=sandbox_root))
            ast = AsteriskSandbox(prefix=prefix or asterisk_prefix, root=root, configs=configs,
                                  modules=list(modules or []))
            ast.start()  # stops Asterisk itself when the boot fails
            stack.callback(ast.stop)
            _LIVE.append(ast)
            stack.callback(_LIVE.remove, ast)
            return ast

        yield factory


def asterisk_proc(name: str, configs: dict[str, str] | Callable[[], dict[str, str]],
                  modules: list[str] | tuple[str, ...] = (), *, scope: str = "module"):
    """A fixture (assign it to a name in a test module) starting one sandboxed Asterisk."""
    @pytest.fixture(scope=scope)
    def fixture(asterisk_factory: Callable[..., AsteriskSandbox]) -> AsteriskSandbox:
        return asterisk_factory(name, configs() if callable(configs) else configs, list(modules))
    return fixture


@pytest.fixture
def sipp(sandbox_root: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Sipp]]:
    """Start SIPp scenarios: ``sipp(scenario, target_port, **kw)`` returns a running :class:`Sipp`
    (``ready=True``: wait until it has bound its port). Every one still running is stopped after the test."""
    workdir = sandbox_root / "sipp" / request.node.name.replace("/", "_")
    workdir.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        def start(scenario: Path, target_port: int = 0, *, ready: bool = False, **kw) -> Sipp:
            proc = stack.enter_context(Sipp(scenario, target_port, workdir, **kw))
            return proc.wait_ready() if ready else proc

        yield start


@pytest.fixture
def ami(request: pytest.FixtureRequest):
    """A logged-in AMI client of the module's ``ast`` fixture."""
    ast = request.getfixturevalue("ast")
    client = ast.ami()
    yield client
    client.close()


@pytest.fixture
def log_follower() -> Iterator[Callable[..., LogFollower]]:
    """``log_follower(path)``: a :class:`LogFollower` of a file from its current end (closed after the test)."""
    with contextlib.ExitStack() as stack:
        yield lambda path, **kw: stack.enter_context(LogFollower(Path(path), **kw))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """The warning check, around the test's call (after its fixtures started their sandboxes):
    fails the test when an Asterisk sandbox of its module logged a WARNING or ERROR while it
    ran, each log read after its marker line arrived (AsteriskSandbox.sync_log).
    Opt out with ``@pytest.mark.allow_warnings``."""
    if item.get_closest_marker("allow_warnings") or not _LIVE:
        return (yield)
    watched = [(ast, len(ast.warnings())) for ast in list(_LIVE) if ast.running()]
    result = yield
    new = {ast.root.name: lines for ast, before in watched if ast.running() and (lines := ast.warnings()[before:])}
    if new:
        raise AssertionError("Asterisk logged warnings while the test ran (mark it allow_warnings if expected):\n"
                             + "\n".join(f"  {name}: {line}" for name, lines in new.items() for line in lines))
    return result


@pytest.fixture
def no_new_warnings() -> None:
    """Kept for tests that name it: every test is checked (see pytest_runtest_call)."""


@pytest.fixture
def scenario(tmp_path: Path):
    """Render a SIPp scenario template: ``scenario(template, name, headers, **fields)``."""
    def make(template: str, name: str, headers=(), **fields) -> Path:
        return scenarios.render(template, tmp_path / f"{name}.xml", headers, **fields)
    return make
