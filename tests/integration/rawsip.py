"""Moved to buildtools.testing.rawsip (shared with the benchmarks); kept for `from integration import rawsip`."""

from buildtools.testing import rawsip as _moved

globals().update({k: v for k, v in vars(_moved).items() if not k.startswith("__")})
