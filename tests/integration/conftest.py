"""Fixtures shared by the integration tests. Each test module defines an `ast` fixture (its
sandboxed Asterisk); these build on it."""

from __future__ import annotations

from pathlib import Path

import pytest
from integration import scenarios


@pytest.fixture
def ami(ast):
    """A logged-in AMI client of the module's Asterisk."""
    client = ast.ami()
    yield client
    client.close()


@pytest.fixture
def no_new_warnings(ast):
    """Fails the test if Asterisk logged a WARNING or ERROR while it ran."""
    before = len(ast.warnings())
    yield
    assert ast.warnings()[before:] == []


@pytest.fixture
def scenario(tmp_path: Path):
    """Render a SIPp scenario template: ``scenario(template, name, headers, **fields)``."""
    def make(template: str, name: str, headers=(), **fields) -> Path:
        return scenarios.render(template, tmp_path / f"{name}.xml", headers, **fields)
    return make
