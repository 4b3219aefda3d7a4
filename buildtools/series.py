"""Our patch series and modules, and applying them to a tree atomically and idempotently.

`patches/<branch>/series` (quilt format, plus `if` conditions on the tree's content: see
buildtools.probe) lists `git format-patch` files; every `modules/*.c`
(and `*.xml`) is copied into the tree. Applying stages every touched file in a temporary
directory, runs `git apply` there patch by patch, and writes the tree only when all of it
succeeded. `<tree>/.buildtools/` records what was applied (and keeps the patches) so a changed
series first reverses exactly the old one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from buildtools.errors import PatchError
from buildtools.probe import Condition, Probe, added_lines, created_migrations
from buildtools.tree import Tree
from buildtools.util import atomic_write, run, sha256_bytes
from buildtools.version import MASTER, MASTER_MAJOR, Version, VersionSpec

log = logging.getLogger("buildtools")

MODULE_DIRS = {"app": "apps", "bridge": "bridges", "chan": "channels", "codec": "codecs",
               "format": "formats", "func": "funcs", "pbx": "pbx", "res": "res"}
MODULE_PATTERNS = ("*.c", "*.xml")
STAMP_FILE = "applied.json"

_HUNK_RE = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


# --- parsing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class FileDiff:
    """One file's part of a patch: old/new path (None for /dev/null) and its hunks' start lines."""

    old: str | None
    new: str | None
    hunks: tuple[tuple[int, int], ...]  # (old start, new start)


def _strip_prefix(path: str) -> str | None:
    path = path.split("\t")[0].strip()
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


def parse_patch(text: str) -> list[FileDiff]:
    """Parse a unified/git diff into its files and hunk start lines (respecting hunk lengths)."""
    diffs: list[dict] = []
    cur: dict | None = None
    old_left = new_left = 0
    for line in text.splitlines():
        if old_left > 0 or new_left > 0:  # inside a hunk
            tag = line[:1]
            if tag in (" ", ""):
                old_left, new_left = old_left - 1, new_left - 1
            elif tag == "-":
                old_left -= 1
            elif tag == "+":
                new_left -= 1
            continue
        if line.startswith("diff --git "):
            m = re.match(r"^diff --git a/(.+) b/(.+)$", line)
            cur = {"old": m and m.group(1), "new": m and m.group(2), "hunks": [], "git": True, "minus": False}
            diffs.append(cur)
        elif line.startswith("--- "):
            if cur is None or not cur["git"] or cur["minus"]:
                cur = {"old": None, "new": None, "hunks": [], "git": False}
                diffs.append(cur)
            cur["old"], cur["minus"] = _strip_prefix(line[4:]), True
        elif line.startswith("+++ ") and cur is not None:
            cur["new"] = _strip_prefix(line[4:])
        elif cur is not None and line.startswith(("rename from ", "copy from ")):
            cur["old"] = line.split(" from ", 1)[1]
        elif cur is not None and line.startswith(("rename to ", "copy to ")):
            cur["new"] = line.split(" to ", 1)[1]
        elif cur is not None and line.startswith("new file mode"):
            cur["old"] = None
        elif cur is not None and line.startswith("deleted file mode"):
            cur["new"] = None
        elif (m := _HUNK_RE.match(line)) and cur is not None:
            cur["hunks"].append((int(m.group(1)), int(m.group(3))))
            old_left = int(m.group(2)) if m.group(2) is not None else 1
            new_left = int(m.group(4)) if m.group(4) is not None else 1
    return [FileDiff(d["old"], d["new"], tuple(d["hunks"])) for d in diffs]


@dataclass(frozen=True)
class Patch:
    """A patch file: `label` is how errors name it (`patches/22/0001-x.patch`)."""

    name: str
    path: Path
    label: str
    data: bytes

    @classmethod
    def load(cls, path: Path, label: str) -> Patch:
        """Read and parse the patch at `path`; PatchError if it holds no diff."""
        patch = cls(path.name, path.absolute(), label, path.read_bytes())
        if not patch.diffs:
            raise PatchError(f"{label}: no diff in this file")
        return patch

    @cached_property
    def diffs(self) -> list[FileDiff]:
        """The files and hunks of the patch."""
        return parse_patch(self.data.decode("utf-8", errors="replace"))

    @property
    def files(self) -> set[str]:
        """Tree-relative paths the patch reads or writes."""
        return {p for d in self.diffs for p in (d.old, d.new) if p}

    def hunk_at(self, file: str, line: int, reverse: bool = False) -> int | None:
        """The 1-based number (within `file`) of the hunk git reports as `file:line`."""
        hunks = [h for d in self.diffs if file in (d.old, d.new) for h in d.hunks]
        starts = [h[1] if reverse else h[0] for h in hunks]
        if line in starts:
            return starts.index(line) + 1
        before = [i for i, s in enumerate(starts) if s <= line]
        return before[-1] + 1 if before else None


def module_dest(filename: str) -> str:
    """Where a module source goes in the tree: `res_foo.c` → `res/res_foo.c`."""
    prefix = filename.split("_", 1)[0]
    if "_" not in filename or prefix not in MODULE_DIRS:
        raise PatchError(f"modules/{filename}: cannot tell its tree directory; the name must start with "
                         f"one of {', '.join(p + '_' for p in sorted(MODULE_DIRS))}")
    return f"{MODULE_DIRS[prefix]}/{filename}"


@dataclass(frozen=True)
class Module:
    """A module file from `modules/` and its tree-relative destination."""

    label: str
    dest: str
    data: bytes

    @property
    def name(self) -> str:
        """The module name for menuselect (`res_foo`), for C sources."""
        return Path(self.dest).stem


def available_branches(root: Path) -> list[str]:
    """Branch directories under `patches/` (numbers, then `master`)."""
    names = [p.name for p in (root / "patches").iterdir() if p.is_dir() and (p.name.isdigit() or p.name == MASTER)]
    return sorted(names, key=lambda n: int(n) if n.isdigit() else MASTER_MAJOR)


@dataclass(frozen=True)
class SeriesLine:
    """One patch line of a series file: the patch, its conditions, where it was written."""

    patch: Patch
    conditions: tuple[Condition, ...]
    where: str


def _parse_series(root: Path, branch: str, text: str) -> list[SeriesLine]:
    """The patch lines of `patches/<branch>/series`: `<file> [-p1] [if COND ...]`.

    `<file>` is relative to `patches/<branch>/` and may name another branch's file
    (`../22/0001-x.patch`) so that identical patches are kept once.
    """
    pdir = root / "patches" / branch
    label = f"patches/{branch}/series"
    lines = []
    for lineno, line in enumerate(text.splitlines(), 1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        where = f"{label} line {lineno}"
        opts, conds = words[1:], []
        if "if" in opts:
            i = opts.index("if")
            opts, conds = opts[:i], opts[i + 1:]
            if not conds:
                raise PatchError(f"{where}: 'if' without a condition")
        if opts not in ([], ["-p1"]):
            raise PatchError(f"{where}: unsupported options {' '.join(opts)!r}")
        path = pdir / words[0]
        try:
            rel = path.resolve().relative_to((root / "patches").resolve())
        except ValueError:
            raise PatchError(f"{where}: {words[0]} is outside patches/") from None
        if not path.is_file():
            raise PatchError(f"{where}: patches/{rel} not found")
        lines.append(SeriesLine(Patch.load(path, f"patches/{rel}"),
                                tuple(Condition.parse(c, where) for c in conds), where))
    return lines


def _choose(lines: list[SeriesLine], tree: Tree | None, label: str) -> list[Patch]:
    """The patches of `lines` that fit `tree`: lines naming the same file name are variants of one
    patch, and exactly one of them must fit."""
    if any(ln.conditions for ln in lines) and tree is None:
        raise PatchError(f"{label} chooses patches by the tree's content: a tree is needed")
    own = frozenset(m for ln in lines for m in created_migrations(ln.patch.data.decode("utf-8", "replace")))
    # A patch applied where `has=X` does not hold must not add X, or the choice would change once
    # the series is applied (a patch that needs X may repeat it: X was there before).
    for ln in lines:
        for c in ln.conditions:
            if not c.has_text:
                continue
            for other in lines:
                needs_it = any(o.kind == "has" and o.value == c.value and not o.negate for o in other.conditions)
                if not needs_it and any(c.has_text in added for added in
                                        added_lines(other.patch.data.decode("utf-8", "replace"))):
                    raise PatchError(f"{ln.where}: condition {c} tests a text that {other.patch.label} adds; "
                                     "choose a text only upstream has")
    probe = Probe(tree.path, own) if tree is not None else None
    groups: dict[str, list[SeriesLine]] = {}
    for ln in lines:
        groups.setdefault(ln.patch.name, []).append(ln)
    chosen = []
    for name, variants in groups.items():
        fits = [v for v in variants if probe is None or all(c.holds(probe) for c in v.conditions)]
        if len(fits) != 1:
            conds = [c for v in variants for c in v.conditions]
            what = "no variant" if not fits else f"{len(fits)} variants ({', '.join(v.where for v in fits)})"
            raise PatchError(f"{label}: {what} of {name} fits{'' if tree is None else f' {tree.path}'}"
                             f" ({probe.describe(conds) if probe else 'no tree'})",
                             hint="add a variant for this tree to the series")
        chosen.append(fits[0].patch)
    return chosen


@dataclass(frozen=True)
class Series:
    """The patches of one branch (chosen for one tree) plus all modules, with a hash identifying
    their content."""

    branch: str
    series_text: str
    patches: tuple[Patch, ...]
    modules: tuple[Module, ...]

    @classmethod
    def select(cls, root: Path, version: Version | VersionSpec | Tree | str, tree: Tree | None = None) -> Series:
        """The series for the branch of `version` (`patches/22/` for any 22.x, `patches/master/`
        for a master checkout), with the variants that fit `tree` (a Tree as `version` is both)."""
        if isinstance(version, Tree):
            tree, version = version, version.version
        branch = version.branch if isinstance(version, Version | VersionSpec) else str(version)
        if not (root / "patches" / branch).is_dir():
            branches = ", ".join(available_branches(root)) if (root / "patches").is_dir() else "none"
            raise PatchError(f"no patches for Asterisk {version}: patches/{branch}/ does not exist "
                             f"(available branches: {branches or 'none'})")
        return cls.load(root, branch, tree)

    @classmethod
    def load(cls, root: Path, branch: str, tree: Tree | None = None) -> Series:
        """Read `patches/<branch>/series`, choose its patches for `tree`, and read `modules/*`."""
        pdir = root / "patches" / branch
        series_file = pdir / "series"
        label = f"patches/{branch}/series"
        if not series_file.is_file():
            log.warning("%s is missing: no patches for this branch", label)
            text = ""
        else:
            text = series_file.read_text()
        lines = _parse_series(root, branch, text)
        patches = _choose(lines, tree, label)
        listed = {ln.patch.path.resolve() for ln in lines}
        for extra in sorted(pdir.glob("*.patch")):
            if extra.resolve() not in listed:
                log.warning("patches/%s/%s is not listed in %s: ignored", branch, extra.name, label)
        modules = [Module(f"modules/{p.name}", module_dest(p.name), p.read_bytes())
                   for pattern in MODULE_PATTERNS for p in sorted((root / "modules").glob(pattern))]
        return cls(branch, text, tuple(patches), tuple(modules))

    @cached_property
    def hash(self) -> str:
        """sha256 over the series file, patch and module names and contents."""
        h = hashlib.sha256(b"buildtools-series-1\0")
        for part in (self.series_text.encode(), *(x for p in self.patches for x in (p.name.encode(), p.data)),
                     *(x for m in self.modules for x in (m.dest.encode(), m.data))):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()

    @property
    def module_names(self) -> list[str]:
        """Names of the C modules (`res_foo`), as menuselect knows them."""
        return [m.name for m in self.modules if m.dest.endswith(".c")]

    def summary(self) -> str:
        """`N patches, M modules`."""
        return _counts(len(self.patches), len(self.modules))


def _counts(patches: int, modules: int) -> str:
    return f"{patches} patch{'es' if patches != 1 else ''}, {modules} module{'s' if modules != 1 else ''}"


# --- what was applied -------------------------------------------------------------------------

@dataclass(frozen=True)
class Stamp:
    """`<tree>/.buildtools/applied.json`: the applied series, with copies of its patches."""

    version: str
    branch: str
    series_hash: str
    patches: tuple[str, ...]
    modules: dict[str, str]  # dest -> sha256

    @classmethod
    def load(cls, tree: Tree) -> Stamp | None:
        """The tree's stamp, or None."""
        path = tree.stamp_dir / STAMP_FILE
        if not path.is_file():
            return None
        try:
            d = json.loads(path.read_text())
            return cls(d["version"], d["branch"], d["series_hash"], tuple(d["patches"]), dict(d["modules"]))
        except (ValueError, KeyError, TypeError) as e:
            raise PatchError(f"{path}: unreadable ({e}); remove it if the tree is pristine") from None

    def stored_patches(self, tree: Tree) -> list[Patch]:
        """The copies of the applied patches kept in `.buildtools/patches/`."""
        pdir = tree.stamp_dir / "patches"
        missing = [n for n in self.patches if not (pdir / n).is_file()]
        if missing:
            raise PatchError(f"{pdir / missing[0]}: missing copy of an applied patch; cannot reverse it")
        return [Patch.load(pdir / n, f"{tree.path}/.buildtools/patches/{n}") for n in self.patches]

    @staticmethod
    def write(tree: Tree, series: Series) -> None:
        """Record `series` as applied to `tree` (replacing any previous record)."""
        pdir = tree.stamp_dir / "patches"
        if pdir.exists():
            shutil.rmtree(pdir)
        pdir.mkdir(parents=True)
        for p in series.patches:
            (pdir / p.name).write_bytes(p.data)
        data = {"version": str(tree.version), "branch": series.branch, "series_hash": series.hash,
                "patches": [p.name for p in series.patches],
                "modules": {m.dest: sha256_bytes(m.data) for m in series.modules},
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        atomic_write(tree.stamp_dir / STAMP_FILE, json.dumps(data, indent=2) + "\n")


# --- staging ----------------------------------------------------------------------------------

class _Staging:
    """Copies of the tree files a change touches, changed in a temp dir before the tree is written."""

    def __init__(self, tree: Tree, files: Iterable[str], tmp: Path, log_path: Path) -> None:
        self.tree, self.dir, self.log_path = tree, tmp, log_path
        self.files = set(files)
        tmp.mkdir(parents=True)
        for rel in self.files:
            if (tree.path / rel).is_file():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(tree.path / rel, tmp / rel)

    def read(self, rel: str) -> bytes | None:
        p = self.dir / rel
        return p.read_bytes() if p.is_file() else None

    def write(self, rel: str, data: bytes) -> None:
        p = self.dir / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def remove(self, rel: str) -> None:
        (self.dir / rel).unlink(missing_ok=True)

    def patch(self, patch: Patch, reverse: bool = False) -> None:
        """`git apply [-R]` the patch here; PatchError naming patch, file and hunk on failure."""
        cmd = ["git", "apply", "--whitespace=nowarn", *(["-R"] if reverse else []), str(patch.path)]
        res = run(cmd, self.dir, self.log_path, "apply", check=False, capture=True,
                  env={"GIT_CEILING_DIRECTORIES": str(self.dir.parent)})
        if res.rc != 0:
            raise _patch_error(patch, res.output, reverse, self.log_path)

    def commit(self) -> list[str]:
        """Write changed files into the tree (unchanged ones are not touched); return them."""
        changed = []
        for rel in sorted(self.files):
            staged, target = self.dir / rel, self.tree.path / rel
            if staged.is_file():
                data, mode = staged.read_bytes(), staged.stat().st_mode & 0o7777
                if target.is_file() and target.stat().st_mode & 0o7777 == mode and target.read_bytes() == data:
                    continue
                atomic_write(target, data, mode)
            elif target.exists():
                target.unlink()
            else:
                continue
            changed.append(rel)
        return changed


def _patch_error(patch: Patch, output: str, reverse: bool, log_path: Path) -> PatchError:
    verb = "reverse-apply" if reverse else "apply"
    if m := re.search(r"^error: patch failed: (.+):(\d+)$", output, re.MULTILINE):
        file, line = m.group(1), int(m.group(2))
        hunk = patch.hunk_at(file, line, reverse)
        where = f"hunk #{hunk} ({file} line {line})" if hunk else f"{file} line {line}"
        return PatchError(f"{patch.label}: {where} does not {verb}", log=log_path)
    if m := re.search(r"^error: (.+): (No such file or directory|does not exist in index)$", output, re.MULTILINE):
        return PatchError(f"{patch.label}: {m.group(1)} does not exist in the tree", log=log_path)
    if m := re.search(r"^error: (.+): already exists in working directory$", output, re.MULTILINE):
        return PatchError(f"{patch.label}: creates {m.group(1)}, which already exists in the tree", log=log_path)
    first = next((ln for ln in output.splitlines() if ln.startswith(("error:", "fatal:"))), output.strip())
    return PatchError(f"{patch.label}: does not {verb}: {first.split(': ', 1)[-1]}", log=log_path)


def _unapply(stage: _Staging, stamp: Stamp, patches: Sequence[Patch], force: bool) -> None:
    """Reverse a recorded series in `stage`: remove its modules, reverse its patches."""
    for dest, digest in stamp.modules.items():
        cur = stage.read(dest)
        if cur is not None and sha256_bytes(cur) != digest and not force:
            raise PatchError(f"{stage.tree.path / dest}: changed since buildtools added it",
                             hint="use --force to discard the changes")
        stage.remove(dest)
    for p in reversed(patches):
        stage.patch(p, reverse=True)


def _add_modules(stage: _Staging, modules: Sequence[Module], force: bool) -> None:
    for m in modules:
        cur = stage.read(m.dest)
        if cur is not None and cur != m.data and not force:
            raise PatchError(f"{m.label}: {stage.tree.path / m.dest} already exists with different content",
                             hint="use --force to overwrite it")
        stage.write(m.dest, m.data)


def _series_in_tree(tree: Tree, series: Series, files: set[str], tmp: Path, log_path: Path) -> bool:
    """Whether the whole series is already in the tree (without a stamp): all patches reverse-apply."""
    if not series.patches and not series.modules:
        return False
    stage = _Staging(tree, files, tmp, log_path)
    if any(stage.read(m.dest) != m.data for m in series.modules):
        return False
    try:
        for p in reversed(series.patches):
            stage.patch(p, reverse=True)
    except PatchError:
        return False
    return True


# --- apply / reverse --------------------------------------------------------------------------

@dataclass(frozen=True)
class ApplyResult:
    """What apply/reverse did or would do: `message` is printed by the command."""

    action: str  # applied, already-applied, would-apply, reversed, would-reverse, not-applied
    message: str
    changed: tuple[str, ...] = ()


def apply_series(tree: Tree, series: Series, log_path: Path, *, check: bool = False,
                 force: bool = False) -> ApplyResult:
    """Apply `series` to `tree` atomically; a different series applied before is reversed first.

    Nothing is written when any patch fails (PatchError naming patch, file and hunk), with
    `check`, or when the same series is already applied.
    """
    stamp = Stamp.load(tree)
    counts = series.summary()
    if stamp and stamp.series_hash == series.hash:
        return ApplyResult("already-applied", f"already applied ({counts})")
    old = stamp.stored_patches(tree) if stamp else []
    files = {f for p in (*old, *series.patches) for f in p.files}
    files |= {m.dest for m in series.modules} | set(stamp.modules if stamp else ())
    with tempfile.TemporaryDirectory(prefix="buildtools-apply-") as tmp:
        if stamp is None and _series_in_tree(tree, series, files, Path(tmp) / "check", log_path):
            if not check:
                Stamp.write(tree, series)
            return ApplyResult("already-applied", f"already applied ({counts}; found in the tree without a stamp)")
        stage = _Staging(tree, files, Path(tmp) / "stage", log_path)
        if stamp:
            log.info("reversing the previously applied series (%s)", _counts(len(old), len(stamp.modules)))
            _unapply(stage, stamp, old, force)
        for p in series.patches:
            stage.patch(p)
        _add_modules(stage, series.modules, force)
        verb = "would apply" if check else "applied"
        if not check:
            changed = stage.commit()
            Stamp.write(tree, series)
    for p in series.patches:
        log.info("%s %s", verb, p.label)
    for m in series.modules:
        log.info("%s %s -> %s", verb, m.label, m.dest)
    if check:
        return ApplyResult("would-apply", f"would apply {counts} to {tree.path}")
    return ApplyResult("applied", f"applied {counts} to {tree.path}", tuple(changed))


def reverse_series(tree: Tree, log_path: Path, *, check: bool = False, force: bool = False) -> ApplyResult:
    """Undo what `apply_series` recorded in `tree` (modules removed, patches reversed, stamp removed)."""
    stamp = Stamp.load(tree)
    if stamp is None:
        return ApplyResult("not-applied", f"nothing to reverse: {tree.path} has no {tree.stamp_dir.name}/{STAMP_FILE}")
    old = stamp.stored_patches(tree)
    counts = _counts(len(old), len(stamp.modules))
    files = {f for p in old for f in p.files} | set(stamp.modules)
    with tempfile.TemporaryDirectory(prefix="buildtools-apply-") as tmp:
        stage = _Staging(tree, files, Path(tmp) / "stage", log_path)
        _unapply(stage, stamp, old, force)
        if check:
            return ApplyResult("would-reverse", f"would reverse {counts} in {tree.path}")
        changed = stage.commit()
    shutil.rmtree(tree.stamp_dir)
    for p in reversed(old):
        log.info("reversed %s", p.name)
    for dest in stamp.modules:
        log.info("removed %s", dest)
    return ApplyResult("reversed", f"reversed {counts} in {tree.path}", tuple(changed))


def applied_series_hash(tree: Tree) -> str | None:
    """The hash of the series applied to `tree`, if any."""
    stamp = Stamp.load(tree)
    return stamp.series_hash if stamp else None
