"""Where Asterisk sources come from: Debian's source package, git tags, release tarballs, a local tree.

Each source has `fetch(spec, dest) -> Tree`, resolves the exact version it uses (and logs it),
verifies checksums, caches downloads under `<workdir>/downloads/` (a second fetch downloads
nothing) and leaves a finished tree at `<dest>/asterisk-<version>` (extracted aside, then renamed).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from debian.deb822 import Deb822, Dsc, Sources

from buildtools.errors import ConfigError, SourceError
from buildtools.paths import Workdir
from buildtools.tree import Tree
from buildtools.util import atomic_write, file_digest, run, sha256_bytes, step
from buildtools.version import Version, VersionSpec, debian_upstream

log = logging.getLogger("buildtools")

SOURCE_KINDS = ("debian", "git", "tarball", "path")
DEFAULT_VERSION = "22"
DEFAULT_SUITES = ("sid", "experimental")
DEFAULT_GIT_URL = "https://github.com/asterisk/asterisk.git"
RELEASES_URL = "https://downloads.asterisk.org/pub/telephony/asterisk"
APT_UPDATE_EVERY = 3600  # seconds


class Source(Protocol):
    """Anything that can produce an Asterisk tree."""

    def fetch(self, spec: VersionSpec | None, dest: Path) -> Tree:
        """Resolve `spec`, download (or reuse) and return the tree under `dest`."""
        ...


@contextlib.contextmanager
def _extracted(archive: Path, parent: Path, log_path: Path) -> Iterator[Path]:
    """Extract `archive` into a temp dir in `parent`; yield its single top-level directory.

    The caller renames it into place; whatever is left is removed, so no half tree remains.
    """
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=parent))
    try:
        run(["tar", "-xf", archive, "-C", tmp], parent, log_path, "fetch")
        tops = list(tmp.iterdir())
        if len(tops) != 1 or not tops[0].is_dir():
            raise SourceError(f"{archive}: expected one top-level directory, found {len(tops)} entries")
        yield tops[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(top: Path, final: Path) -> Tree:
    """Move an extracted tree into place (keeping an existing tree of the same version)."""
    if not Tree(final).is_asterisk_tree():
        if final.exists():
            raise SourceError(f"{final} exists but is not an Asterisk tree; remove it")
        top.rename(final)
    return Tree(final)


# --- Debian -----------------------------------------------------------------------------------

def deb822_paragraphs(text: str) -> list[dict[str, str]]:
    """RFC 822-style paragraphs (apt .sources files, `apt-cache showsrc`, .dsc), parsed by python-debian."""
    return [dict(p) for p in Deb822.iter_paragraphs(text.splitlines(), use_apt_pkg=False)]


def _sha256s(para: Deb822) -> dict[str, str]:
    """{file name: sha256} of a paragraph's `Checksums-Sha256` field."""
    return {f["name"]: f["sha256"].lower() for f in para.get("Checksums-Sha256") or []}


def parse_dsc_checksums(text: str) -> dict[str, str]:
    """The `Checksums-Sha256` of a (possibly PGP-signed) .dsc file."""
    sums = _sha256s(Dsc(text))
    if not sums:
        raise SourceError("no Checksums-Sha256 field in the .dsc file")
    return sums


@dataclass(frozen=True)
class DebianCandidate:
    """One source package version from `apt-cache showsrc`, with the sha256 of its files."""

    debver: str
    version: Version
    sha256: Mapping[str, str]


def parse_showsrc(text: str, package: str = "asterisk") -> list[DebianCandidate]:
    """Candidates from `apt-cache showsrc`, newest first (duplicates from several suites merged)."""
    found: dict[str, DebianCandidate] = {}
    for para in Sources.iter_paragraphs(text.splitlines(), use_apt_pkg=False):
        debver = para.get("Version", "")
        if para.get("Package") != package or debver in found:
            continue
        try:
            version = debian_upstream(debver)
        except ValueError:
            log.debug("ignoring Debian version %s", debver)
            continue
        found[debver] = DebianCandidate(debver, version, _sha256s(para))
    return sorted(found.values(), key=lambda c: (c.version, c.debver), reverse=True)


def mirror_from_indextargets(output: str, codename: str | None) -> str | None:
    """The repository URI of the main suite in `apt-get indextargets --format '$(REPO_URI) $(RELEASE)'`
    output (lines `<uri> <suite>`): the codename's, else any suite that is not -updates/-security."""
    entries = [(ln.split()[0], ln.split()[1]) for ln in output.splitlines() if len(ln.split()) >= 2]
    for uri, suite in entries:
        if suite == codename:
            return uri.rstrip("/")
    return next((uri.rstrip("/") for uri, suite in entries if "-" not in suite and "/" not in suite), None)


def _indextargets() -> str:
    """What apt knows about the system's repositories (empty when apt-get fails or is missing)."""
    try:
        res = subprocess.run(["apt-get", "indextargets", "--format", "$(REPO_URI) $(RELEASE)"],
                             capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout if res.returncode == 0 else ""


def _deb_entries(sources_dir: Path, sources_list: Path) -> list[tuple[str, list[str]]]:
    """(URI, suites) of every enabled `deb`/`deb-src` entry of the system's apt sources."""
    entries = []
    for f in sorted(sources_dir.glob("*.sources")):
        for para in Deb822.iter_paragraphs(f.read_text().splitlines(), use_apt_pkg=False):
            types = para.get("Types", "").split()
            if para.get("Enabled", "yes").lower() != "no" and {"deb", "deb-src"} & set(types) and para.get("URIs"):
                entries.append((para["URIs"].split()[0], para.get("Suites", "").split()))
    for f in (sources_list, *sorted(sources_dir.glob("*.list"))):
        if not f.is_file():
            continue
        for line in f.read_text().splitlines():
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] in ("deb", "deb-src"):
                entries.append((words[1], [words[2]]))
    return entries


def _os_codename(os_release: Path = Path("/etc/os-release")) -> str | None:
    if os_release.is_file():
        m = re.search(r"^VERSION_CODENAME=\"?([^\"\n]*)", os_release.read_text(), re.MULTILINE)
        if m and m.group(1):
            return m.group(1)
    return None


SYSTEM_SOURCES_DIR = Path("/etc/apt/sources.list.d")
SYSTEM_SOURCES_LIST = Path("/etc/apt/sources.list")


def find_debian_mirror(sources_dir: Path = SYSTEM_SOURCES_DIR, sources_list: Path = SYSTEM_SOURCES_LIST,
                       codename: str | None = None) -> str:
    """The URI of the system's main Debian suite (e.g. `bookworm`, not `bookworm-security`): from
    `apt-get indextargets` (the repositories apt has lists of) for the system's own apt
    configuration, else from the apt sources files."""
    codename = codename or _os_codename()
    if sources_dir == SYSTEM_SOURCES_DIR and sources_list == SYSTEM_SOURCES_LIST:
        found = mirror_from_indextargets(_indextargets(), codename)
        if found:
            return found
    entries = _deb_entries(sources_dir, sources_list)
    for uri, suites in entries:
        if codename in suites:
            return uri.rstrip("/")
    for uri, suites in entries:  # no codename: any suite that is not an -updates/-security one
        if any("-" not in s and "/" not in s for s in suites):
            return uri.rstrip("/")
    raise SourceError(f"no Debian mirror found in {sources_dir}/*.sources or {sources_list}",
                      hint="add the main Debian suite to apt's sources, or use --source git/tarball/path")


def _apt_error(output: str) -> str | None:
    """The first `E:` line of apt's output, shortened (`file.dsc: 404  Not Found`)."""
    line = next((ln[2:].strip() for ln in output.splitlines() if ln.startswith("E:")), None)
    if line and (m := re.match(r"Failed to fetch (\S+)\s+(.*?)\s*(\[IP[^]]*\])?$", line)):
        return f"{urllib.parse.unquote(m.group(1).rsplit('/', 1)[-1])}: {' '.join(m.group(2).split())}"
    return line


class _Unavailable(Exception):
    """A Debian candidate cannot be downloaded (try the next one)."""


class DebianSource:
    """Asterisk from Debian's `asterisk` source package, through a private apt configuration.

    The system's apt configuration is not touched: `<workdir>/apt/` holds our sources.list
    (deb-src lines for `suites`, on the system's Debian mirror), lists and cache.
    """

    package = "asterisk"

    def __init__(self, workdir: Workdir, suites: Sequence[str] = DEFAULT_SUITES, mirror: str | None = None) -> None:
        self.workdir = workdir
        self.suites = tuple(suites)
        self._mirror = mirror
        self.dir = workdir.apt
        self.downloads = workdir.downloads / "debian"
        self.log_path = workdir.log("fetch")

    @property
    def apt_options(self) -> list[str]:
        """`-o` options selecting the private configuration."""
        opts = {"Dir::Etc::sourcelist": self.dir / "sources.list", "Dir::Etc::sourceparts": "/dev/null",
                "Dir::State::Lists": self.dir / "lists", "Dir::Cache": self.dir / "cache",
                "Acquire::Check-Valid-Until": "false", "Acquire::Check-Date": "false"}
        if os.geteuid() == 0:
            opts["APT::Sandbox::User"] = "root"  # our dirs need not be readable by _apt
        return [x for k, v in opts.items() for x in ("-o", f"{k}={v}")]

    def _state(self) -> dict[str, Any]:
        try:
            return json.loads((self.dir / "state.json").read_text())
        except (OSError, ValueError):
            return {}

    def _save_state(self, state: dict[str, Any]) -> None:
        atomic_write(self.dir / "state.json", json.dumps(state, indent=2) + "\n")

    def _update(self) -> dict[str, Any]:
        """`apt-get update` on the private config, unless done in the last hour for the same sources."""
        mirror = self._mirror or find_debian_mirror()
        sources = "".join(f"deb-src {mirror} {suite} main\n" for suite in self.suites)
        state = self._state()
        fresh = time.time() - state.get("updated", 0) < APT_UPDATE_EVERY
        if state.get("sources") == sources and fresh:
            log.debug("apt lists are fresh (updated %s)", time.ctime(state["updated"]))
            return state
        for sub in ("lists/partial", "cache/archives/partial"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        atomic_write(self.dir / "sources.list", sources)
        log.info("apt-get update (%s on %s)", ", ".join(self.suites), mirror)
        run(["apt-get", *self.apt_options, "update"], self.dir, self.log_path, "fetch")
        state = {"sources": sources, "updated": time.time(), "failed": []}
        self._save_state(state)
        return state

    def candidates(self) -> list[DebianCandidate]:
        """All versions the suites offer, newest first."""
        out = run(["apt-cache", *self.apt_options, "showsrc", self.package], self.dir, self.log_path, "fetch",
                  capture=True).output
        return parse_showsrc(out, self.package)

    def fetch(self, spec: VersionSpec | None, dest: Path) -> Tree:
        """Newest matching version whose files download, newest first (experimental's rc may 404)."""
        spec = spec or VersionSpec.parse(DEFAULT_VERSION)
        state = self._update()
        cands = self.candidates()
        matching = [c for c in cands if spec.matches(c.version)]
        if not matching:
            found = ", ".join(sorted({str(c.version) for c in cands}, key=Version.parse)) or "nothing"
            raise SourceError(f"no Asterisk {spec} in Debian suites {', '.join(self.suites)} (found {found})")
        failed: list[str] = []
        for cand in matching:
            final = dest / f"asterisk-{cand.version}"
            if Tree(final).is_asterisk_tree() and self._pjproject_ready(final):
                log.info("Asterisk %s (Debian %s): already extracted", cand.version, cand.debver)
                return Tree(final)
            if cand.debver in state.get("failed", []):
                log.info("skipping Debian %s: its download failed after the last apt-get update", cand.debver)
                continue
            try:
                files = self._download(cand)
            except _Unavailable as e:
                log.warning("Debian %s cannot be downloaded (%s); trying the next candidate", cand.debver, e)
                failed.append(cand.debver)
                continue
            tree = self._extract(cand, files, dest)
            if failed:  # remember until the next update, but only once something else worked
                state["failed"] = state.get("failed", []) + failed
                self._save_state(state)
            return tree
        raise SourceError(f"could not download Asterisk {spec} from Debian (tried "
                          f"{', '.join(c.debver for c in matching)})", log=self.log_path)

    def _download(self, cand: DebianCandidate) -> dict[str, Path]:
        """The verified files of `cand`, downloaded unless already cached with the right checksums."""
        d = self.downloads
        d.mkdir(parents=True, exist_ok=True)
        digests: dict[str, str] = {}

        def digest(name: str) -> str | None:
            if name not in digests and (d / name).is_file():
                digests[name] = file_digest(d / name)
            return digests.get(name)

        if cand.sha256 and all(digest(n) == h for n, h in cand.sha256.items()):
            log.info("Asterisk %s (Debian %s): using cached files in %s", cand.version, cand.debver, d)
        else:
            log.info("Asterisk %s (Debian %s): downloading the source package", cand.version, cand.debver)
            res = run(["apt-get", *self.apt_options, "source", "--download-only", f"{self.package}={cand.debver}"],
                      d, self.log_path, "fetch", check=False, capture=True)
            if res.rc != 0:
                raise _Unavailable(_apt_error(res.output) or f"apt-get exit code {res.rc}")
            digests.clear()
        dsc = next((n for n in cand.sha256 if n.endswith(".dsc")), None)
        if dsc is None:
            raise SourceError(f"apt-cache showsrc lists no .dsc for {self.package} {cand.debver}")
        self._verify(cand.sha256, digest, "apt-cache showsrc")
        sums = parse_dsc_checksums((d / dsc).read_text())
        self._verify(sums, digest, dsc)
        return {n: d / n for n in sums}

    def _verify(self, expected: Mapping[str, str], digest: Callable[[str], str | None], where: str) -> None:
        for name, sha in expected.items():
            actual = digest(name)
            if actual is None:
                raise SourceError(f"{self.downloads / name}: missing after download")
            if actual != sha:
                (self.downloads / name).unlink()
                raise SourceError(f"{self.downloads / name}: sha256 {actual} does not match {sha} from {where}")

    def _extract(self, cand: DebianCandidate, files: Mapping[str, Path], dest: Path) -> Tree:
        def one(pattern: str) -> Path:
            hits = [p for n, p in files.items() if re.search(pattern, n)]
            if len(hits) != 1:
                raise SourceError(f"Debian {cand.debver}: expected one file matching {pattern}, found {len(hits)}")
            return hits[0]

        orig, pjproject = one(r"\.orig\.tar\.\w+$"), one(r"\.orig-Xpjproject\.tar\.\w+$")
        final = dest / f"asterisk-{cand.version}"
        if Tree(final).is_asterisk_tree():
            self._prepare_pjproject(final, pjproject)
            return Tree(final)
        log.info("extracting %s", orig.name)
        with _extracted(orig, dest, self.log_path) as top:
            if not (top / ".version").exists():
                (top / ".version").write_text(f"{cand.version}\n")
            if Tree.open(top).version != cand.version:
                raise SourceError(f"{orig.name}: holds Asterisk {Tree(top).version}, not {cand.version}")
            self._prepare_pjproject(top, pjproject)
            return _install(top, final)

    def _pjproject_paths(self, tree_dir: Path) -> tuple[str, Path, Path]:
        mak = tree_dir / "third-party" / "versions.mak"
        m = re.search(r"^PJPROJECT_VERSION\s*=\s*(\S+)", mak.read_text() if mak.is_file() else "", re.MULTILINE)
        if not m:
            raise SourceError(f"{mak}: no PJPROJECT_VERSION")
        name = f"pjproject-{m.group(1)}"
        md5file = tree_dir / "third-party/pjproject" / f"{name}.tar.bz2.md5"
        return name, self.workdir.externals / f"{name}.tar.bz2", md5file

    def _pjproject_ready(self, tree_dir: Path) -> bool:
        _, tarball, md5file = self._pjproject_paths(tree_dir)
        return (tarball.is_file() and md5file.is_file()
                and md5file.read_text().split()[:1] == [file_digest(tarball, "md5")])

    def _prepare_pjproject(self, tree_dir: Path, archive: Path) -> None:
        """Repack Debian's pjproject as configure's offline externals cache expects; write its md5."""
        name, tarball, md5file = self._pjproject_paths(tree_dir)
        origin = tarball.with_name(tarball.name + ".origin")
        source_sha = file_digest(archive)
        if not (tarball.is_file() and origin.is_file() and origin.read_text().strip() == source_sha):
            log.info("repacking %s as %s", archive.name, tarball)
            tarball.parent.mkdir(parents=True, exist_ok=True)
            with _extracted(archive, self.downloads, self.log_path) as top:
                top = top.rename(top.with_name(name))
                makefile = top / "pjmedia/build/Makefile"
                if makefile.is_file():  # bdimad_dev.c is not DFSG-free: Debian removed it
                    makefile.write_text(makefile.read_text().replace(" bdimad_dev.o", ""))
                part = tarball.with_name(tarball.name + ".part")
                run(["bash", "-o", "pipefail", "-c", 'tar -C "$1" -cf - "$2" | bzip2 --fast > "$3"', "repack",
                     top.parent, name, part], self.downloads, self.log_path, "fetch")
                os.replace(part, tarball)
            origin.write_text(source_sha + "\n")
        line = f"{file_digest(tarball, 'md5')}  {tarball.name}\n"
        if not md5file.is_file() or md5file.read_text() != line:
            md5file.write_text(line)


# --- git --------------------------------------------------------------------------------------

def _git_error(output: str) -> str:
    """The last `fatal:`/`error:` line of git's output (or its last line)."""
    msgs = re.findall(r"(?:fatal|error): [^\n]*", output)
    lines = output.strip().splitlines()
    return msgs[-1].strip() if msgs else (lines[-1] if lines else "no output")


class GitSource:
    """Asterisk from a git repository's release tags, via a shallow cache repository.

    Every git command runs through util.run: it is logged, with its output, to logs/fetch.log.
    The cache repository is created beside its final place and renamed there only once a tag
    was fetched into it, so a failed first fetch leaves no empty repository behind.
    """

    def __init__(self, workdir: Workdir, url: str = DEFAULT_GIT_URL) -> None:
        self.workdir = workdir
        self.url = url
        name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(urllib.parse.urlparse(url).path).name.removesuffix(".git"))
        self.cache = workdir.downloads / "git" / f"{name or 'repo'}-{sha256_bytes(url.encode())[:12]}.git"

    def _git(self, *args: str, cwd: Path | None = None) -> tuple[int, str]:
        """Run `git args` (logged to fetch.log); its exit code and output."""
        cwd = cwd or self.workdir.root
        cwd.mkdir(parents=True, exist_ok=True)
        res = run(["git", *args], cwd, self.workdir.log("fetch"), "fetch", check=False, capture=True,
                  env={"GIT_TERMINAL_PROMPT": "0"})
        return res.rc, res.output

    def _cached_tags(self) -> set[str]:
        if not self.cache.is_dir():
            return set()
        rc, out = self._git("tag", "--list", cwd=self.cache)
        return set(out.split()) if rc == 0 else set()

    def _resolve(self, spec: VersionSpec) -> str:
        """The tag for `spec`: itself when exact, else the newest non-rc `N.x.y` tag of the branch."""
        if spec.exact:
            return str(spec.exact)
        rc, out = self._git("ls-remote", "--tags", self.url)
        if rc == 0:
            tags = {ln.split("refs/tags/", 1)[1].removesuffix("^{}") for ln in out.splitlines() if "refs/tags/" in ln}
        else:
            tags = self._cached_tags()
            if not tags:
                raise SourceError(f"cannot list the tags of {self.url}: {_git_error(out)}",
                                  log=self.workdir.log("fetch"))
            log.warning("cannot list the tags of %s (%s); using cached tags", self.url, _git_error(out))
        versions: dict[Version, str] = {}
        for tag in tags:
            with contextlib.suppress(ValueError):
                versions[Version.parse(tag)] = tag
        matching = [v for v in versions if spec.matches(v)]
        finals = [v for v in matching if not v.is_prerelease] or matching
        if not finals:
            sample = ", ".join(versions[v] for v in sorted(versions)[-5:]) or "no release tags"
            raise SourceError(f"no tag for Asterisk {spec} at {self.url} (newest: {sample})")
        return versions[max(finals)]

    def _fetch_tag(self, tag: str) -> None:
        """Fetch `tag` into the cache; a new cache appears only when the fetch succeeded."""
        target = self.cache if self.cache.is_dir() else self.cache.with_name(f".{self.cache.name}.tmp{os.getpid()}")
        if target != self.cache:
            shutil.rmtree(target, ignore_errors=True)
            rc, out = self._git("init", "-q", "--bare", str(target))
            if rc:
                raise SourceError(f"cannot create the git cache {self.cache}: {_git_error(out)}",
                                  log=self.workdir.log("fetch"))
        try:
            rc, out = self._git("fetch", "--depth", "1", self.url, f"refs/tags/{tag}:refs/tags/{tag}", cwd=target)
            if rc:
                raise SourceError(f"cannot fetch tag {tag} from {self.url}: {_git_error(out)}",
                                  log=self.workdir.log("fetch"))
            if target != self.cache:
                os.replace(target, self.cache)
        finally:
            if target != self.cache:
                shutil.rmtree(target, ignore_errors=True)

    def fetch(self, spec: VersionSpec | None, dest: Path) -> Tree:
        """Clone the tag into `dest/asterisk-<version>`, fetching it into the cache only when missing."""
        spec = spec or VersionSpec.parse(DEFAULT_VERSION)
        tag = self._resolve(spec)
        version = Version.parse(tag)
        final = dest / f"asterisk-{version}"
        if Tree(final).is_asterisk_tree():
            log.info("Asterisk %s (git tag %s): already checked out", version, tag)
            return Tree(final)
        if tag in self._cached_tags():
            log.info("Asterisk %s (git tag %s): cached in %s", version, tag, self.cache)
        else:
            log.info("Asterisk %s (git tag %s): fetching from %s", version, tag, self.url)
            self._fetch_tag(tag)
        dest.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=dest))
        try:
            rc, out = self._git("clone", "-q", "--branch", tag, str(self.cache), str(tmp / "asterisk"), cwd=tmp)
            if rc:
                raise SourceError(f"cannot check out tag {tag} from {self.cache}: {_git_error(out)}",
                                  log=self.workdir.log("fetch"))
            Tree.open(tmp / "asterisk")
            return _install(tmp / "asterisk", final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


# --- tarball ----------------------------------------------------------------------------------

def _url_error(e: Exception) -> str:
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code} {e.reason}"
    return str(getattr(e, "reason", e))


def default_tarball_url(spec: VersionSpec) -> str:
    """downloads.asterisk.org URL of a release (`asterisk-22-current` for a branch)."""
    if spec.exact:
        return f"{RELEASES_URL}/releases/asterisk-{spec.exact}.tar.gz"
    return f"{RELEASES_URL}/asterisk-{spec.major}-current.tar.gz"


class TarballSource:
    """A release tarball over HTTP(S), checked against `--sha256` or the published `<url>.sha256`."""

    def __init__(self, workdir: Workdir, url: str | None = None, sha256: str | None = None) -> None:
        self.workdir = workdir
        self.url = url
        self.sha256 = sha256.lower() if sha256 else None
        self.log_path = workdir.log("fetch")

    def fetch(self, spec: VersionSpec | None, dest: Path) -> Tree:
        """Download (unless cached), verify and extract the tarball."""
        spec = spec or VersionSpec.parse(DEFAULT_VERSION)
        url = self.url or default_tarball_url(spec)
        name = Path(urllib.parse.urlparse(url).path).name
        if not name:
            raise ConfigError(f"--url {url}: no file name in the URL")
        archive = self.workdir.downloads / "tarball" / name
        meta_file = archive.with_name(name + ".json")
        meta = json.loads(meta_file.read_text()) if meta_file.is_file() and archive.is_file() else None
        if meta and self.sha256 not in (None, meta["sha256"]):
            raise SourceError(f"{archive}: sha256 {meta['sha256']} does not match --sha256 {self.sha256}")
        if meta:
            final = dest / f"asterisk-{meta['version']}"
            if Tree(final).is_asterisk_tree() and spec.matches(Version.parse(meta["version"])):
                log.info("Asterisk %s (%s): already extracted", meta["version"], name)
                return Tree(final)
            actual = file_digest(archive)
            if actual != meta["sha256"]:
                raise SourceError(f"{archive}: sha256 {actual} does not match {meta['sha256']} recorded at download")
            log.info("using cached %s", archive)
        else:
            actual = self._download(url, archive)
        with _extracted(archive, dest, self.log_path) as top:
            version = Tree.open(top).version
            if not spec.matches(version):
                raise SourceError(f"{name}: holds Asterisk {version}, not {spec}")
            tree = _install(top, dest / f"asterisk-{version}")
        atomic_write(meta_file, json.dumps({"url": url, "sha256": actual, "version": str(version)}) + "\n")
        log.info("Asterisk %s from %s", version, name)
        return tree

    def _published_sha256(self, url: str) -> str | None:
        try:
            with urllib.request.urlopen(url + ".sha256", timeout=60) as r:
                text = r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            if e.code in (403, 404, 410):
                return None
            raise SourceError(f"cannot download {url}.sha256: {_url_error(e)}") from None
        except (urllib.error.URLError, OSError) as e:
            raise SourceError(f"cannot download {url}.sha256: {_url_error(e)}") from None
        m = re.search(r"\b[0-9a-fA-F]{64}\b", text)
        if not m:
            raise SourceError(f"{url}.sha256: no sha256 digest in it")
        return m.group(0).lower()

    def _download(self, url: str, archive: Path) -> str:
        """Download `url` to `archive`, verified; return its sha256."""
        expected = self.sha256 or self._published_sha256(url)
        archive.parent.mkdir(parents=True, exist_ok=True)
        part = archive.with_name(archive.name + ".part")
        log.info("downloading %s", url)
        try:
            with urllib.request.urlopen(url, timeout=60) as r, open(part, "wb") as f:
                shutil.copyfileobj(r, f)
        except (urllib.error.URLError, OSError) as e:
            part.unlink(missing_ok=True)
            raise SourceError(f"cannot download {url}: {_url_error(e)}") from None
        actual = file_digest(part)
        if expected and actual != expected:
            part.unlink()
            raise SourceError(f"{archive.name}: sha256 mismatch: expected {expected}, got {actual}")
        if not expected:
            log.warning("%s: no published sha256; not verified (its sha256 is %s)", archive.name, actual)
        os.replace(part, archive)
        return actual


# --- local tree -------------------------------------------------------------------------------

class LocalSource:
    """An existing tree on disk, used in place."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fetch(self, spec: VersionSpec | None, dest: Path | None = None) -> Tree:
        """Validate the tree (and its version against `spec`, if given)."""
        tree = Tree.open(self.path)
        if spec and not spec.matches(tree.version):
            raise SourceError(f"{tree.path} holds Asterisk {tree.version}, not {spec}")
        log.info("Asterisk %s at %s", tree.version, tree.path)
        return tree


# --- entry point ------------------------------------------------------------------------------

def make_source(kind: str, workdir: Workdir, *, url: str | None = None, sha256: str | None = None,
                suites: Sequence[str] | None = None, tree: Path | None = None) -> Source:
    """The source for `--source kind`; ConfigError for options that do not belong to it."""
    given = {"--url": url, "--sha256": sha256, "--suite": suites, "--tree": tree}
    allowed = {"debian": {"--suite"}, "git": {"--url"}, "tarball": {"--url", "--sha256"}, "path": {"--tree"}}
    if kind not in allowed:
        raise ConfigError(f"--source: unknown source {kind!r} (choose from {', '.join(SOURCE_KINDS)})")
    for opt, value in given.items():
        if value is not None and opt not in allowed[kind]:
            raise ConfigError(f"{opt} does not apply to --source {kind}")
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise ConfigError(f"--sha256: {sha256!r} is not a sha256 hex digest")
    if kind == "debian":
        return DebianSource(workdir, suites or DEFAULT_SUITES)
    if kind == "git":
        return GitSource(workdir, url or DEFAULT_GIT_URL)
    if kind == "tarball":
        return TarballSource(workdir, url, sha256)
    if tree is None:
        raise ConfigError("--source path needs --tree DIR")
    return LocalSource(tree)


def fetch(workdir: Workdir, source: str = "debian", version: str | None = None, dest: Path | None = None, *,
          url: str | None = None, sha256: str | None = None, suites: Sequence[str] | None = None,
          tree: Path | None = None) -> Tree:
    """Fetch (or find) an Asterisk tree as the logged step `fetch`; the tree lands in `dest` (<workdir>/src)."""
    spec = VersionSpec.parse(version) if version else None
    if source == "path" and tree is None:
        tree, dest = dest, None  # `--source path --dest DIR` names the tree itself
    src = make_source(source, workdir, url=url, sha256=sha256, suites=suites, tree=tree)
    with step("fetch", workdir.log("fetch")):
        return src.fetch(spec, dest or workdir.src)
