"""Where things live: the work directory (caches, trees, logs) and the project checkout."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from buildtools.errors import ConfigError

ENV_WORKDIR = "BUILDTOOLS_WORKDIR"
ENV_PROJECT_ROOT = "BUILDTOOLS_PROJECT_ROOT"
DEFAULT_WORKDIR = Path("~/.cache/buildtools")


@dataclass(frozen=True)
class Workdir:
    """The work directory: `downloads/` cache, `src/` trees, `externals/`, `prefix/`, `logs/`, `apt/`."""

    root: Path

    @classmethod
    def resolve(cls, arg: str | os.PathLike[str] | None = None) -> Workdir:
        """`--workdir` if given, else $BUILDTOOLS_WORKDIR, else ~/.cache/buildtools."""
        raw = arg if arg is not None else os.environ.get(ENV_WORKDIR) or DEFAULT_WORKDIR
        return cls(Path(raw).expanduser().absolute())

    @property
    def downloads(self) -> Path:
        """Cache of downloaded archives and git clones."""
        return self.root / "downloads"

    @property
    def src(self) -> Path:
        """Default parent of the source trees (`asterisk-<version>/`)."""
        return self.root / "src"

    @property
    def externals(self) -> Path:
        """Externals cache passed to configure (holds the pjproject tarball)."""
        return self.root / "externals"

    @property
    def prefix(self) -> Path:
        """Default install prefix."""
        return self.root / "prefix"

    @property
    def logs(self) -> Path:
        """One `<step>.log` per step."""
        return self.root / "logs"

    @property
    def apt(self) -> Path:
        """Private apt configuration, lists and cache."""
        return self.root / "apt"

    def log(self, step: str) -> Path:
        """The log file of `step` (its directory is created)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        return self.logs / f"{step}.log"


def project_root() -> Path:
    """The checkout holding `patches/` and `modules/`: $BUILDTOOLS_PROJECT_ROOT, else next to the package."""
    env = os.environ.get(ENV_PROJECT_ROOT)
    if env:
        root = Path(env).expanduser().absolute()
        if not (root / "patches").is_dir():
            raise ConfigError(f"{ENV_PROJECT_ROOT}={env}: no patches/ directory there")
        return root
    root = Path(__file__).resolve().parents[1]
    if not (root / "patches").is_dir():
        raise ConfigError(f"patches/ not found next to the buildtools package ({root})",
                          hint=f"install from a checkout with `pip install -e <checkout>` or set {ENV_PROJECT_ROOT}")
    return root
