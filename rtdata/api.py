"""The analyst's entry point: ``rtdata.connect()`` returns a started collector in one call.

With a project configured (``SUPABASE_URL``/``SUPABASE_KEY`` in the environment or
``.streamlit/secrets.toml``) it follows that project; without one it starts the embedded
default (local server and simulator) in this process and stops it with the collector::

    with rtdata.connect() as collector:  # SUBSCRIBED on return
        threading.Event().wait(10)  # events arrive on the collector's own thread
        events = collector.buffer.snapshot()
"""

from __future__ import annotations

import contextlib
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Final

from rtdata.buffer import EventBuffer
from rtdata.collector import Collector, ConnectionState
from rtdata.settings import Settings

if TYPE_CHECKING:
    from rtdata.embedded import EmbeddedStack

__all__ = ["AttachedCollector", "connect"]

_LOOP_START_TIMEOUT_S: Final = 5.0  # how long a failed start waits for the loop thread to run


class AttachedCollector(Collector):
    """A :class:`rtdata.Collector` that owns the embedded stack it reads, if any.

    :meth:`stop` stops the collector first (so it records a clean STOPPED rather than a lost
    connection), then the stack. It is also a context manager that stops on exit.

    Args:
        settings: Where to connect and what to follow (must name a project).
        stack: The embedded default this collector is attached to; ``None`` for a real
            project.
        buffer: The event buffer to fill (see :class:`rtdata.Collector`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        stack: EmbeddedStack | None = None,
        buffer: EventBuffer | None = None,
    ) -> None:
        super().__init__(settings, buffer=buffer)
        self.stack = stack
        """The embedded server and simulator stopped with this collector, or ``None``."""

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the collector, then the embedded stack; safe to call repeatedly."""
        try:
            super().stop(timeout_s)
        finally:
            if self.stack is not None:
                self.stack.stop()

    def __enter__(self) -> AttachedCollector:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def connect(
    settings: Settings | None = None,
    *,
    rate_per_s: float = 20.0,
    seed: int = 0,
    scenario: str | None = None,
    wait: bool = True,
) -> AttachedCollector:
    """Start a collector on the configured project, or on the embedded default without one.

    Args:
        settings: Where to connect and what to follow; :meth:`rtdata.Settings.from_env` when
            ``None``. Settings without a ``url`` select the embedded default (their streams
            config is kept).
        rate_per_s: Simulated writes per second of the embedded default (ignored for a real
            project).
        seed: Simulator seed of the embedded default (ignored for a real project).
        scenario: Scenario pack the embedded default serves and simulates
            (:data:`rtdata.scenarios.SCENARIOS`); ``None`` for the default pack. Ignored for
            a real project.
        wait: Return only once SUBSCRIBED. In the embedded default the simulator then starts,
            so every simulated change arrives live; with ``wait=False`` it starts at once and
            changes made before the subscription arrive as ``snapshot`` rows instead.

    Returns:
        The started collector; its ``stop()`` (or leaving a ``with`` block) also stops the
        embedded stack.

    Raises:
        rtdata.SettingsError: The environment or secrets file is unusable.
        rtdata.scenarios.UnknownScenarioError: ``scenario`` names no pack.
        TimeoutError: ``wait=True`` and not subscribed within ``settings.connect_timeout_s``
            (everything started is stopped again).
    """
    settings = Settings.from_env() if settings is None else settings
    if not settings.embedded:
        collector = AttachedCollector(settings)
        _start(collector, wait)
        return collector
    # Imported here: the local server and the simulator are only needed without a project.
    from rtdata.embedded import EmbeddedStack
    from rtdata.scenarios import DEFAULT_SCENARIO

    pack = DEFAULT_SCENARIO if scenario is None else scenario
    stack = EmbeddedStack(rate_per_s=rate_per_s, seed=seed, scenario=pack).start()
    try:
        collector = AttachedCollector(stack.settings(settings), stack=stack)
    except BaseException:
        stack.stop()
        raise
    _start(collector, wait)
    try:
        stack.start_simulator()
    except BaseException:
        collector.stop()
        raise
    return collector


def _start(collector: AttachedCollector, wait: bool) -> None:
    try:
        collector.start(wait=wait)
    except ValueError:  # refused before any thread started
        raise
    except BaseException:
        # A stop request sent before the loop thread runs (state still IDLE) would be lost.
        deadline_s = time.monotonic() + _LOOP_START_TIMEOUT_S
        pause = threading.Event()
        while collector.state is ConnectionState.IDLE and time.monotonic() < deadline_s:
            pause.wait(0.01)
        with contextlib.suppress(Exception):  # keep the original error, not a cleanup one
            collector.stop()
        raise
