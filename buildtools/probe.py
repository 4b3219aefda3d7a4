"""Conditions in a `series` file, evaluated against a tree's content.

A series line may end in `if COND [COND ...]` (all must hold):

- `alembic-head=<rev>`: the head of the tree's config-database migrations
  (`contrib/ast-db-manage/config/versions/`) is `<rev>`;
- `has=<file>:<text>`: the tree's `<file>` contains `<text>` (no spaces);
- either prefixed with `!` to negate it.

The tree is judged as upstream left it: migrations that a patch of the series creates are not
counted, and a `has=` text must not be added by any patch of the series (checked when the series
is loaded), so an already patched tree selects the same variants as a pristine one.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from buildtools.errors import PatchError

MIGRATIONS = "contrib/ast-db-manage/config/versions"
KINDS = ("alembic-head", "has")


def _literal(node: ast.expr | None) -> object:
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def migration_revisions(path: Path) -> tuple[str | None, tuple[str, ...]]:
    """`revision` and the `down_revision`s (none, one or a merge tuple) of a migration script."""
    revision, down = None, ()
    try:
        tree = ast.parse(path.read_text(errors="replace"), str(path))
    except SyntaxError:
        return None, ()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _literal(node.value)
            if node.targets[0].id == "revision" and isinstance(value, str):
                revision = value
            elif node.targets[0].id == "down_revision":
                down = (value,) if isinstance(value, str) else tuple(v for v in value or () if isinstance(v, str))
    return revision, down


def alembic_heads(versions: Path, exclude: frozenset[str] = frozenset()) -> list[str]:
    """The heads of the migrations in `versions` (revisions no other one revises), sorted;
    `exclude`: file names to leave out."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in versions.glob("*.py"):
        if script.name in exclude:
            continue
        revision, down = migration_revisions(script)
        if revision:
            revisions.add(revision)
            parents.update(down)
    return sorted(revisions - parents)


@dataclass(frozen=True)
class Condition:
    """One `[!]kind=value` of a series line."""

    kind: str
    value: str
    negate: bool = False

    @classmethod
    def parse(cls, text: str, where: str) -> Condition:
        """Parse `alembic-head=REV`, `has=FILE:TEXT`, `!…`; PatchError naming `where` otherwise."""
        negate = text.startswith("!")
        kind, sep, value = text.removeprefix("!").partition("=")
        if not sep or kind not in KINDS or not value:
            raise PatchError(f"{where}: unknown condition {text!r} (expected "
                             f"{', '.join(k + '=…' for k in KINDS)}, optionally with a leading !)")
        if kind == "has":
            file, colon, needle = value.partition(":")
            if not colon or not file or not needle:
                raise PatchError(f"{where}: condition {text!r} must be has=<file>:<text>")
        return cls(kind, value, negate)

    @property
    def has_text(self) -> str | None:
        """The text of a `has=` condition."""
        return self.value.partition(":")[2] if self.kind == "has" else None

    def holds(self, probe: Probe) -> bool:
        """Whether the condition holds for the tree behind `probe`."""
        if self.kind == "alembic-head":
            result = probe.alembic_heads == [self.value]
        else:
            file, _, needle = self.value.partition(":")
            result = probe.contains(file, needle)
        return result != self.negate

    def __str__(self) -> str:
        return f"{'!' if self.negate else ''}{self.kind}={self.value}"


class Probe:
    """Reads what the conditions ask about one tree (cached)."""

    def __init__(self, path: Path, own_migrations: frozenset[str] = frozenset()) -> None:
        self.path = path
        self.own_migrations = own_migrations
        self._files: dict[str, str | None] = {}
        self._heads: list[str] | None = None

    @property
    def alembic_heads(self) -> list[str]:
        """Heads of the tree's config migrations, without the ones our patches create."""
        if self._heads is None:
            self._heads = alembic_heads(self.path / MIGRATIONS, self.own_migrations)
        return self._heads

    def contains(self, file: str, needle: str) -> bool:
        """Whether `<tree>/<file>` exists and contains `needle`."""
        if file not in self._files:
            try:
                self._files[file] = (self.path / file).read_text(errors="replace")
            except OSError:
                self._files[file] = None
        text = self._files[file]
        return text is not None and needle in text

    def describe(self, conditions: list[Condition]) -> str:
        """What the tree shows for `conditions`, for error messages."""
        facts = []
        for c in conditions:
            if c.kind == "alembic-head":
                facts.append(f"alembic heads {', '.join(self.alembic_heads) or 'none'}")
            else:
                file, _, needle = c.value.partition(":")
                facts.append(f"{file} {'contains' if self.contains(file, needle) else 'lacks'} {needle!r}")
        return "; ".join(dict.fromkeys(facts))


def added_lines(patch_text: str) -> list[str]:
    """The lines a patch adds (without the leading `+`)."""
    return [ln[1:] for ln in patch_text.splitlines() if ln.startswith("+") and not ln.startswith("+++")]


def created_migrations(patch_text: str) -> set[str]:
    """File names of the config migrations a patch creates."""
    return set(re.findall(rf"^\+\+\+ b/{re.escape(MIGRATIONS)}/([^/\s]+\.py)$", patch_text, re.MULTILINE))
