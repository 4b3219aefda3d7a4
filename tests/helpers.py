"""Helpers for the integration tests (imported as `from helpers import ...`); they live in
buildtools.testing.helpers."""

from buildtools.testing.helpers import assert_sipp_ok, b64, configs_from  # noqa: F401
from buildtools.testing.sipp import SippResult  # noqa: F401
