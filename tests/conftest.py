"""Shared fixtures: a real local server on port 0 and condition-based waiting."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from rtdata.server import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A local server with the hospital schema on a free port."""
    with LocalServer() as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves one of rtdata's threads running."""
    before = {t.ident for t in threading.enumerate()}
    yield
    leaked = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.name.startswith("rtdata-") and t.is_alive()
    ]
    assert not leaked, f"threads left running: {leaked}"
