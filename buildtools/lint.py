"""Checks upstream's reviewers and CI make, run on commits in an Asterisk git worktree.

Per commit: the commit-message format (Commit-Messages.md), trailing whitespace and space
indentation on the C lines it adds. On the resulting tree: XML documentation valid against the
tree's doc/appdocsxml.dtd (xmllint), a `<since>` on every documented item that is new against
the base, one alembic head per database. Optionally (`--compile`): a build with
`./configure --enable-dev-mode`, which adds -Werror, so any warning fails it.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildtools.errors import ConfigError
from buildtools.upstream import alembic_graph, alembic_heads

log = logging.getLogger("buildtools")

SUBJECT_MAX = 72
BODY_MAX = 72
TRAILERS = ("Resolves", "Fixes", "UserNote", "UpgradeNote", "DeveloperNote")
PR_COMMENTS = ("cherry-pick-to", "testsuite-test-pr", "asterisk-test-pr", "multiple-commits")
_SUBJECT_RE = re.compile(r"^[\w.+/-]+(?:, ?[\w.+/-]+)*: \S")
_TRAILER_RE = re.compile(r"^([A-Za-z][\w-]*): ")
DOC_TAGS = ("application", "function", "manager", "managerEvent", "agi", "info")


@dataclass(frozen=True)
class Finding:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


# --- commit messages -------------------------------------------------------------------------

def lint_message(msg: str, files: Sequence[str], added_text: str, label: str) -> list[Finding]:
    """Upstream's commit-message rules for one commit (`files` it changes, `added_text` its + lines)."""
    out: list[Finding] = []

    def bad(text: str) -> None:
        out.append(Finding(label, text))

    lines = msg.rstrip("\n").split("\n")
    subject = lines[0]
    if not _SUBJECT_RE.match(subject):
        bad(f"subject {subject!r} is not '<subsystem>: <summary>' (e.g. 'res_pjsip_session: Fix ...')")
    if len(subject) > SUBJECT_MAX:
        bad(f"subject is {len(subject)} characters (at most {SUBJECT_MAX})")
    if subject.endswith("."):
        bad("subject ends with a period")
    if len(lines) < 3 or lines[1] != "" or not "".join(lines[2:]).strip():
        bad("no body: the subject must be followed by a blank line and a description")
        return out
    paragraphs: list[tuple[int, list[str]]] = []
    start = 2
    for i in range(2, len(lines) + 1):
        if i == len(lines) or lines[i] == "":
            if i > start:
                paragraphs.append((start + 1, lines[start:i]))
            start = i + 1
    in_trailers = False
    trailers: dict[str, list[str]] = {}
    for lineno, para in paragraphs:
        m = _TRAILER_RE.match(para[0])
        key = m.group(1) if m else None
        if key and key.lower() in PR_COMMENTS:
            bad(f"line {lineno}: '{key}:' belongs in a PR comment, not in the commit message")
            continue
        if key in TRAILERS:
            in_trailers = True
            trailers.setdefault(key, []).append(" ".join(para)[len(key) + 2:])
            if key in ("Resolves", "Fixes") and not re.fullmatch(r"#\d+|https://github\.com/asterisk/\S+/issues/\d+",
                                                                 " ".join(para)[len(key) + 2:].strip()):
                bad(f"line {lineno}: '{key}:' takes one issue, '#<number>'")
        elif in_trailers:
            bad(f"line {lineno}: text after the trailers (Resolves/UserNote/UpgradeNote/DeveloperNote "
                f"must come last, each after a blank line)")
        elif key and re.fullmatch(r"[A-Z][A-Za-z]*Note", key):
            bad(f"line {lineno}: unknown trailer '{key}:' (known: {', '.join(TRAILERS)})")
        for j, line in enumerate(para):
            if len(line) > BODY_MAX and " " in line.strip():
                bad(f"line {lineno + j}: {len(line)} characters (wrap the body at {BODY_MAX})")
    if any(f.startswith(("doc/CHANGES-staging", "doc/UPGRADE-staging")) for f in files):
        bad("adds doc/CHANGES-staging or doc/UPGRADE-staging files: use UserNote/UpgradeNote trailers")
    user_visible = re.search(r"<(configOption|function|application|manager|managerEvent|agi)\s+name=", added_text)
    new_module = any(re.fullmatch(r"(apps|channels|funcs|res|pbx|bridges|codecs|formats)/[a-z]+_\w+\.c", f)
                     for f in files if f in _added_files(files, added_text))
    if (user_visible or new_module) and "UserNote" not in trailers:
        what = f"<{user_visible.group(1)}>" if user_visible else "a new module"
        bad(f"adds {what} (user-visible) but has no UserNote: trailer")
    if any(f.startswith("contrib/ast-db-manage/") for f in files):
        notes = " ".join(trailers.get("UpgradeNote", []))
        if not re.search(r"alembic|database|schema", notes, re.IGNORECASE):
            bad("changes contrib/ast-db-manage (alembic) but no UpgradeNote: trailer mentions the alembic/"
                "database/schema change")
    return out


def _added_files(files: Sequence[str], added_text: str) -> set[str]:
    return set(re.findall(r"^\+\+\+ b/(\S+)\n", added_text, re.MULTILINE)) & set(files)


# --- C whitespace ----------------------------------------------------------------------------

def _doc_block_lines(text: str) -> set[int]:
    """1-based lines inside `/*** DOCUMENTATION` / `/*** MODULEINFO` blocks (XML, not C)."""
    inside, lines = False, set()
    for n, line in enumerate(text.split("\n"), 1):
        if not inside and re.match(r"\s*/\*\*\*\s*(DOCUMENTATION|MODULEINFO)", line):
            inside = True
        elif inside and "***/" in line:
            inside = False
        elif inside:
            lines.add(n)
    return lines


def lint_c_whitespace(path: str, text: str, added: Iterable[int]) -> list[Finding]:
    """Trailing white space and space indentation on the `added` lines of C file `path`."""
    out = []
    all_lines = text.split("\n")
    docs = _doc_block_lines(text)
    for n in sorted(added):
        if n > len(all_lines):
            continue
        line = all_lines[n - 1]
        if line != line.rstrip(" \t"):
            out.append(Finding(f"{path}:{n}", "trailing white space"))
        lead = re.match(r"[ \t]*", line).group(0)
        if n in docs or not line.strip() or " " not in lead:
            continue
        if re.fullmatch(r"\t* ", lead) and line[len(lead):].startswith("*"):
            continue  # comment continuation: tabs, one space, '*'
        out.append(Finding(f"{path}:{n}", "indented with spaces (Asterisk indents with tabs)"))
    return out


def added_lines(diff: str) -> dict[str, set[int]]:
    """New-file line numbers of the added lines per file, from a `git diff -U0`."""
    res: dict[str, set[int]] = {}
    cur = None
    for line in diff.split("\n"):
        if line.startswith("+++ "):
            cur = line[6:] if line.startswith("+++ b/") else None
            if cur:
                res.setdefault(cur, set())
        elif (m := re.match(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", line)) and cur:
            start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
            res[cur].update(range(start, start + count))
    return res


# --- XML documentation -----------------------------------------------------------------------

def _xmllint() -> str:
    exe = shutil.which("xmllint")
    if not exe:
        raise ConfigError("xmllint not found: install Debian's libxml2-utils (.ci/install-deps does)")
    return exe


def _extract_c_docs(text: str) -> list[tuple[int, str]]:
    """(source line, text) of the lines inside the DOCUMENTATION blocks of a C file."""
    out, inside = [], False
    for n, line in enumerate(text.split("\n"), 1):
        if not inside and re.match(r"\s*/\*\*\*\s*DOCUMENTATION", line):
            inside = True
        elif inside and "***/" in line:
            inside = False
        elif inside:
            out.append((n, line))
    return out


def validate_file_docs(tree: Path, rel: str) -> list[Finding]:
    """Validate the XML documentation of one C or XML file against the tree's doc/appdocsxml.dtd."""
    dtd = tree / "doc" / "appdocsxml.dtd"
    text = (tree / rel).read_text(errors="replace")
    with tempfile.TemporaryDirectory(prefix="buildtools-lint-") as tmp:
        if rel.endswith(".xml"):
            if "appdocsxml.dtd" not in text:
                return []
            target, mapping = tree / rel, None
        else:
            lines = _extract_c_docs(text)
            if not lines:
                return []
            header = ['<?xml version="1.0" encoding="UTF-8"?>', '<!DOCTYPE docs SYSTEM "appdocsxml.dtd">',
                      '<docs xmlns:xi="http://www.w3.org/2001/XInclude">']
            body = [t for _, t in lines]
            target = Path(tmp) / "doc.xml"
            target.write_text("\n".join([*header, *body, "</docs>"]) + "\n")
            mapping = {i + len(header) + 1: n for i, (n, _) in enumerate(lines)}
        res = subprocess.run([_xmllint(), "--noout", "--nonet", "--dtdvalid", str(dtd), "--path", str(tree / "doc"),
                              str(target)], capture_output=True, text=True, cwd=tree)
    if res.returncode == 0:
        return []
    out = []
    for line in res.stderr.splitlines():
        m = re.match(r"^(.*?):(\d+): (?:element \w+: )?(?:validity|parser) error : (.*)$", line)
        if not m:
            continue
        n = int(m.group(2))
        src = mapping.get(n, n) if mapping is not None else n
        out.append(Finding(f"{rel}:{src}", f"XML documentation not valid against doc/appdocsxml.dtd: {m.group(3)}"))
    if not out:
        first = next((ln for ln in res.stderr.splitlines() if ln.strip()), "xmllint failed")
        out.append(Finding(rel, f"XML documentation not valid against doc/appdocsxml.dtd: {first}"))
    return out


def build_docs(tree: Path, out: Path) -> None:
    """Upstream's doc/core-en_US.xml for `tree` (build_tools/make_xml_documentation), into `out`."""
    makeopts = tree / "makeopts"
    made = not makeopts.exists()
    if made:
        makeopts.write_text("")  # the script only checks that configure ran
    try:
        res = subprocess.run(["build_tools/make_xml_documentation", "--command=create_xml", "--source-tree=.",
                              f"--output-file={out}"], cwd=tree, capture_output=True, text=True)
    finally:
        if made:
            makeopts.unlink()
    if res.returncode != 0:
        raise ConfigError(f"{tree}: build_tools/make_xml_documentation failed: {res.stdout[-300:]}{res.stderr[-300:]}")


def validate_docs(tree: Path, docs: Path) -> list[Finding]:
    """The whole documentation against the DTD, as upstream's `make validate-docs`."""
    res = subprocess.run([_xmllint(), "--noout", "--nonet", "--dtdvalid", str(tree / "doc/appdocsxml.dtd"),
                          "--path", str(tree / "doc"), str(docs)], capture_output=True, text=True, cwd=tree)
    if res.returncode == 0:
        return []
    first = next((ln for ln in res.stderr.splitlines() if "error" in ln), res.stderr.strip()[:200])
    return [Finding("doc/core-en_US.xml", f"not valid against doc/appdocsxml.dtd: {first}")]


def doc_items(tree: Path, docs: Path) -> dict[tuple[str, ...], bool]:
    """Documented items → whether they have a <since>: (tag, name) and (configOption, file, object, name)."""
    res = subprocess.run([_xmllint(), "--nonet", "--xinclude", "--path", str(tree / "doc"), str(docs)],
                         capture_output=True, cwd=tree)
    root = ET.fromstring(res.stdout)
    items: dict[tuple[str, ...], bool] = {}
    for tag in DOC_TAGS:
        for el in root.iter(tag):
            if tag == "managerEvent":
                since = any(i.find("since") is not None for i in el.iter("managerEventInstance"))
            else:
                since = el.find("since") is not None
            items[(tag, el.get("name", ""))] = since
    for cfile in root.iter("configFile"):
        for obj in cfile.iter("configObject"):
            for opt in obj.iter("configOption"):
                items[("configOption", cfile.get("name", ""), obj.get("name", ""), opt.get("name", ""))] = (
                    opt.find("since") is not None)
    return items


def since_findings(base: dict, head: dict, tree: Path, files: Sequence[str], branch: str,
                   docs: Path) -> list[Finding]:
    """New documented items without <since>, or whose <since> names no release of `branch`."""
    out = []
    root = None
    for key, has in head.items():
        if key in base:
            continue
        name = key[-1]
        what = f"{key[0]} {name}" if key[0] != "configOption" else f"configOption {name} of {key[1]} [{key[2]}]"
        where = _find_source(tree, files, key[0], name)
        if not has:
            out.append(Finding(where, f"new {what} has no <since>"))
            continue
        if branch.isdigit():
            if root is None:
                root = ET.fromstring(subprocess.run([_xmllint(), "--nonet", "--xinclude", "--path",
                                                     str(tree / "doc"), str(docs)], capture_output=True,
                                                    cwd=tree).stdout)
            versions = _since_versions(root, key)
            if versions and not any(v.startswith(f"{branch}.") for v in versions):
                out.append(Finding(where, f"new {what}: <since> names no {branch}.x release "
                                          f"({', '.join(versions)})"))
    return out


def _since_versions(root: ET.Element, key: tuple[str, ...]) -> list[str]:
    if key[0] == "configOption":
        for cfile in root.iter("configFile"):
            if cfile.get("name") == key[1]:
                for obj in cfile.iter("configObject"):
                    if obj.get("name") == key[2]:
                        for opt in obj.iter("configOption"):
                            if opt.get("name") == key[3]:
                                return [v.text or "" for v in opt.iterfind("since/version")]
        return []
    for el in root.iter(key[0]):
        if el.get("name") == key[1]:
            return [v.text or "" for v in el.iter("version")]
    return []


def _find_source(tree: Path, files: Sequence[str], tag: str, name: str) -> str:
    pat = re.compile(rf'<{tag}\s+name="{re.escape(name)}"')
    for rel in files:
        p = tree / rel
        if p.is_file() and rel.endswith((".c", ".xml")):
            for n, line in enumerate(p.read_text(errors="replace").split("\n"), 1):
                if pat.search(line):
                    return f"{rel}:{n}"
    return "doc/core-en_US.xml"


# --- alembic ---------------------------------------------------------------------------------

def lint_alembic(tree: Path) -> list[Finding]:
    """One head per alembic versions directory, and every down_revision present."""
    out = []
    for versions in sorted((tree / "contrib/ast-db-manage").glob("*/versions")):
        rel = versions.relative_to(tree)
        graph = alembic_graph(versions)
        for rev, (fname, downs) in graph.items():
            for d in downs:
                if d not in graph:
                    out.append(Finding(f"{rel}/{fname}", f"down_revision {d} is not a revision of {rel}"))
        heads = alembic_heads(graph)
        if len(heads) > 1:
            out.append(Finding(str(rel), f"{len(heads)} alembic heads (upstream CI allows one): "
                                         + ", ".join(f"{h} ({graph[h][0]})" for h in heads)))
    return out


# --- driver ----------------------------------------------------------------------------------

def lint_commits(wt, base: str, branch: str) -> list[Finding]:
    """Every check on the commits base..HEAD of the worktree `wt` (a git.Repo); docs compared with base."""
    tree = Path(wt.working_tree_dir)
    findings: list[Finding] = []
    shas = wt.git.rev_list("--reverse", f"{base}..HEAD").split()
    if not shas:
        return [Finding("lint", "no commits to check")]
    all_files: set[str] = set()
    for i, sha in enumerate(shas, 1):
        commit = wt.commit(sha)
        label = f"commit {i} ({commit.summary[:50]})"
        files = wt.git.diff_tree("--no-commit-id", "--name-only", "-r", sha).split()
        all_files.update(files)
        patch_text = wt.git.show("--format=", "-U0", sha)
        findings += lint_message(commit.message, files, patch_text, label)
        for path, lines in added_lines(patch_text).items():
            if path.endswith((".c", ".h")):
                text = wt.git.show(f"{sha}:{path}")
                findings += lint_c_whitespace(path, text, lines)
    for rel in sorted(all_files):
        if (tree / rel).is_file() and rel.endswith((".c", ".xml")):
            findings += validate_file_docs(tree, rel)
    with tempfile.TemporaryDirectory(prefix="buildtools-lint-") as tmp:
        head_docs = Path(tmp) / "head.xml"
        build_docs(tree, head_docs)
        findings += validate_docs(tree, head_docs)
        head_items = doc_items(tree, head_docs)
        wt.git.checkout("--quiet", "--detach", base)
        try:
            base_docs = Path(tmp) / "base.xml"
            build_docs(tree, base_docs)
            base_items = doc_items(tree, base_docs)
        finally:
            wt.git.checkout("--quiet", "--detach", shas[-1])
        findings += since_findings(base_items, head_items, tree, sorted(all_files), branch, head_docs)
    findings += lint_alembic(tree)
    return findings
