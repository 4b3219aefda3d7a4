"""git, tarball and path sources against local servers and repositories."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from unit_helpers import git, make_tree

from buildtools import sources
from buildtools.errors import SourceError
from buildtools.paths import Workdir


@pytest.fixture
def upstream(tmp_path: Path) -> Path:
    """A bare repository with tags 22.9.0, 22.10.0, 22.10.1 and 22.11.0-rc1."""
    work = make_tree(tmp_path / "upstream-work", version=None)
    git(work, "init", "-q")
    for tag in ("22.9.0", "22.10.0", "22.10.1", "22.11.0-rc1"):
        (work / "CHANGES").write_text(tag)
        git(work, "add", ".")
        git(work, "commit", "-qm", tag)
        git(work, "tag", "-a", "-m", tag, tag)
    git(tmp_path, "clone", "-q", "--bare", str(work), "upstream.git")
    return tmp_path / "upstream.git"


def test_git_newest_release_then_cached(upstream: Path, workdir: Workdir, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"file://{upstream}"
    tree = sources.fetch(workdir, "git", "22", tmp_path / "src", url=url)
    assert str(tree.version) == "22.10.1" and tree.path == tmp_path / "src/asterisk-22.10.1"
    assert (tree.path / "CHANGES").read_text() == "22.10.1"

    log = (workdir.logs / "fetch.log").read_text()
    assert f"$ git ls-remote --tags {url}" in log and "$ git fetch --depth 1" in log and "$ git clone" in log
    assert sources.fetch(workdir, "git", "22", tmp_path / "src", url=url).path == tree.path
    assert "$ git clone" not in (workdir.logs / "fetch.log").read_text()  # found checked out
    shutil.rmtree(tree.path)
    upstream.rename(tmp_path / "gone.git")  # the remote is unreachable: the cache must do
    again = sources.fetch(workdir, "git", "22.10.1", tmp_path / "src", url=url)
    assert str(again.version) == "22.10.1"


def test_failed_git_fetch_leaves_no_repository(upstream: Path, workdir: Workdir, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot fetch tag 22.9.9 from file://.*: fatal: ") as err:
        sources.fetch(workdir, "git", "22.9.9", tmp_path / "src", url=f"file://{upstream}")
    assert err.value.log == workdir.logs / "fetch.log"
    assert list((workdir.downloads / "git").iterdir()) == []
    assert not (tmp_path / "src" / "asterisk-22.9.9").exists()


def test_git_unknown_branch(upstream: Path, workdir: Workdir, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no tag for Asterisk 21 at file://.*newest: .*22.10.1"):
        sources.fetch(workdir, "git", "21", tmp_path / "src", url=f"file://{upstream}")


def test_git_rc_only_when_nothing_else(upstream: Path, workdir: Workdir, tmp_path: Path) -> None:
    tree = sources.fetch(workdir, "git", "22.11.0-rc1", tmp_path / "src", url=f"file://{upstream}")
    assert str(tree.version) == "22.11.0-rc1"


class _Server:
    """http.server on 127.0.0.1 in a thread, counting requests."""

    def __init__(self, root: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a: object, **k: object) -> None:
                super().__init__(*a, directory=str(root), **k)

            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *a: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    """Serves asterisk-22.10.1.tar.gz and its .sha256."""
    root = tmp_path / "www"
    root.mkdir()
    make_tree(tmp_path / "pkg" / "asterisk-22.10.1")
    with tarfile.open(root / "asterisk-22.10.1.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "pkg" / "asterisk-22.10.1", "asterisk-22.10.1")
    digest = hashlib.sha256((root / "asterisk-22.10.1.tar.gz").read_bytes()).hexdigest()
    (root / "asterisk-22.10.1.tar.gz.sha256").write_text(f"{digest}  asterisk-22.10.1.tar.gz\n")
    srv = _Server(root)
    yield srv
    srv.close()


def test_tarball_verified_then_cached(server: _Server, workdir: Workdir, tmp_path: Path) -> None:
    url = f"{server.url}/asterisk-22.10.1.tar.gz"
    tree = sources.fetch(workdir, "tarball", "22.10.1", tmp_path / "src", url=url)
    assert str(tree.version) == "22.10.1"
    assert server.requests == ["/asterisk-22.10.1.tar.gz.sha256", "/asterisk-22.10.1.tar.gz"]
    assert sources.fetch(workdir, "tarball", "22", tmp_path / "src", url=url).path == tree.path
    shutil.rmtree(tree.path)
    assert sources.fetch(workdir, "tarball", "22.10.1", tmp_path / "src", url=url).is_asterisk_tree()
    assert len(server.requests) == 2  # the second and third fetch downloaded nothing


@pytest.mark.parametrize("where", ["option", "published"])
def test_tarball_wrong_sha256(server: _Server, workdir: Workdir, tmp_path: Path, where: str) -> None:
    wrong = "0" * 64
    if where == "published":
        (tmp_path / "www/asterisk-22.10.1.tar.gz.sha256").write_text(f"{wrong}  asterisk-22.10.1.tar.gz\n")
    real = hashlib.sha256((tmp_path / "www/asterisk-22.10.1.tar.gz").read_bytes()).hexdigest()
    with pytest.raises(SourceError) as exc:
        sources.fetch(workdir, "tarball", "22.10.1", tmp_path / "src", url=f"{server.url}/asterisk-22.10.1.tar.gz",
                      sha256=wrong if where == "option" else None)
    assert str(exc.value) == f"asterisk-22.10.1.tar.gz: sha256 mismatch: expected {wrong}, got {real}"
    assert not (tmp_path / "src").exists() or not any((tmp_path / "src").iterdir())
    assert not list((workdir.downloads / "tarball").iterdir())


def test_tarball_missing(server: _Server, workdir: Workdir, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot download http://127.0.0.1:\d+/asterisk-9.9.9.tar.gz: HTTP 404"):
        sources.fetch(workdir, "tarball", "9.9.9", tmp_path / "src", url=f"{server.url}/asterisk-9.9.9.tar.gz")


def test_path_source(tree_dir: Path, workdir: Workdir, tmp_path: Path) -> None:
    assert str(sources.fetch(workdir, "path", tree=tree_dir).version) == "22.10.1"
    assert sources.fetch(workdir, "path", dest=tree_dir).path == tree_dir
    with pytest.raises(SourceError, match=r"holds Asterisk 22\.10\.1, not 21"):
        sources.fetch(workdir, "path", "21", tree=tree_dir)
    with pytest.raises(SourceError, match="is not an Asterisk source tree"):
        sources.fetch(workdir, "path", tree=tmp_path)
