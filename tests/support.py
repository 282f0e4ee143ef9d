"""Test helpers: one scalable timeout and condition-based waiting."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

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
