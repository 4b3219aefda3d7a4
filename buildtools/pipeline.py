"""The pipeline: fetch → apply → build, each step incremental; ensure_built() for the tests."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from buildtools import sources
from buildtools.build import build, has_headers, read_build_stamp
from buildtools.paths import Workdir, project_root
from buildtools.series import Series, apply_series
from buildtools.tree import Tree
from buildtools.util import file_lock, step
from buildtools.version import Version, VersionSpec

log = logging.getLogger("buildtools")


def pipeline(workdir: Workdir, *, source: str = "debian", version: str | None = None, prefix: Path | None = None,
             profile: str = "minimal", jobs: int | None = None, dest: Path | None = None, url: str | None = None,
             sha256: str | None = None, suites: Sequence[str] | None = None,
             tree: Path | None = None) -> tuple[Tree, Path]:
    """fetch → apply → build, each step incremental; return the tree and the install prefix.

    Holds `<workdir>/build.lock`: concurrent pipelines in one workdir run one after the other.
    """
    root = project_root()
    with file_lock(workdir.root / "build.lock"):
        t = sources.fetch(workdir, source, version, dest, url=url, sha256=sha256, suites=suites, tree=tree)
        with step("apply", workdir.log("apply")) as log_path:
            series = Series.select(root, t)
            log.info(apply_series(t, series, log_path).message)
        prefix = build(t, workdir, prefix or workdir.prefix, profile=profile, jobs=jobs, modules=series.module_names)
    return t, prefix


def ensure_built(workdir: Workdir | str | os.PathLike[str] | None = None, version: str = "22", *,
                 prefix: Path | None = None, profile: str = "minimal", source: str = "debian") -> Path:
    """An install prefix with Asterisk `version` built with the current patches and modules.

    Returns at once when `<prefix>/.buildtools-build.json` records the current series hash (and a
    matching version and profile); otherwise runs the pipeline, incrementally in the existing
    tree (`workdir` as for --workdir: None means $BUILDTOOLS_WORKDIR or ~/.cache/buildtools).
    `prefix` defaults to `<workdir>/prefix`. Concurrent callers build one after the other.
    """
    ws = workdir if isinstance(workdir, Workdir) else Workdir.resolve(workdir)
    spec = VersionSpec.parse(version)
    prefix = Path(prefix).absolute() if prefix else ws.prefix
    stamp = read_build_stamp(prefix)
    tree = Tree(stamp["tree"]) if stamp and stamp.get("tree") else None
    if (stamp and tree is not None and tree.is_asterisk_tree() and stamp.get("profile") == profile
            and _version_matches(spec, stamp.get("version")) and has_headers(prefix)
            and stamp.get("series_hash") == Series.select(project_root(), tree).hash):
        log.debug("%s is up to date (Asterisk %s, series %s)", prefix, stamp["version"], stamp["series_hash"][:12])
        return prefix
    return pipeline(ws, source=source, version=version, prefix=prefix, profile=profile)[1]


def _version_matches(spec: VersionSpec, text: str | None) -> bool:
    try:
        return text is not None and spec.matches(Version.parse(text))
    except ValueError:
        return False
