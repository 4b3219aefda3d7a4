"""configure, menuselect, make and make install a patched tree; the whole pipeline; ensure_built()."""

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

from buildtools import sources
from buildtools.errors import BuildError
from buildtools.paths import Workdir, project_root
from buildtools.series import Series, applied_series_hash, apply_series
from buildtools.tree import Tree
from buildtools.util import atomic_write, file_digest, file_lock, run, step
from buildtools.version import Version, VersionSpec

log = logging.getLogger("buildtools")

PROFILES = ("minimal", "full")
BUILD_STAMP = ".buildtools-build.json"
# Enough for res_pjsip work and SIPp tests (BUILD.md), plus what our tests drive from the dialplan.
MINIMAL_MODULES = (
    "chan_pjsip", "res_pjproject", "res_pjsip", "res_pjsip_session", "res_pjsip_pubsub",
    "res_pjsip_authenticator_digest", "res_pjsip_outbound_authenticator_digest",
    "res_pjsip_endpoint_identifier_ip", "res_pjsip_endpoint_identifier_user",
    "res_pjsip_endpoint_identifier_anonymous", "res_pjsip_outbound_registration", "res_pjsip_registrar",
    "res_pjsip_path", "res_pjsip_header_funcs", "res_pjsip_rfc3326", "res_pjsip_sdp_rtp", "res_pjsip_caller_id",
    "res_pjsip_diversion", "res_pjsip_nat", "res_pjsip_dtmf_info", "res_pjsip_logger", "res_pjsip_notify",
    "res_pjsip_acl", "res_pjsip_refer", "res_pjsip_options", "res_pjsip_exten_state",
    "res_sorcery_config", "res_sorcery_memory", "res_sorcery_astdb", "res_sorcery_memory_cache",
    "res_rtp_asterisk", "res_timing_timerfd", "res_musiconhold", "res_clioriginate",
    "bridge_simple", "bridge_native_rtp", "pbx_config",
    "app_dial", "app_echo", "app_playback", "app_verbose", "app_stack", "app_senddtmf", "app_userevent",
    "app_system", "app_db", "func_hangupcause", "func_channel", "func_strings", "func_callerid", "func_logic",
    "func_config", "func_shell", "func_db", "func_base64", "func_cut", "codec_ulaw", "codec_alaw", "codec_a_mu", "format_wav", "format_pcm",
)


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


def configure(tree: Tree, workdir: Workdir, prefix: Path) -> None:
    """./configure with the bundled pjproject and our externals cache; skipped if already done alike."""
    use_cached_pjproject(tree, workdir)
    args = [f"--prefix={prefix}", "--with-pjproject-bundled", f"--with-externals-cache={workdir.externals}",
            "--without-x11"]
    cc = _compiler()
    env = {"CC": cc} if cc else {}
    with step("configure", workdir.log("configure")) as log_path:
        if (tree.path / "config.status").is_file():
            out = run(["./config.status", "--config"], tree.path, log_path, "configure", capture=True).output
            if sorted(shlex.split(out)) == sorted(args + [f"CC={cc}"] * bool(cc)):
                log.info("configure: already configured with the same arguments")
                return
        if not (shutil.which("curl") or shutil.which("wget")):
            raise BuildError("configure: needs curl or wget for the bundled pjproject, even with the offline cache",
                             hint="install curl")
        workdir.externals.mkdir(parents=True, exist_ok=True)
        run(["./configure", *args], tree.path, log_path, "configure", env=env)


def _select(cwd: Path, tree: Tree, profile: str, modules: Sequence[str], log_path: Path) -> None:
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
    for name in modules:
        if not ms("--enable", name, check=False):
            raise BuildError(f"menuselect: our module {name} is unknown to menuselect in {tree.path}",
                             hint="run `buildtools apply` first", log=log_path)
    ms("--check-deps")


def _cflags_line(opts: bytes) -> bytes:
    return next((ln for ln in opts.splitlines() if ln.startswith(b"MENUSELECT_CFLAGS=")), b"")


def menuselect(tree: Tree, workdir: Workdir, profile: str, modules: Sequence[str]) -> None:
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
            _select(scratch, tree, profile, modules, log_path)
            wanted = (scratch / "menuselect.makeopts").read_bytes()
        if wanted == current:
            log.info("menuselect: selection unchanged")
            return
        _select(tree.path, tree, profile, modules, log_path)
        if _cflags_line(opts.read_bytes()) != _cflags_line(current):
            (tree.path / ".lastclean").unlink(missing_ok=True)  # what menuselect does on a CFLAGS change


def build(tree: Tree, workdir: Workdir, prefix: Path, *, profile: str = "minimal", jobs: int | None = None,
          modules: Sequence[str] = ()) -> Path:
    """configure, menuselect, make, make install; write `<prefix>/.buildtools-build.json`; return prefix."""
    prefix = prefix.absolute()
    configure(tree, workdir, prefix)
    menuselect(tree, workdir, profile, modules)
    jobs = jobs or len(os.sched_getaffinity(0))
    with step("make", workdir.log("make")) as log_path:
        run(["make", f"-j{jobs}"], tree.path, log_path, "make")
    stamp = {"version": str(tree.version), "series_hash": applied_series_hash(tree), "profile": profile,
             "tree": str(tree.path)}
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


def pipeline(workdir: Workdir, *, source: str = "debian", version: str | None = None, prefix: Path | None = None,
             profile: str = "minimal", jobs: int | None = None, dest: Path | None = None, url: str | None = None,
             sha256: str | None = None, suites: Sequence[str] | None = None,
             tree: Path | None = None) -> tuple[Tree, Path]:
    """fetch → apply → build, each step incremental; return the tree and the install prefix.

    Holds `<workdir>/build.lock`: concurrent pipelines in one workdir run one after the other.
    """
    root = project_root()
    with file_lock(workdir.root / "build.lock"):
        t = sources.fetch(workdir, source, version, dest, url=url, sha256=sha256, suites=suites, tree=tree)
        with step("apply", workdir.log("apply")) as log_path:
            series = Series.select(root, t)
            log.info(apply_series(t, series, log_path).message)
        prefix = build(t, workdir, prefix or workdir.prefix, profile=profile, jobs=jobs, modules=series.module_names)
    return t, prefix


def ensure_built(workdir: Workdir | str | os.PathLike[str] | None = None, version: str = "22", *,
                 prefix: Path | None = None, profile: str = "minimal", source: str = "debian") -> Path:
    """An install prefix with Asterisk `version` built with the current patches and modules.

    Returns at once when `<prefix>/.buildtools-build.json` records the current series hash (and a
    matching version and profile); otherwise runs the pipeline, incrementally in the existing
    tree (`workdir` as for --workdir: None means $BUILDTOOLS_WORKDIR or ~/.cache/buildtools).
    `prefix` defaults to `<workdir>/prefix`. Concurrent callers build one after the other.
    """
    ws = workdir if isinstance(workdir, Workdir) else Workdir.resolve(workdir)
    spec = VersionSpec.parse(version)
    prefix = Path(prefix).absolute() if prefix else ws.prefix
    stamp = read_build_stamp(prefix)
    tree = Tree(stamp["tree"]) if stamp and stamp.get("tree") else None
    if (stamp and tree is not None and tree.is_asterisk_tree() and stamp.get("profile") == profile
            and _version_matches(spec, stamp.get("version")) and has_headers(prefix)
            and stamp.get("series_hash") == Series.select(project_root(), tree).hash):
        log.debug("%s is up to date (Asterisk %s, series %s)", prefix, stamp["version"], stamp["series_hash"][:12])
        return prefix
    return pipeline(ws, source=source, version=version, prefix=prefix, profile=profile)[1]


def _version_matches(spec: VersionSpec, text: str | None) -> bool:
    try:
        return text is not None and spec.matches(Version.parse(text))
    except ValueError:
        return False
