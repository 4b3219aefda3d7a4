"""Moved to :mod:`buildtools.testing`; these names stay importable from here."""

from buildtools.testing.ami import AmiClient  # noqa: F401
from buildtools.testing.asterisk import BASE_MODULES, AsteriskSandbox, make_root, remove_root  # noqa: F401
from buildtools.testing.ports import free_port  # noqa: F401
from buildtools.testing.sipp import Sipp, SippResult  # noqa: F401
