"""Moved to buildtools.testing.rawuas (shared with the benchmarks); kept for `from integration import rawuas`."""

from buildtools.testing import rawuas as _moved

globals().update({k: v for k, v in vars(_moved).items() if not k.startswith("__")})
