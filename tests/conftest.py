"""The fixtures come from the harness's pytest plugin, buildtools.testing.plugin: a built
Asterisk (``--asterisk-prefix``, ``BUILDTOOLS_PREFIX``, else built on demand), sandboxes of it,
SIPp runs, AMI clients, the autouse warning check. Integration tests never skip for want of a build."""

pytest_plugins = ["buildtools.testing.plugin"]
