"""Asterisk release numbers (`22.10.1`, `22.11.0-rc2`, a master checkout `GIT-master-…`) and
version requests (`22`, `master` or exact)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from buildtools.errors import ConfigError

_VERSION_RE = re.compile(r"^(\d+)\.(\d+)(?:\.(\d+))?(?:[-~](alpha|beta|rc)(\d+))?$")
_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}
_FINAL = (3, 0)
_MASTER_RE = re.compile(r"^GIT-master-(\S+)$")
MASTER = "master"
MASTER_MAJOR = 10**6  # a master checkout sorts above every release


@functools.total_ordering
@dataclass(frozen=True, eq=True)
class Version:
    """An Asterisk release; pre-releases sort below their release: 22.10.1 < 22.11.0-rc2 < 22.11.0.

    A master checkout (what `build_tools/make_version` prints there: `GIT-master-<describe>`)
    has `git` set to that text, branch `master`, and sorts above every release.
    """

    major: int
    minor: int
    patch: int = 0
    pre: tuple[str, int] | None = None
    git: str | None = None

    @classmethod
    def master(cls, describe: str) -> Version:
        """A master checkout at `describe` (a commit or `git describe` output)."""
        return cls(MASTER_MAJOR, 0, 0, None, f"GIT-master-{describe}")

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `22.10.1`, `22.11.0-rc2`, Debian's `22.11.0~rc2` or `GIT-master-…`; ValueError otherwise."""
        if m := _MASTER_RE.match(text.strip()):
            return cls.master(m.group(1))
        m = _VERSION_RE.match(text.strip())
        if not m:
            raise ValueError(f"not an Asterisk version: {text!r}")
        major, minor, patch, tag, num = m.groups()
        return cls(int(major), int(minor), int(patch or 0), (tag, int(num)) if tag else None)

    @property
    def key(self) -> tuple[int, int, int, int, int]:
        """Sort key."""
        rank = (_PRE_RANK[self.pre[0]], self.pre[1]) if self.pre else _FINAL
        return (self.major, self.minor, self.patch, *rank)

    @property
    def is_master(self) -> bool:
        """True for a master checkout."""
        return self.git is not None

    @property
    def branch(self) -> str:
        """`22` for any 22.x, `master` for a master checkout: selects `patches/<branch>/`."""
        return MASTER if self.is_master else str(self.major)

    @property
    def is_prerelease(self) -> bool:
        """True for alpha, beta and rc versions."""
        return self.pre is not None

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key

    def __str__(self) -> str:
        if self.git:
            return self.git
        base = f"{self.major}.{self.minor}.{self.patch}"
        return f"{base}-{self.pre[0]}{self.pre[1]}" if self.pre else base


def debian_upstream(debver: str) -> Version:
    """The Asterisk version of a Debian version: `1:22.11.0-rc2+dfsg+~cs6.17-1` → 22.11.0-rc2."""
    m = re.match(r"^(?:\d+:)?(\d+\.\d+(?:\.\d+)?(?:[-~](?:alpha|beta|rc)\d+)?)(?=[+~-]|$)", debver)
    if not m:
        raise ValueError(f"not a Debian Asterisk version: {debver!r}")
    return Version.parse(m.group(1))


@dataclass(frozen=True)
class VersionSpec:
    """What the user asked for: a branch (`22`: newest release of it) or an exact release."""

    major: int
    exact: Version | None = None

    @classmethod
    def parse(cls, text: str, option: str = "--version") -> VersionSpec:
        """Parse `22` or `22.10.1`; ConfigError naming `option` otherwise."""
        text = text.strip()
        if text.isdigit():
            return cls(int(text))
        if text == MASTER:
            return cls(MASTER_MAJOR)
        try:
            v = Version.parse(text)
        except ValueError:
            raise ConfigError(f"{option}: {text!r} is not an Asterisk branch or release "
                              "(expected e.g. 22, 22.10.1 or master)") from None
        return cls(v.major, v)

    @property
    def branch(self) -> str:
        """The branch (major number, or `master`) as a string."""
        return MASTER if self.major == MASTER_MAJOR else str(self.major)

    def matches(self, version: Version) -> bool:
        """Whether `version` satisfies this request."""
        return version == self.exact if self.exact else version.major == self.major

    def __str__(self) -> str:
        return str(self.exact) if self.exact else self.branch
