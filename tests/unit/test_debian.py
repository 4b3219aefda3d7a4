"""Debian source: showsrc/.dsc parsing, mirror detection, and fetch against a fake apt."""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
from pathlib import Path

import pytest
from unit_helpers import make_tree

from buildtools import sources
from buildtools.errors import SourceError
from buildtools.paths import Workdir
from buildtools.sources import (
    DebianSource,
    find_debian_mirror,
    mirror_from_indextargets,
    parse_dsc_checksums,
    parse_showsrc,
)
from buildtools.util import Result
from buildtools.version import Version, VersionSpec

DATA = Path(__file__).parent / "data"
V1 = "1:22.10.1+dfsg+~cs6.17.60671434-1"
RC = "1:22.11.0-rc2+dfsg+~cs6.17.60671434-1"


def test_parse_showsrc_newest_first() -> None:
    cands = parse_showsrc((DATA / "showsrc.txt").read_text())
    assert [(c.debver, str(c.version)) for c in cands] == [(RC, "22.11.0-rc2"), (V1, "22.10.1")]
    sums = cands[1].sha256
    assert sums["asterisk_22.10.1+dfsg+~cs6.17.60671434-1.dsc"].startswith("8799652c")
    assert len(sums) == 7


def test_parse_signed_dsc() -> None:
    sums = parse_dsc_checksums((DATA / "asterisk_22.10.1.dsc").read_text())
    assert len(sums) == 6
    assert sums["asterisk_22.10.1+dfsg+~cs6.17.60671434.orig.tar.xz"].startswith("03e7a8ad")


def test_mirror_from_deb822(tmp_path: Path) -> None:
    shutil.copy(DATA / "debian.sources", tmp_path / "debian.sources")
    (tmp_path / "vendor.sources.disabled").write_text("Types: deb\nURIs: http://no.example\nSuites: bookworm\n")
    assert find_debian_mirror(tmp_path, tmp_path / "none", "bookworm") == "http://mirror.example/debian"
    assert find_debian_mirror(tmp_path, tmp_path / "none", "unknown") == "http://mirror.example/debian"


def test_mirror_from_one_line_format(tmp_path: Path) -> None:
    assert find_debian_mirror(tmp_path, DATA / "sources.list", "bookworm") == "http://oneline.example/debian"


def test_mirror_from_apt_indextargets() -> None:
    out = ("http://security.example/debian-security/ bookworm-security\n"
           "http://mirror.example/debian/ bookworm-updates\nhttp://mirror.example/debian/ bookworm\n")
    assert mirror_from_indextargets(out, "bookworm") == "http://mirror.example/debian"
    assert mirror_from_indextargets(out, None) == "http://mirror.example/debian"
    assert mirror_from_indextargets("http://security.example/debian-security/ bookworm-security\n", "x") is None
    assert mirror_from_indextargets("", "bookworm") is None


def test_no_mirror(tmp_path: Path) -> None:
    (tmp_path / "x.list").write_text("deb http://security.example/debian-security bookworm-security main\n")
    with pytest.raises(SourceError, match="no Debian mirror found"):
        find_debian_mirror(tmp_path, tmp_path / "none", "bookworm")


class FakeApt:
    """Stands in for apt-get/apt-cache: a pool with 22.10.1 only; experimental's rc2 is listed but 404s."""

    def __init__(self, tmp: Path) -> None:
        self.pool = tmp / "pool"
        self.pool.mkdir()
        self.calls: list[str] = []
        base = "asterisk_22.10.1+dfsg+~cs6.17.60671434"
        make_tree(tmp / "orig" / "asterisk-22.10.1")
        (tmp / "orig/asterisk-22.10.1/third-party").mkdir()
        (tmp / "orig/asterisk-22.10.1/third-party/versions.mak").write_text("PJPROJECT_VERSION=2.17\n")
        (tmp / "orig/asterisk-22.10.1/third-party/pjproject").mkdir()
        makefile = tmp / "pj/pjsip-pjproject-6852b24/pjmedia/build/Makefile"
        makefile.parent.mkdir(parents=True)
        makefile.write_text("OBJS = a.o bdimad_dev.o b.o\n")
        for name, top in ((f"{base}.orig.tar.xz", tmp / "orig/asterisk-22.10.1"),
                          (f"{base}.orig-Xpjproject.tar.xz", tmp / "pj/pjsip-pjproject-6852b24")):
            with tarfile.open(self.pool / name, "w:xz") as tar:
                tar.add(top, top.name)
        (self.pool / f"{base}-1.debian.tar.xz").write_bytes(b"debian/")
        sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(self.pool.iterdir())}
        lines = "".join(f" {h} 1 {n}\n" for n, h in sums.items())
        (self.pool / f"{base}-1.dsc").write_text(f"Source: asterisk\nVersion: {V1}\nChecksums-Sha256:\n{lines}")
        sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(self.pool.iterdir())}
        rc = {n.replace("22.10.1", "22.11.0-rc2"): h for n, h in sums.items()}
        self.showsrc = "".join(
            f"Package: asterisk\nVersion: {v}\nChecksums-Sha256:\n" + "".join(f" {h} 1 {n}\n" for n, h in s.items())
            + "\n" for v, s in ((V1, sums), (RC, rc)))

    def run(self, cmd: list, cwd: Path, log_path: Path, step: str, **kw: object) -> Result:
        argv = [str(c) for c in cmd]
        if argv[0] not in ("apt-get", "apt-cache"):
            return REAL_RUN(cmd, cwd, log_path, step, **kw)
        action = next(a for a in argv[1:] if a in ("update", "showsrc", "source"))
        self.calls.append(action)
        if action == "showsrc":
            return Result(0, self.showsrc)
        if action == "source":
            if argv[-1] != f"asterisk={V1}":
                return Result(100, "E: Failed to fetch http://mirror.example/debian/pool/x.dsc  404  Not Found\n")
            for p in self.pool.iterdir():
                shutil.copy(p, cwd / p.name)
        return Result(0, "")


REAL_RUN = sources.run


@pytest.fixture
def apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeApt:
    fake = FakeApt(tmp_path)
    monkeypatch.setattr(sources, "run", fake.run)
    return fake


def test_fetch_falls_back_and_caches(apt: FakeApt, workdir: Workdir, tmp_path: Path) -> None:
    src = DebianSource(workdir, mirror="http://mirror.example/debian")
    tree = src.fetch(VersionSpec.parse("22"), tmp_path / "src")
    assert tree.version == Version.parse("22.10.1") and tree.path == tmp_path / "src/asterisk-22.10.1"
    assert apt.calls == ["update", "showsrc", "source", "source"]  # rc2 failed, 22.10.1 downloaded
    assert not (tree.path / "debian").exists()
    tarball = workdir.externals / "pjproject-2.17.tar.bz2"
    md5 = hashlib.md5(tarball.read_bytes()).hexdigest()
    assert (tree.path / "third-party/pjproject/pjproject-2.17.tar.bz2.md5").read_text() == \
        f"{md5}  pjproject-2.17.tar.bz2\n"
    with tarfile.open(tarball) as tar:
        assert tar.extractfile("pjproject-2.17/pjmedia/build/Makefile").read() == b"OBJS = a.o b.o\n"

    apt.calls.clear()
    assert src.fetch(VersionSpec.parse("22"), tmp_path / "src").path == tree.path
    assert apt.calls == ["showsrc"]  # lists fresh, rc2 remembered as failed, nothing downloaded
    shutil.rmtree(tree.path)
    assert src.fetch(VersionSpec.parse("22.10.1"), tmp_path / "src").is_asterisk_tree()
    assert apt.calls == ["showsrc", "showsrc"]  # re-extracted from the cache


def test_fetch_unknown_branch(apt: FakeApt, workdir: Workdir, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"^no Asterisk 21 in Debian suites sid, experimental "
                                          r"\(found 22.10.1, 22.11.0-rc2\)$"):
        DebianSource(workdir, mirror="http://m.example/debian").fetch(VersionSpec.parse("21"), tmp_path / "src")


def test_fetch_checksum_mismatch(apt: FakeApt, workdir: Workdir, tmp_path: Path) -> None:
    orig = next(apt.pool.glob("*.orig.tar.xz"))
    orig.write_bytes(orig.read_bytes() + b"tampered")
    pattern = rf"{re.escape(orig.name)}: sha256 [0-9a-f]{{64}} does not match [0-9a-f]{{64}}"
    with pytest.raises(SourceError, match=pattern):
        DebianSource(workdir, mirror="http://m.example/debian").fetch(VersionSpec.parse("22.10.1"), tmp_path / "src")
    assert not (tmp_path / "src/asterisk-22.10.1").exists()
