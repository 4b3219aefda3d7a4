"""Integration tests: each test module defines an ``ast`` fixture (its sandboxed Asterisk, e.g.
with ``asterisk_proc``); ``ami``, ``scenario`` and the warning check of buildtools.testing.plugin
build on it."""
