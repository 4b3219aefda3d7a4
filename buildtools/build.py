"""configure, menuselect, make and make install a tree (the pipeline is composed in buildtools.pipeline)."""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from buildtools.errors import BuildError
from buildtools.modules import MINIMAL_MODULES
from buildtools.paths import Workdir
from buildtools.series import applied_series_hash
from buildtools.tree import Tree
from buildtools.util import atomic_write, file_digest, run, step

log = logging.getLogger("buildtools")

PROFILES = ("minimal", "full", "testsuite")
#: Seconds between the progress lines of `make` (it prints nothing for minutes otherwise).
HEARTBEAT = 15.0
# --sanitize NAME → Asterisk's menuselect compiler-flag option (Makefile.rules adds -fsanitize=...)
SANITIZERS = {"address": "ADDRESS_SANITIZER", "undefined": "UNDEFINED_SANITIZER"}
# What the official asterisk/testsuite tests we run need beyond MINIMAL_MODULES (their
# test-config.yaml `asterisk:` dependencies), built with TEST_FRAMEWORK under --enable-dev-mode.
TESTSUITE_MODULES = ("TEST_FRAMEWORK", "cdr_csv", "func_uri", "app_userevent", "app_stack", "app_echo",
                     "func_channel", "func_hangupcause", "func_strings", "func_logic", "res_pjsip_header_funcs",
                     "app_playback", "app_exec", "func_global", "func_cut", "res_pjsip_rfc3326")
DEVMODE_ARG = "--enable-dev-mode"
# Dev mode builds pjproject's resampler and G.711 codec (Asterisk needs neither; a normal build
# disables them): Debian's DFSG-repacked pjproject has no third_party/resample, so keep them off.
DEVMODE_PJPROJECT = "PJPROJECT_CONFIGURE_OPTS=--disable-resample --disable-g711-codec"
BUILD_STAMP = ".buildtools-build.json"


def _compiler() -> str | None:
    """$CC, else `ccache gcc` when ccache is installed."""
    return os.environ.get("CC") or ("ccache gcc" if shutil.which("ccache") else None)


def use_cached_pjproject(tree: Tree, workdir: Workdir) -> None:
    """Point the tree's pjproject checksum at our repacked tarball in `<workdir>/externals`.

    A tree from git or a release tarball checks the externals cache against upstream's md5 of
    pjproject-<PJPROJECT_VERSION>.tar.bz2; the cache holds Debian's pjproject repacked by
    `buildtools fetch --source debian` (same version, other bytes; no download is possible here).
    """
    mak = tree.path / "third-party" / "versions.mak"
    m = re.search(r"^PJPROJECT_VERSION\s*=\s*(\S+)", mak.read_text() if mak.is_file() else "", re.MULTILINE)
    if not m:
        return
    name = f"pjproject-{m.group(1)}.tar.bz2"
    tarball, md5file = workdir.externals / name, tree.path / "third-party/pjproject" / f"{name}.md5"
    if not (tarball.is_file() and tarball.with_name(name + ".origin").is_file()):
        if md5file.is_file():
            log.warning("configure: %s wants %s, which is not in %s: configure will try to download it "
                        "(run `buildtools fetch --source debian` with this work directory to repack one)",
                        tree.path, name, workdir.externals)
        return
    line = f"{file_digest(tarball, 'md5')}  {name}\n"
    if md5file.is_file() and md5file.read_text() != line:
        log.info("configure: using the repacked %s from %s (%s rewritten)", name, workdir.externals,
                 md5file.relative_to(tree.path))
        md5file.write_text(line)


def configure(tree: Tree, workdir: Workdir, prefix: Path, profile: str = "minimal") -> None:
    """./configure with the bundled pjproject and our externals cache; skipped if already done alike.

    Profile `testsuite` adds --enable-dev-mode (-Werror, TEST_FRAMEWORK selectable). Switching a
    built tree to or from dev mode is refused: it fails in pjproject's libpjmedia-codec.
    """
    use_cached_pjproject(tree, workdir)
    args = [f"--prefix={prefix}", "--with-pjproject-bundled", f"--with-externals-cache={workdir.externals}",
            "--without-x11", *([DEVMODE_ARG, DEVMODE_PJPROJECT] if profile == "testsuite" else [])]
    cc = _compiler()
    env = {"CC": cc} if cc else {}
    with step("configure", workdir.log("configure")) as log_path:
        if (tree.path / "config.status").is_file():
            out = run(["./config.status", "--config"], tree.path, log_path, "configure", capture=True).output
            if sorted(shlex.split(out)) == sorted(args + [f"CC={cc}"] * bool(cc)):
                log.info("configure: already configured with the same arguments")
                return
            if (DEVMODE_ARG in shlex.split(out)) != (DEVMODE_ARG in args) and (tree.path / "main/asterisk").exists():
                raise BuildError(f"configure: {tree.path} was built {'with' if DEVMODE_ARG in out else 'without'} "
                                 f"{DEVMODE_ARG}; profile {profile} needs a fresh tree (reconfiguring a built tree "
                                 f"fails in pjproject)", hint="use another --workdir (or --tree) for this profile")
        if not (shutil.which("curl") or shutil.which("wget")):
            raise BuildError("configure: needs curl or wget for the bundled pjproject, even with the offline cache",
                             hint="install curl")
        workdir.externals.mkdir(parents=True, exist_ok=True)
        run(["./configure", *args], tree.path, log_path, "configure", env=env)


def _select(cwd: Path, tree: Tree, profile: str, modules: Sequence[str], log_path: Path,
            sanitize: Sequence[str] = (), malloc_debug: bool = False) -> None:
    """Run the menuselect calls in `cwd`: menuselect always writes `./menuselect.makeopts` (and
    removes the `remove_on_change` files of every member that changes, relative to cwd)."""
    def ms(*argv: str, check: bool = True) -> bool:
        cmd = [str(tree.path / "menuselect/menuselect"), *argv, "menuselect.makeopts"]
        return run(cmd, cwd, log_path, "menuselect", check=check).rc == 0

    if profile == "full":
        (cwd / "menuselect.makeopts").unlink(missing_ok=True)  # menuselect starts from its defaults
    else:
        ms("--disable-all")
        ms("--enable", "OPTIONAL_API")
        if not ms("--enable", "TEST_FRAMEWORK", check=False):
            log.debug("menuselect: TEST_FRAMEWORK is not selectable in this tree")
        for name in MINIMAL_MODULES:
            if not ms("--enable", name, check=False):
                log.debug("menuselect: no module %s in Asterisk %s", name, tree.version)
        if profile == "testsuite":
            for name in TESTSUITE_MODULES:
                if not ms("--enable", name, check=False):
                    raise BuildError(f"menuselect: {name} (profile testsuite) cannot be selected in {tree.path}",
                                     hint="the testsuite profile needs a tree configured with --enable-dev-mode",
                                     log=log_path)
    for name in modules:
        if not ms("--enable", name, check=False):
            raise BuildError(f"menuselect: our module {name} is unknown to menuselect in {tree.path}",
                             hint="run `buildtools apply` first", log=log_path)
    for name, option in SANITIZERS.items():
        if name in sanitize:
            if not ms("--enable", option, check=False):
                raise BuildError(f"menuselect: cannot enable {option} (--sanitize {name}): the compiler lacks it",
                                 log=log_path)
        else:
            ms("--disable", option, check=False)
    if malloc_debug:
        if not ms("--enable", "MALLOC_DEBUG", check=False):
            raise BuildError(f"menuselect: cannot enable MALLOC_DEBUG (--malloc-debug) in {tree.path}", log=log_path)
    else:
        ms("--disable", "MALLOC_DEBUG", check=False)
    ms("--check-deps")


def _cflags_line(opts: bytes) -> bytes:
    return next((ln for ln in opts.splitlines() if ln.startswith(b"MENUSELECT_CFLAGS=")), b"")


def menuselect(tree: Tree, workdir: Workdir, profile: str, modules: Sequence[str],
               sanitize: Sequence[str] = (), malloc_debug: bool = False) -> None:
    """Select modules: `minimal` = MINIMAL_MODULES, `full` = menuselect defaults; plus our `modules`.

    The selection is computed in a scratch directory first; the tree is only touched when the
    result differs from its menuselect.makeopts (each menuselect call deletes the objects of
    the members it changes, so replaying it in the tree would force a rebuild every time).
    """
    with step("menuselect", workdir.log("menuselect")) as log_path:
        run(["make", "menuselect.makeopts"], tree.path, log_path, "menuselect")
        opts = tree.path / "menuselect.makeopts"
        current = opts.read_bytes()
        with tempfile.TemporaryDirectory(prefix="buildtools-menuselect-") as tmp:
            scratch = Path(tmp)
            (scratch / "build_tools").mkdir()
            for rel in ("menuselect-tree", "build_tools/menuselect-deps"):
                (scratch / rel).symlink_to(tree.path / rel)
            (scratch / "menuselect.makeopts").write_bytes(current)
            _select(scratch, tree, profile, modules, log_path, sanitize, malloc_debug)
            wanted = (scratch / "menuselect.makeopts").read_bytes()
        if wanted == current:
            log.info("menuselect: selection unchanged")
            return
        _select(tree.path, tree, profile, modules, log_path, sanitize, malloc_debug)
        if _cflags_line(opts.read_bytes()) != _cflags_line(current):
            (tree.path / ".lastclean").unlink(missing_ok=True)  # what menuselect does on a CFLAGS change


def build(tree: Tree, workdir: Workdir, prefix: Path, *, profile: str = "minimal", jobs: int | None = None,
          modules: Sequence[str] = (), sanitize: Sequence[str] = (), malloc_debug: bool = False) -> Path:
    """configure, menuselect, make, make install; write `<prefix>/.buildtools-build.json`; return prefix.

    `sanitize`: names of SANITIZERS to build with (Asterisk's menuselect options).
    `malloc_debug`: Asterisk's MALLOC_DEBUG (every ast_ allocation tracked by file and line,
    `memory show summary`); menuselect lets it conflict with ADDRESS_SANITIZER.
    """
    prefix = prefix.absolute()
    configure(tree, workdir, prefix, profile)
    menuselect(tree, workdir, profile, modules, sanitize, malloc_debug)
    jobs = jobs or len(os.sched_getaffinity(0))
    with step("make", workdir.log("make")) as log_path:
        run(["make", f"-j{jobs}"], tree.path, log_path, "make", heartbeat=HEARTBEAT)
    stamp = {"version": str(tree.version), "series_hash": applied_series_hash(tree), "profile": profile,
             "tree": str(tree.path)}
    if sanitize:
        stamp["sanitize"] = sorted(sanitize)
    if malloc_debug:
        stamp["malloc_debug"] = True
    with step("install", workdir.log("install")) as log_path:
        if _installed(tree, prefix, stamp):
            if not has_headers(prefix):
                run(["make", "install-headers"], tree.path, log_path, "install")
            log.info("install: %s is up to date (nothing was rebuilt)", prefix)
            return prefix
        run(["make", "install"], tree.path, log_path, "install")
        # <prefix>/include, for building modules/ out of tree (modules/meson.build): ~1 s, 3.4 MB.
        run(["make", "install-headers"], tree.path, log_path, "install")
    stamp["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write(prefix / BUILD_STAMP, json.dumps(stamp, indent=2) + "\n")
    return prefix


def _installed(tree: Tree, prefix: Path, stamp: dict) -> bool:
    """Whether `prefix` holds this very build: same stamp, and no binary built after it."""
    old = read_build_stamp(prefix)
    if not old or any(old.get(k) != v for k, v in stamp.items()) or not (prefix / "sbin/asterisk").is_file():
        return False
    installed_at = (prefix / BUILD_STAMP).stat().st_mtime
    outputs = [tree.path / "main/asterisk", *tree.path.glob("main/*.so*"), *tree.path.glob("*/*.so")]
    return all(p.stat().st_mtime < installed_at for p in outputs if p.exists())


def has_headers(prefix: Path) -> bool:
    """Whether `make install-headers` has put asterisk.h (and asterisk/*.h) into `<prefix>/include`."""
    include = prefix / "include"
    return (include / "asterisk.h").is_file() and (include / "asterisk" / "buildopts.h").is_file()


def read_build_stamp(prefix: Path) -> dict | None:
    """`<prefix>/.buildtools-build.json`, or None."""
    try:
        return json.loads((prefix / BUILD_STAMP).read_text())
    except (OSError, ValueError):
        return None


def pipeline(*args, **kwargs):
    """Moved to :func:`buildtools.pipeline.pipeline`."""
    from buildtools.pipeline import pipeline as run_pipeline

    return run_pipeline(*args, **kwargs)


def ensure_built(*args, **kwargs) -> Path:
    """Moved to :func:`buildtools.pipeline.ensure_built`."""
    from buildtools.pipeline import ensure_built as ensure

    return ensure(*args, **kwargs)
