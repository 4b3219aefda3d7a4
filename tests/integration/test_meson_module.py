"""modules/ built out of tree with meson against the installed headers, then loaded by Asterisk.

``buildtools`` installs the headers into the prefix (``make install-headers``); the bundled
pjproject is not installed, so its headers come from the build tree. The meson-built modules
replace the in-tree ones in a copy of the prefix's module directory (symlinks), and a sandboxed
Asterisk must load them: the loader refuses a module whose build options (buildopts.h) differ
from its own, and fails on an unresolved symbol.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from buildtools.testing.asterisk import AsteriskSandbox

pytestmark = pytest.mark.asterisk

MODULES_SRC = Path(__file__).resolve().parents[2] / "modules"
MESON = [sys.executable, "-m", "mesonbuild.mesonmain"]

PJSIP_CONF = """[transport-udp]
type = transport
protocol = udp
bind = 127.0.0.1:@SIP_PORT@
"""


def _run(cmd: list[str], cwd: Path) -> None:
    res = subprocess.run(cmd, check=False, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-4000:]}"


def _link_tree(src: Path, dest: Path, keep: str) -> None:
    """`dest/` holding a symlink to every entry of `src/` except `keep`, which becomes a real dir."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in src.iterdir():
        if entry.name != keep:
            (dest / entry.name).symlink_to(entry)
    (dest / keep).mkdir(exist_ok=True)


def _prefix_with(prefix: Path, dest: Path, built: list[Path]) -> Path:
    """A prefix of symlinks to `prefix`, whose modules dir has the `built` modules instead of its own."""
    dest.mkdir()
    for name in ("sbin", "var", "etc", "share"):
        if (prefix / name).exists():
            (dest / name).symlink_to(prefix / name)
    _link_tree(prefix / "lib", dest / "lib", "asterisk")
    _link_tree(prefix / "lib" / "asterisk", dest / "lib" / "asterisk", "modules")
    moddir = dest / "lib" / "asterisk" / "modules"
    for so in (prefix / "lib" / "asterisk" / "modules").iterdir():
        (moddir / so.name).symlink_to(so)
    for so in built:
        (moddir / so.name).unlink(missing_ok=True)
        (moddir / so.name).symlink_to(so)
    return dest


@pytest.fixture(scope="module")
def meson_modules(asterisk_prefix: Path, asterisk_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Every modules/*.c built and installed by meson into a scratch module dir."""
    include = asterisk_prefix / "include"
    if not (include / "asterisk.h").is_file():
        pytest.fail(f"{include}/asterisk.h missing: the prefix has no headers; "
                    f"run `buildtools pipeline` (it runs `make install-headers`)")
    pjsrc = asterisk_tree / "third-party" / "pjproject" / "source"
    if not (pjsrc / "pjsip" / "include" / "pjsip.h").is_file():
        pytest.fail(f"no bundled pjproject headers in {pjsrc}")
    tmp = tmp_path_factory.mktemp("meson")
    build, moddir = tmp / "build", tmp / "modules"
    # Default asterisk_includedir (<prefix>/include); only the install dir is redirected.
    _run([*MESON, "setup", str(build), str(MODULES_SRC), f"--prefix={asterisk_prefix}",
          f"-Dpjproject_srcdir={pjsrc}", f"-Dmoduledir={moddir}"], tmp)
    _run([*MESON, "compile", "-C", str(build)], tmp)
    _run([*MESON, "install", "-C", str(build), "--no-rebuild"], tmp)
    built = sorted(moddir.glob("*.so"))
    expected = sorted(p.stem for p in MODULES_SRC.glob("*.c"))
    assert [p.stem for p in built] == expected, f"meson installed {built}, expected {expected}"
    return built


@pytest.fixture(scope="module")
def ast(meson_modules: list[Path], asterisk_prefix: Path, asterisk_factory, sandbox_root: Path):
    tmp = Path(tempfile.mkdtemp(prefix="meson-", dir=sandbox_root))
    prefix = _prefix_with(asterisk_prefix, tmp / "prefix", meson_modules)
    # fails (and stops Asterisk) when a requested module did not load
    return asterisk_factory("meson", {"pjsip.conf": PJSIP_CONF}, [p.name for p in meson_modules], prefix=prefix)


def test_meson_built_modules_are_the_ones_running(ast: AsteriskSandbox, meson_modules: list[Path]) -> None:
    assert ast.proc is not None
    maps = Path(f"/proc/{ast.proc.pid}/maps").read_text()
    for so in meson_modules:
        line = next((ln for ln in ast.cli(f"module show like {so.stem}").stdout.splitlines()
                     if ln.startswith(f"{so.name} ")), "")
        assert "Running" in line.split(), f"{so.name} is not running: {line!r}"
        assert str(so.resolve()) in maps, f"Asterisk has not mapped the meson-built {so}"


def test_meson_built_hangup_headers_registers_its_functions(ast: AsteriskSandbox) -> None:
    out = ast.cli("module show like hangup").stdout
    assert any(ln.startswith("res_pjsip_hangup_headers.so ") and "Running" in ln.split()
               for ln in out.splitlines()), out
    for function in ("PJSIP_HANGUP_HEADER", "PJSIP_HANGUP_HEADERS"):
        out = ast.cli(f"core show function {function}").stdout
        assert f"Info about Function '{function}'" in out, out
        assert "[Provided By]\nres_pjsip_hangup_headers\n" in out, out
    assert not [w for w in ast.warnings() if "hangup_headers" in w], ast.warnings()
