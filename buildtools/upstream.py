"""Upstream commits from our series: one squashed commit per feature, built in a temporary git worktree.

`upstream/features.toml` says which patches of `patches/<branch>/series` (by name without their
number) and which `modules/` files make each feature, and where its commit message is. The
commits are made with gitpython in a temporary worktree of an Asterisk git repository at the
branch (`--repo`), so that `git format-patch` can write them and `buildtools lint` can check
them. New alembic migrations are chained onto the tree's head as they are committed.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import parseaddr
from pathlib import Path

from buildtools.errors import ConfigError, PatchError
from buildtools.series import Patch, Series, module_dest

log = logging.getLogger("buildtools")

ENV_REPO = "BUILDTOOLS_ASTERISK_REPO"
FEATURES_FILE = "upstream/features.toml"
BRANCHES = ("master", "23", "22", "20")
DEFAULT_AUTHOR = ("asterisk-behind-proxy", "dev@project")


@dataclass(frozen=True)
class Feature:
    """One upstream PR: the patches and modules squashed into its commit, and what its PR.md says."""

    id: str
    title: str
    message: str
    patches: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    depends: tuple[str, ...] = ()
    testsuite: tuple[str, ...] = ()
    cherry_pick_to: tuple[str, ...] = ()
    issues: tuple[str, ...] = ()
    supersedes: str = ""


def load_features(root: Path) -> list[Feature]:
    """Read upstream/features.toml; ConfigError naming the file and entry on a bad one."""
    path = root / FEATURES_FILE
    try:
        data = tomllib.loads(path.read_text())
    except OSError as e:
        raise ConfigError(f"{FEATURES_FILE}: cannot read it ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{FEATURES_FILE}: {e}") from None
    known = set(Feature.__dataclass_fields__)
    features: list[Feature] = []
    for i, entry in enumerate(data.get("feature", []), 1):
        where = f"{FEATURES_FILE}: feature #{i}"
        if unknown := set(entry) - known:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        for key in ("id", "title", "message"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                raise ConfigError(f"{where}: {key!r} must be a non-empty string")
        kw = {k: tuple(v) if isinstance(v, list) else v for k, v in entry.items()}
        feat = Feature(**kw)
        if not feat.patches and not feat.modules:
            raise ConfigError(f"{FEATURES_FILE}: feature {feat.id}: neither patches nor modules")
        if feat.message != "patch" and not (root / "upstream" / feat.message).is_file():
            raise ConfigError(f"{FEATURES_FILE}: feature {feat.id}: upstream/{feat.message} not found")
        if feat.message == "patch" and len(feat.patches) + len(feat.modules) != 1:
            raise ConfigError(f"{FEATURES_FILE}: feature {feat.id}: message = \"patch\" needs exactly one patch")
        for dep in feat.depends:
            if dep not in {f.id for f in features}:
                raise ConfigError(f"{FEATURES_FILE}: feature {feat.id}: depends on {dep!r}, which is not "
                                  f"a feature listed before it")
        features.append(feat)
    if not features:
        raise ConfigError(f"{FEATURES_FILE}: no [[feature]] entries")
    return features


def patch_slug(name: str) -> str:
    """`0003-func_x-Do-y.patch` → `func_x-Do-y`."""
    return re.sub(r"^\d{4}-", "", name).removesuffix(".patch")


def patch_message(data: bytes) -> str:
    """The commit message of a `git format-patch` file (subject without `[PATCH n/m]`, then the body)."""
    text = data.decode("utf-8", errors="replace")
    head, sep, body = text.partition("\n\n")
    m = re.search(r"^Subject: (.*(?:\n[ \t].*)*)", head, re.MULTILINE)
    if not sep or not m:
        raise PatchError("not a git format-patch file (no Subject header)")
    subject = re.sub(r"\s*\n[ \t]+", " ", m.group(1))
    subject = re.sub(r"^\[PATCH[^]]*\]\s*", "", subject)
    body = body.split("\n---\n", 1)[0].strip("\n")
    return f"{subject}\n\n{body}\n" if body else f"{subject}\n"


def patch_author(data: bytes) -> tuple[str, str, str] | None:
    """(name, email, date) from the From/Date headers of a format-patch file."""
    head = data.decode("utf-8", errors="replace").split("\n\n", 1)[0]
    frm = re.search(r"^From: (.+)$", head, re.MULTILINE)
    date = re.search(r"^Date: (.+)$", head, re.MULTILINE)
    if not frm or not date:
        return None
    name, email = parseaddr(frm.group(1))
    return name, email, date.group(1).strip()


@dataclass
class Plan:
    """What to commit for one feature: its series patches (in series order) and modules."""

    feature: Feature
    patches: list[Patch] = field(default_factory=list)
    modules: list[tuple[str, bytes]] = field(default_factory=list)  # (tree path, content)

    def message(self, root: Path) -> str:
        if self.feature.message == "patch":
            return patch_message(self.patches[0].data)
        return (root / "upstream" / self.feature.message).read_text()


def plan(root: Path, series: Series, features: Sequence[Feature]) -> list[Plan]:
    """Assign every patch of the series and every module to its feature (errors if one is left over)."""
    by_slug = {patch_slug(p.name): p for p in series.patches}
    plans, claimed = [], set()
    for feat in features:
        pl = Plan(feat)
        for slug in feat.patches:
            if slug not in by_slug:
                raise PatchError(f"patches/{series.branch}/series: no patch named *-{slug}.patch, which feature "
                                 f"{feat.id} of {FEATURES_FILE} needs")
            claimed.add(slug)
        pl.patches = [p for p in series.patches if patch_slug(p.name) in feat.patches]
        for name in feat.modules:
            src = root / "modules" / name
            if not src.is_file():
                raise ConfigError(f"{FEATURES_FILE}: feature {feat.id}: modules/{name} not found")
            pl.modules.append((module_dest(name), src.read_bytes()))
        plans.append(pl)
    if left := [p.label for p in series.patches if patch_slug(p.name) not in claimed]:
        raise PatchError(f"{left[0]}: belongs to no feature of {FEATURES_FILE}")
    return plans


def open_repo(path: str | os.PathLike[str] | None):
    """The Asterisk git repository (`--repo`, else $BUILDTOOLS_ASTERISK_REPO), as a git.Repo."""
    import git

    raw = path or os.environ.get(ENV_REPO)
    if not raw:
        raise ConfigError(f"no Asterisk git repository: pass --repo DIR or set {ENV_REPO}")
    try:
        return git.Repo(Path(raw).expanduser())
    except (git.NoSuchPathError, git.InvalidGitRepositoryError):
        raise ConfigError(f"--repo {raw}: not a git repository") from None


def resolve_base(repo, branch: str, base: str | None = None) -> str:
    """The commit of `--base REF`, else of the branch (`origin/<branch>`, `<branch>`)."""
    import git

    candidates = [base] if base else [f"origin/{branch}", f"refs/heads/{branch}", branch]
    for ref in candidates:
        try:
            return repo.git.rev_parse("--verify", "--quiet", f"{ref}^{{commit}}")
        except git.GitCommandError:
            continue
    what = f"--base {base}" if base else f"branch {branch} (tried {', '.join(candidates)})"
    raise ConfigError(f"--repo {repo.git_dir}: no {what}")


@contextlib.contextmanager
def base_repo(tree: Path | None, repo: str | None, branch: str, base: str | None) -> Iterator[tuple[object, str]]:
    """(repository, base commit) of the export/lint options: an unpatched ``tree`` put into a
    temporary repository, or the git repository ``repo`` at ``base`` (default: the branch's head)."""
    if tree:
        with repo_from_tree(tree) as temp:
            yield temp, resolve_base(temp, branch, "base")
    else:
        opened = open_repo(repo)
        yield opened, resolve_base(opened, branch, base)


@contextlib.contextmanager
def temp_worktree(repo, commit: str) -> Iterator:
    """A detached worktree of `repo` at `commit` in a temporary directory, removed afterwards."""
    import git

    tmp = Path(tempfile.mkdtemp(prefix="buildtools-upstream-"))
    path = tmp / "asterisk"
    repo.git.worktree("add", "--detach", "--quiet", str(path), commit)
    try:
        yield git.Repo(path)
    finally:
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("remove", "--force", str(path))
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(git.GitCommandError):
            repo.git.worktree("prune")


# --- alembic ---------------------------------------------------------------------------------

_REV_RE = re.compile(r"^revision\s*=\s*['\"]([0-9a-f]+)['\"]", re.MULTILINE)
_DOWN_RE = re.compile(r"^down_revision\s*=\s*(.+)$", re.MULTILINE)


def alembic_graph(versions: Path) -> dict[str, tuple[str, tuple[str, ...]]]:
    """revision → (file name, down revisions) of an alembic versions directory."""
    graph = {}
    for f in sorted(versions.glob("*.py")):
        text = f.read_text(errors="replace")
        rev, down = _REV_RE.search(text), _DOWN_RE.search(text)
        if rev:
            downs = tuple(re.findall(r"['\"]([0-9a-f]+)['\"]", down.group(1))) if down else ()
            graph[rev.group(1)] = (f.name, downs)
    return graph


def alembic_heads(graph: dict[str, tuple[str, tuple[str, ...]]]) -> list[str]:
    """Revisions no other revision names as its down_revision."""
    downs = {d for _, ds in graph.values() for d in ds}
    return sorted(r for r in graph if r not in downs)


def _rechain_migrations(wt: Path, added: Sequence[str]) -> list[str]:
    """Point each added migration whose down_revision is not in the tree at the tree's head."""
    notes = []
    for rel in added:
        m = re.match(r"contrib/ast-db-manage/([^/]+)/versions/[^/]+\.py$", rel)
        if not m:
            continue
        versions = wt / "contrib/ast-db-manage" / m.group(1) / "versions"
        graph = alembic_graph(versions)
        path = wt / rel
        text = path.read_text()
        rev = _REV_RE.search(text)
        down = _DOWN_RE.search(text)
        if not rev or not down:
            continue
        downs = re.findall(r"['\"]([0-9a-f]+)['\"]", down.group(1))
        others = {r: v for r, v in graph.items() if r != rev.group(1)}
        heads = alembic_heads(others)
        if downs and set(downs) <= set(heads):
            continue  # already on the tree's head
        if len(heads) != 1:
            raise PatchError(f"{rel}: cannot chain it: the tree has {len(heads)} alembic heads")
        path.write_text(text[:down.start(1)] + f"'{heads[0]}'" + text[down.end(1):])
        notes.append(f"{rel}: down_revision {', '.join(downs) or 'None'} -> {heads[0]} (the branch's head)")
    return notes


# --- commits ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Commit:
    feature: Feature
    sha: str
    subject: str


def _apply(wt, patch: Patch, feature: Feature) -> None:
    import git

    try:
        wt.git.apply("--index", "--whitespace=nowarn", str(patch.path))
        return
    except git.GitCommandError:
        pass
    try:  # the tree differs from the patch's base: let git merge it with the blobs it names
        wt.git.apply("--index", "--3way", "--whitespace=nowarn", str(patch.path))
    except git.GitCommandError as e:
        first = next((ln for ln in str(e.stderr).splitlines() if "error:" in ln), str(e.stderr).strip())
        raise PatchError(f"{patch.label} (feature {feature.id}): does not apply to the branch: "
                         f"{first.strip().strip(chr(39))}") from None
    if wt.git.diff("--name-only", "--diff-filter=U"):
        raise PatchError(f"{patch.label} (feature {feature.id}): conflicts with the branch")


def commit_features(root: Path, wt, plans: Sequence[Plan], author: tuple[str, str] | None = None) -> list[Commit]:
    """Apply each plan in the worktree `wt` (a git.Repo) and commit it with its feature's message."""
    commits = []
    wt_path = Path(wt.working_tree_dir)
    for pl in plans:
        before = set(wt.git.ls_files().splitlines())
        for p in pl.patches:
            _apply(wt, p, pl.feature)
        for dest, data in pl.modules:
            (wt_path / dest).parent.mkdir(parents=True, exist_ok=True)
            (wt_path / dest).write_bytes(data)
            wt.git.add(dest)
        added = [f for f in wt.git.diff("--cached", "--name-only", "--diff-filter=A").splitlines() if f not in before]
        for note in _rechain_migrations(wt_path, added):
            log.info("%s: %s", pl.feature.id, note)
            wt.git.add(note.split(":", 1)[0])
        if not wt.git.diff("--cached", "--name-only"):
            raise PatchError(f"feature {pl.feature.id}: changes nothing in the branch (already upstream?)")
        who = patch_author(pl.patches[0].data) if pl.patches else None
        dates = [a[2] for p in pl.patches if (a := patch_author(p.data))]
        name, email = author or (who[:2] if who else DEFAULT_AUTHOR)
        date = dates[-1] if dates else _newest_date(plans)
        env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
               "GIT_COMMITTER_EMAIL": email, "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
        msg = pl.message(root)
        with tempfile.NamedTemporaryFile("w", suffix=".msg", delete=False) as f:
            f.write(msg)
        try:
            wt.git.commit("--quiet", "--no-verify", "--cleanup=verbatim", "-F", f.name, env=env)
        finally:
            os.unlink(f.name)
        commits.append(Commit(pl.feature, wt.head.commit.hexsha, msg.splitlines()[0]))
    return commits


def _newest_date(plans: Sequence[Plan]) -> str:
    dates = [a[2] for pl in plans for p in pl.patches if (a := patch_author(p.data))]
    return dates[-1] if dates else "Thu, 1 Jan 2026 00:00:00 +0000"


def load_plans(root: Path, branch: str, tree: Path | None = None) -> list[Plan]:
    """The features of upstream/features.toml planned against patches/<branch>/series (whose
    patch variants, where the series has `if` conditions, are chosen for the base tree `tree`)."""
    import inspect

    from buildtools.tree import Tree

    if branch not in BRANCHES:
        raise ConfigError(f"--branch {branch}: choose one of {', '.join(BRANCHES)}")
    if not (root / "patches" / branch / "series").is_file():
        raise PatchError(f"patches/{branch}/series does not exist: no series for branch {branch} yet")
    if tree is not None and "tree" in inspect.signature(Series.load).parameters:
        series = Series.load(root, branch, tree=Tree(tree))
    else:
        series = Series.load(root, branch)
    return plan(root, series, load_features(root))


@contextlib.contextmanager
def repo_from_tree(tree: Path) -> Iterator:
    """A throwaway git repository whose one commit is the source tree `tree` (e.g. Debian's 22.10.1)."""
    import git

    from buildtools.tree import Tree

    t = Tree.open(tree)
    tmp = Path(tempfile.mkdtemp(prefix="buildtools-base-"))
    try:
        repo = git.Repo.init(tmp / "repo", bare=True)
        env = {"GIT_WORK_TREE": str(t.path), "GIT_AUTHOR_NAME": "base", "GIT_AUTHOR_EMAIL": "base@localhost",
               "GIT_COMMITTER_NAME": "base", "GIT_COMMITTER_EMAIL": "base@localhost",
               "GIT_INDEX_FILE": str(tmp / "index"), "GIT_AUTHOR_DATE": "2000-01-01T00:00:00+0000",
               "GIT_COMMITTER_DATE": "2000-01-01T00:00:00+0000"}  # the same tree gives the same base commit
        repo.git.add("-A", "-f", ".", env=env)
        repo.git.commit("--quiet", "-m", f"Asterisk {t.version}", env=env)
        repo.git.branch("base", "HEAD")
        log.info("base: %s (Asterisk %s) as a temporary git repository", t.path, t.version)
        yield repo
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# --- export ----------------------------------------------------------------------------------

def format_patches(wt, rev_range: str, out: Path, start: int = 1) -> list[Path]:
    """`git format-patch` the commits of `rev_range` into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    names = wt.git.format_patch("--no-signature", f"--start-number={start}",
                                "-o", str(out.absolute()), rev_range).split()
    return [Path(n) for n in names]


def pr_markdown(feature: Feature, message: str, branch: str, base: str, patch_files: Sequence[str],
                deps: Sequence[tuple[Feature, str]], standalone: str | None) -> str:
    """PR.md: the PR's title and description (= the commit's), then what to do around it."""
    subject, _, body = message.partition("\n")
    lines = [f"# {subject}", "", body.strip("\n"), "", "---", "",
             "Everything above this line is the PR title and description (upstream wants them equal to",
             "the commit subject and body). The rest is for whoever opens the PR.", "",
             f"- Feature: {feature.title} (`{feature.id}`).",
             f"- Exported against `{branch}` at {base[:10]}. Upstream PRs target `master`: open the PR "
             f"from `buildtools export --branch master`; the exports for 23, 22 and 20 show what each "
             f"cherry-pick must produce."]
    if standalone:
        lines.append(f"- Patch (applies alone to `{branch}`, `git am`): `{standalone}`.")
    lines.append(f"- In the stack of all features (`git am {' '.join(patch_files)}` after the ones "
                 f"before it): {', '.join(f'`{p}`' for p in patch_files[-1:])}.")
    if deps:
        lines.append("- Depends on: " + "; ".join(f"the `{d.id}` PR ({s!r})" for d, s in deps)
                     + ". Open it once that one is merged (or as a second commit with the PR comment "
                       "`multiple-commits: interim`).")
    if feature.supersedes:
        lines.append(f"- Supersedes {feature.supersedes}: say so on that PR.")
    if feature.issues:
        lines.append(f"- Issues: {', '.join(feature.issues)} (the commit message says `Resolves:` for the one "
                     f"it closes; mention the others in the description thread).")
    if feature.testsuite:
        lines += ["", "## Paired testsuite PR", "",
                  "Against asterisk/testsuite, from this project's `tests/testsuite/` "
                  "(`buildtools testsuite` copies and runs them):", ""]
        lines += [f"- `{t}`" for t in feature.testsuite]
        lines += ["", "After opening both PRs, comment `testsuite-test-pr: <testsuite PR number>` on this PR and",
                  "`asterisk-test-pr: <this PR number>` on the testsuite PR."]
    lines += ["", "## PR comments", "",
              "Post each as its own comment (upstream's cherry-pick workflow reads them from comments, "
              "not from the commit):", "", "```"]
    lines += [f"cherry-pick-to: {b}" for b in feature.cherry_pick_to] or ["cherry-pick-to: none"]
    lines += ["```", "", "Before opening: `buildtools lint --branch master` (and `--compile`) must be clean.", ""]
    return "\n".join(lines)
