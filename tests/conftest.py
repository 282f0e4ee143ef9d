"""Shared fixtures: a real local server on port 0 and condition-based waiting."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from rtdata.server import LocalServer

TIMEOUT_SCALE = float(os.environ.get("RTDATA_TEST_TIMEOUT_SCALE", "1"))
"""Multiply every test timeout by this on slow machines."""


def timeout_s(base_s: float) -> float:
    """Scale a timeout by ``RTDATA_TEST_TIMEOUT_SCALE``."""
    return base_s * TIMEOUT_SCALE


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Wait for ``predicate`` to hold, polling a condition (never a fixed sleep as sync)."""
    deadline = time.monotonic() + timeout_s(timeout)
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s(timeout):.1f} s waiting for {what}")
        pause.wait(0.02)


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
