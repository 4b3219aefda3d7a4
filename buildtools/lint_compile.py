"""`buildtools lint --compile`: build a tree as upstream's CI does, with --enable-dev-mode (-Werror)."""

from __future__ import annotations

import re
from pathlib import Path

from buildtools.errors import BuildError, ConfigError
from buildtools.lint import Finding
from buildtools.paths import Workdir, project_root
from buildtools.util import file_digest, run, step

_DIAG_RE = re.compile(r"^([\w./+-]+\.(?:c|h)):(\d+):(?:\d+:)? (warning|error): (.*)$", re.MULTILINE)


def compile_check(workdir: Workdir, tree_path: Path, jobs: int | None) -> list[Finding]:
    """configure --enable-dev-mode, menuselect (profile testsuite + our modules), make; each compiler
    warning or error is a finding. Needs the pjproject tarball in `<workdir>/externals`."""
    from buildtools.build import configure, menuselect
    from buildtools.series import Series
    from buildtools.tree import Tree

    versions = (tree_path / "third-party/versions.mak").read_text()
    m = re.search(r"PJPROJECT_VERSION\s*=\s*(\S+)", versions)
    if not m:
        raise ConfigError(f"{tree_path}/third-party/versions.mak: no PJPROJECT_VERSION")
    name = f"pjproject-{m.group(1)}"
    tarball = workdir.externals / f"{name}.tar.bz2"
    if not tarball.is_file():
        raise ConfigError(f"lint --compile: {tarball} is missing (offline pjproject for configure)",
                          hint="run `buildtools fetch --source debian` with the same --workdir first")
    # The worktree's checksum file names upstream's tarball; ours is Debian's repack.
    (tree_path / f"third-party/pjproject/{name}.tar.bz2.md5").write_text(f"{file_digest(tarball, 'md5')}  {name}.tar.bz2\n")
    tree = Tree(tree_path)
    modules = Series.load(project_root(), "22").module_names
    configure(tree, workdir, tree_path / "_prefix", "testsuite")
    menuselect(tree, workdir, "testsuite", modules)
    with step("make (dev mode)", workdir.log("lint-compile")) as log_path:
        res = run(["make", f"-j{jobs or 2}"], tree_path, log_path, "make", check=False, capture=True)
    found = []
    seen = set()
    for mm in _DIAG_RE.finditer(res.output):
        key = (mm.group(1), mm.group(2), mm.group(4))
        if key not in seen:
            seen.add(key)
            found.append(Finding(f"{mm.group(1)}:{mm.group(2)}", f"compiler {mm.group(3)} under --enable-dev-mode: "
                                                                  f"{mm.group(4)}"))
    if res.rc != 0 and not found:
        raise BuildError(f"lint --compile: make failed (exit {res.rc}) without a compiler diagnostic", log=log_path,
                         details="\n".join(res.output.splitlines()[-15:]))
    return found
