"""The collector: one background thread with its own asyncio loop, fed by the official clients.

It connects with ``supabase.acreate_client``, subscribes one channel with a postgres_changes
binding per configured table, loads each table over REST once subscribed, and turns every
change into an :class:`rtdata.events.Event` in its :class:`rtdata.EventBuffer` and its
:class:`rtdata.tables.LiveTables`.

Client callbacks never raise: realtime-py's listen task dies silently on any exception from a
callback (field notes §2), so each callback catches, counts and logs once per kind.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import httpx
import pandas as pd
from realtime import RealtimeSubscribeStates
from realtime.types import PostgresChangesPayload, RealtimePostgresChangesListenEvent
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from rtdata.buffer import EventBuffer
from rtdata.events import Event, EventError, event_from_change, event_from_row
from rtdata.settings import Settings
from rtdata.tables import LiveTables

__all__ = ["Collector", "CollectorStatus", "ConnectionState"]

log = logging.getLogger(__name__)

_SNAPSHOT_PAGE_ROWS: Final = 1000  # Supabase's default PostgREST max-rows


class ConnectionState(enum.StrEnum):
    """Lifecycle of a collector's connection."""

    IDLE = "idle"
    CONNECTING = "connecting"
    SUBSCRIBED = "subscribed"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class CollectorStatus:
    """A consistent view of a collector's health at one moment.

    Attributes:
        state: Current connection state.
        since: When the collector entered ``state`` (UTC).
        reason: Why it entered ``state``.
        last_event_at: Receive time of the newest change, or ``None``.
        events_total: Changes received since start.
        errors_total: Payloads that could not be recorded plus callback errors.
    """

    state: ConnectionState
    since: datetime
    reason: str
    last_event_at: datetime | None
    events_total: int
    errors_total: int


class Collector:
    """Subscribes to a project's tables and keeps a live buffer and table state.

    ``start()`` returns immediately (or, with ``wait=True``, once subscribed); ``stop()`` is
    idempotent and joins the thread. All public methods are safe to call from any thread.

    Args:
        settings: Where to connect and which tables to follow. Must name a project
            (``settings.url``); the embedded default is resolved by :mod:`rtdata.embedded`.
        buffer: The event buffer to fill; a new one bounded by ``settings.buffer_max_rows``
            when omitted.
    """

    def __init__(self, settings: Settings, *, buffer: EventBuffer | None = None) -> None:
        self.settings = settings
        self.buffer = buffer if buffer is not None else EventBuffer(settings.buffer_max_rows)
        self.tables = LiveTables(settings.tables)
        self._lock = threading.Lock()  # guards the status fields below
        self._state = ConnectionState.IDLE
        self._since = datetime.now(UTC)
        self._reason = "created"
        self._events_total = 0
        self._errors_total = 0
        self._last_event_ns: int | None = None
        self._errors_logged: set[str] = set()
        self._changed = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._client: AsyncClient | None = None  # owned by the collector thread

    # ------------------------------------------------------------ public API

    @property
    def status(self) -> CollectorStatus:
        """The current :class:`CollectorStatus`."""
        with self._lock:
            last = self._last_event_ns
            return CollectorStatus(
                self._state,
                self._since,
                self._reason,
                None if last is None else datetime.fromtimestamp(last / 1e9, UTC),
                self._events_total,
                self._errors_total,
            )

    def table(self, name: str) -> pd.DataFrame:
        """Return the current rows of table ``name`` as a DataFrame the caller owns."""
        return self.tables.frame(name)

    def start(self, *, wait: bool = False) -> Collector:
        """Start the collector thread; with ``wait=True`` return once SUBSCRIBED.

        Raises:
            ValueError: The settings name no project URL.
            TimeoutError: ``wait=True`` and not subscribed within ``settings.connect_timeout_s``.
        """
        if self.settings.url is None or self.settings.key is None:
            raise ValueError("Collector needs settings with a project url and key")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rtdata-collector", daemon=True)
            self._thread.start()
        if wait and not self.wait_for(ConnectionState.SUBSCRIBED, self.settings.connect_timeout_s):
            status = self.status
            raise TimeoutError(
                f"collector not subscribed after {self.settings.connect_timeout_s} s "
                f"(state {status.state}: {status.reason})"
            )
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Unsubscribe, close the connection and join the thread; safe to call repeatedly."""
        thread, loop, stop_event = self._thread, self._loop, self._stop_event
        if thread is None:
            return
        if loop is not None and stop_event is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                loop.call_soon_threadsafe(stop_event.set)
        thread.join(timeout_s)
        if thread.is_alive():
            log.error("collector thread did not stop within %.1f s", timeout_s)
            return
        self._thread = None

    def wait_for(self, state: ConnectionState, timeout_s: float) -> bool:
        """Block until the collector is in ``state`` or ``timeout_s`` passes; return success."""
        with self._changed:
            return self._changed.wait_for(lambda: self._state == state, timeout_s)

    def ingest(self, event: Event) -> None:
        """Record one event: append it to the buffer and apply it to the live tables.

        This is the single path every change takes (client callbacks, snapshots); tests and
        replays may call it directly.
        """
        self.buffer.append(event)
        self.tables.apply(event)
        if event.kind == "postgres_changes" and event.source == "realtime":
            with self._lock:
                self._events_total += 1
                self._last_event_ns = event.received_at_ns

    # ------------------------------------------------------------ thread

    def _set_state(self, state: ConnectionState, reason: str) -> None:
        now = time.time_ns()
        with self._changed:
            if state == self._state and reason == self._reason:
                return
            self._state, self._reason = state, reason
            self._since = datetime.fromtimestamp(now / 1e9, UTC)
            self._changed.notify_all()
        log.info("collector: %s (%s)", state.value, reason)
        self.buffer.append(Event(now, None, "status", "", None, state.value, None, None, None))

    def _count_error(self, kind: str, detail: str) -> None:
        with self._lock:
            self._errors_total += 1
            first = kind not in self._errors_logged
            self._errors_logged.add(kind)
        if first:
            log.warning("collector: %s: %s (further ones are counted, not logged)", kind, detail)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as exc:  # the thread must never die silently
            self._set_state(ConnectionState.FAILED, f"{type(exc).__name__}: {exc}")
            log.exception("collector thread failed")
        else:
            self._set_state(ConnectionState.STOPPED, "stopped")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        assert self.settings.url is not None
        assert self.settings.key is not None
        self._set_state(ConnectionState.CONNECTING, "connecting")
        # We own the HTTP client: supabase-py then skips its deprecated timeout path, and we
        # can close it on stop.
        http = httpx.AsyncClient(timeout=self.settings.connect_timeout_s)
        options = AsyncClientOptions(httpx_client=http)
        client = await acreate_client(self.settings.url, self.settings.key, options=options)
        self._client = client
        # Connecting and subscribing run as a task so stop() can interrupt them mid-retry.
        connect = asyncio.create_task(self._subscribe(client))
        connect.add_done_callback(self._on_connect_done)
        try:
            await self._stop_event.wait()
        finally:
            connect.cancel()
            with contextlib.suppress(BaseException):
                await connect
            with contextlib.suppress(Exception):
                await client.remove_all_channels()
            with contextlib.suppress(Exception):
                await client.realtime.close()
            with contextlib.suppress(Exception):
                await http.aclose()
            self._client = None

    async def _subscribe(self, client: AsyncClient) -> None:
        channel = client.channel(self.settings.channel)
        for table, pk in self.settings.tables.items():
            channel.on_postgres_changes(
                RealtimePostgresChangesListenEvent.All,
                schema=self.settings.schema,
                table=table,
                callback=self._callback(pk),
            )
        await channel.subscribe(self._on_subscribe_state)

    def _on_connect_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self._set_state(
                ConnectionState.FAILED, f"cannot connect: {type(error).__name__}: {error}"
            )

    def _callback(self, primary_key: tuple[str, ...]) -> Callable[[PostgresChangesPayload], None]:
        channel = self.settings.channel

        def on_change(payload: PostgresChangesPayload) -> None:
            received_ns = time.time_ns()
            try:
                self.ingest(event_from_change(payload, channel, received_ns, primary_key))
            except EventError as exc:
                self._count_error("invalid change", str(exc))
            except Exception as exc:  # never raise into the client's listen task
                self._count_error("callback error", f"{type(exc).__name__}: {exc}")

        return on_change

    def _on_subscribe_state(self, state: RealtimeSubscribeStates, error: Exception | None) -> None:
        try:
            if state == RealtimeSubscribeStates.SUBSCRIBED:
                loop = self._loop
                assert loop is not None
                loop.create_task(self._after_subscribe())
            elif state == RealtimeSubscribeStates.CLOSED:
                self._set_state(ConnectionState.RECONNECTING, "channel closed")
            else:
                detail = f"{state.value}: {error}" if error else state.value
                self._set_state(ConnectionState.RECONNECTING, detail)
        except Exception as exc:  # never raise into the client
            self._count_error("callback error", f"{type(exc).__name__}: {exc}")

    async def _after_subscribe(self) -> None:
        # Subscribe first, then snapshot: a change racing the snapshot is applied either way
        # because a later event for the same key replaces the snapshot row.
        try:
            await self._snapshot()
        except Exception as exc:
            self._count_error("snapshot failed", f"{type(exc).__name__}: {exc}")
        self._set_state(ConnectionState.SUBSCRIBED, "subscribed")

    async def _snapshot(self) -> None:
        client = self._client
        if client is None:
            return
        for table, pk in self.settings.tables.items():
            rows: list[Mapping[str, Any]] = []
            start = 0
            while True:
                response = await (
                    client.table(table)
                    .select("*")
                    .range(start, start + _SNAPSHOT_PAGE_ROWS - 1)
                    .execute()
                )
                page = [row for row in response.data if isinstance(row, Mapping)]
                rows.extend(page)
                if len(page) < _SNAPSHOT_PAGE_ROWS:
                    break
                start += _SNAPSHOT_PAGE_ROWS
            now = time.time_ns()
            events = []
            for row in rows:
                try:
                    events.append(event_from_row(row, table, now, pk))
                except EventError as exc:
                    self._count_error("invalid snapshot row", str(exc))
            self.tables.load(table, (row for row in rows if _has_key(row, pk)))
            self.buffer.extend(events)


def _has_key(row: Mapping[str, Any], primary_key: tuple[str, ...]) -> bool:
    return all(row.get(column) is not None for column in primary_key)
