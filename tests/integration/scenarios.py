"""Moved to buildtools.testing.scenarios (shared with the benchmarks); kept for `from integration import scenarios`."""

from buildtools.testing import scenarios as _moved

globals().update({k: v for k, v in vars(_moved).items() if not k.startswith("__")})
