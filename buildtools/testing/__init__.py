"""The test harness: sandboxed Asterisk, SIPp, Kamailio, AMI, ports and logs, as a pytest plugin.

Load the plugin with ``pytest_plugins = ["buildtools.testing.plugin"]`` (tests/conftest.py does);
scripts such as benchmarks/hostile_peer.py use the classes directly.

- :mod:`~buildtools.testing.asterisk`: :class:`AsteriskSandbox`
- :mod:`~buildtools.testing.ami`: :class:`AmiClient`
- :mod:`~buildtools.testing.sipp`: :class:`Sipp`; :mod:`~buildtools.testing.kamailio`
- :mod:`~buildtools.testing.process`: :class:`ManagedProcess`, readiness checks
- :mod:`~buildtools.testing.ports`: the session's :class:`PortAllocator`
- :mod:`~buildtools.testing.logs`: :class:`LogFollower` (pexpect)
- :mod:`~buildtools.testing.scenarios`, :mod:`~buildtools.testing.rawsip`, :mod:`~buildtools.testing.rawuas`:
  SIP traffic SIPp cannot produce from a fixed scenario file
"""

from buildtools.testing.ami import AmiClient
from buildtools.testing.asterisk import BASE_MODULES, AsteriskSandbox
from buildtools.testing.logs import LogFollower
from buildtools.testing.ports import PORTS, PortAllocator, free_port
from buildtools.testing.process import ManagedProcess, tcp_listening, udp_bound, wait_until
from buildtools.testing.sipp import Sipp, SippResult

__all__ = ["AmiClient", "AsteriskSandbox", "BASE_MODULES", "LogFollower", "ManagedProcess", "PORTS",
           "PortAllocator", "Sipp", "SippResult", "free_port", "tcp_listening", "udp_bound", "wait_until"]
