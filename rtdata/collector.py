"""The collector: one background thread with its own asyncio loop, fed by the official clients.

:class:`Collector` is the thread boundary. Its thread runs a
:class:`rtdata.supervisor.Supervisor`, which feeds a :class:`rtdata.recorder.Recorder`; every
other thread reads the recorder (directly, or through the collector's read-only shortcuts).
Other threads steer the supervisor only by requests (:meth:`Collector.stop`,
:meth:`Collector.reconnect`), handed to its loop with ``call_soon_threadsafe``.

The modules depend on each other in one direction: collector → supervisor → reads → recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd

from rtdata.buffer import EventBuffer
from rtdata.lifecycle import ConnectionState, Transition
from rtdata.metrics import Metrics, MetricsSnapshot
from rtdata.recorder import ALERT_CHECK_INTERVAL_S, CollectorStatus, Recorder
from rtdata.resync import Gap
from rtdata.settings import Settings
from rtdata.supervisor import Supervisor
from rtdata.tables import LiveTables
from rtdata.trace import TracedFrame

if TYPE_CHECKING:  # imported when used: pyarrow and duckdb are slow to import
    from rtdata.history import HistoryWriter

__all__ = ["ALERT_CHECK_INTERVAL_S", "Collector", "CollectorStatus", "ConnectionState"]

log = logging.getLogger(__name__)


class Collector:
    """Subscribes to a project's channels on its own thread and fills a :class:`Recorder`.

    ``start()`` returns immediately (or, with ``wait=True``, once SUBSCRIBED); ``stop()`` is
    idempotent and joins the thread. A collector runs once: after ``stop()`` its recorder is
    STOPPED for good. Every public method is safe to call from any thread.

    Args:
        settings: Where to connect and what to follow. Must name a project (``settings.url``);
            the embedded default is resolved by :mod:`rtdata.embedded`. With no channel in
            its config, the collector follows every table the project's REST schema shows
            with a primary key (:mod:`rtdata.introspect`), and :attr:`settings` then name
            them.
        buffer: The event buffer to fill (see :class:`Recorder`).
        history: Also write every event to disk with this writer, which ``start()`` starts
            and ``stop()`` closes (see :class:`Recorder`).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        buffer: EventBuffer | None = None,
        history: HistoryWriter | None = None,
    ) -> None:
        self.recorder = Recorder(settings, buffer=buffer, history=history)
        """What this collector knows; pages, notebooks and tests read it."""
        # Owned by the collector thread while it runs; _loop is read by request senders.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._supervisor: Supervisor | None = None
        self._stop_requested = threading.Event()  # a stop() that may beat the supervisor

    # ------------------------------------------------------------ the recorder, read-only

    @property
    def uid(self) -> int:
        """The recorder's unique id in this process."""
        return self.recorder.uid

    @property
    def settings(self) -> Settings:
        """The settings followed."""
        return self.recorder.settings

    @property
    def buffer(self) -> EventBuffer:
        """The recorder's event buffer."""
        return self.recorder.buffer

    @property
    def tables(self) -> LiveTables:
        """The recorder's live tables."""
        return self.recorder.tables

    @property
    def metrics(self) -> Metrics:
        """The recorder's metrics."""
        return self.recorder.metrics

    @property
    def history(self) -> HistoryWriter | None:
        """The recorder's history writer, or ``None``."""
        return self.recorder.history

    @property
    def state(self) -> ConnectionState:
        """The current connection state."""
        return self.recorder.state

    @property
    def status(self) -> CollectorStatus:
        """The current :class:`CollectorStatus`."""
        return self.recorder.status

    @property
    def transitions(self) -> list[Transition]:
        """Every state transition so far (the last 1,000), oldest first."""
        return self.recorder.transitions

    @property
    def gaps(self) -> list[Gap]:
        """Every repaired gap (the last 1,000), oldest first."""
        return self.recorder.gaps

    def table(self, name: str) -> pd.DataFrame:
        """Return the current rows of table ``name`` as a DataFrame the caller owns."""
        return self.recorder.table(name)

    def metrics_snapshot(self) -> MetricsSnapshot:
        """Return the current health metrics (rates, latency percentiles, probe RTT, ...)."""
        return self.recorder.metrics_snapshot()

    def frames(self) -> list[TracedFrame]:
        """Return the last raw frames of this collector's socket, secrets redacted."""
        return self.recorder.frames()

    def wait_for(self, state: ConnectionState, timeout_s: float) -> bool:
        """Block until the collector is in ``state`` or ``timeout_s`` passes; return success."""
        return self.recorder.wait_for(state, timeout_s)

    # ------------------------------------------------------------ lifecycle (any thread)

    def start(self, *, wait: bool = False) -> Collector:
        """Start the collector thread; with ``wait=True`` return once SUBSCRIBED.

        Raises:
            ValueError: The settings name no project URL.
            TimeoutError: ``wait=True`` and not subscribed within ``settings.connect_timeout_s``.
        """
        settings = self.recorder.settings
        if settings.url is None or settings.key is None:
            raise ValueError("Collector needs settings with a project url and key")
        if self._thread is None:
            if self.recorder.history is not None:
                self.recorder.history.start()
            self.recorder.trace.install()
            self._thread = threading.Thread(target=self._run, name="rtdata-collector", daemon=True)
            self._thread.start()
        if wait and not self.wait_for(ConnectionState.SUBSCRIBED, settings.connect_timeout_s):
            status = self.status
            raise TimeoutError(
                f"collector not subscribed after {settings.connect_timeout_s} s "
                f"(state {status.state}: {status.reason})"
            )
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Request a stop, then join the thread and close the history; safe to call again."""
        thread = self._thread
        if thread is None:
            return
        self._stop_requested.set()  # seen by _main if the supervisor does not exist yet
        self._request(Supervisor.request_stop)
        thread.join(timeout_s)
        if self.recorder.history is not None:
            self.recorder.history.close()  # after the join: the loop records until it ends
        if thread.is_alive():
            log.error("collector thread did not stop within %.1f s", timeout_s)
            return
        self._thread = None
        self.recorder.trace.uninstall()

    def reconnect(self) -> None:
        """Request a fresh connection now (the dashboard's Reconnect button); also leaves
        FAILED. Does nothing before the supervisor runs or after it stopped."""
        self._request(Supervisor.request_reconnect)

    def _request(self, request: Callable[[Supervisor], None]) -> None:
        loop, supervisor = self._loop, self._supervisor
        if loop is None or supervisor is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            loop.call_soon_threadsafe(request, supervisor)

    # ------------------------------------------------------------ the thread

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the thread must never die silently
            log.exception("collector thread failed")
            with contextlib.suppress(Exception):
                self.recorder.transition(ConnectionState.FAILED, f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            self.recorder.transition(ConnectionState.STOPPED, "stopped")

    async def _main(self) -> None:
        supervisor = Supervisor(self.recorder)
        self._loop = asyncio.get_running_loop()
        self._supervisor = supervisor
        if self._stop_requested.is_set():  # stop() ran before the supervisor existed
            supervisor.request_stop()
        self.recorder.transition(ConnectionState.CONNECTING, "connecting")
        await supervisor.run()
