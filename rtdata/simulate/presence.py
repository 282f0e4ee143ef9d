"""Thin I/O shell that signs a scenario's people (a :class:`Roster`) in and out over Supabase
Realtime presence, with the official realtime-py client.

A scenario pack provides the roster (pure: it decides who signs in, out or changes status, as
:class:`RosterChange` values); this shell carries the changes out. Each signed-in person gets
their own :class:`realtime.AsyncRealtimeClient` socket, joins the presence channel under their
key and tracks their meta, as the operations app in their browser would. Signing out closes
the socket; the server then sends the leave, exactly as for a closed tab. Failures are counted
and logged, never raised: like :class:`~rtdata.simulate.Simulator`, this is a background load
generator that keeps going until stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from realtime import AsyncRealtimeChannel, AsyncRealtimeClient, RealtimeSubscribeStates

from rtdata import link
from rtdata.trace import redact

__all__ = ["DEFAULT_PRESENCE_CHANNEL", "PresenceSimulator", "Roster", "RosterChange"]

logger = logging.getLogger(__name__)

DEFAULT_PRESENCE_CHANNEL: Final = "online"
"""Channel (without ``realtime:``) the simulated people track their presence on."""

THREAD_NAME: Final = "rtdata-presence"
"""Name of the thread :meth:`PresenceSimulator.start` runs in."""

_WARM_UP_INTERVAL_S: Final = 0.2
"""Pause between the first sign-ins, so a fresh dashboard shows a team within seconds."""

_CLOSE_TIMEOUT_S: Final = 1.0
"""How long a sign-out waits for the close handshake before dropping the socket."""


class RosterChange(Protocol):
    """One thing a :class:`Roster` wants done on the presence channel."""

    @property
    def kind(self) -> str:
        """``join`` (connect, join and track ``meta``), ``leave`` (close the socket, as a closed
        browser tab does) or ``update`` (track ``meta`` again)."""
        ...

    @property
    def key(self) -> str:
        """The person's presence key."""
        ...

    @property
    def meta(self) -> Mapping[str, Any]:
        """What to track; empty for ``leave``."""
        ...

    @property
    def channel(self) -> str | None:
        """The presence channel (without ``realtime:``), or ``None`` for the simulator's own.
        A person on two channels holds a socket on each; a ``leave`` closes only this one."""
        ...


class Roster(Protocol):
    """A seeded, pure source of presence changes for a scenario's people (no I/O)."""

    @property
    def target_online(self) -> int:
        """How many people are online on average; the first that many changes are paced
        quickly (the roster makes them sign-ins, so a dashboard shows a team at once)."""
        ...

    def next_change(self, now: datetime) -> RosterChange:
        """Return the next change and apply it to the roster's own view; ``now`` is tz-aware."""
        ...


class PresenceSimulator:
    """Sign a roster's people in and out on a presence channel until stopped.

    This is the thread boundary of presence simulation: :meth:`start` runs an asyncio loop in
    a daemon thread named ``rtdata-presence``, which owns every socket; :meth:`stop` ends the
    loop from any thread and closes the sockets. Counters are written only by that thread and
    are safe to read from others.

    Attributes:
        roster: The roster whose changes are carried out.
        changes_ok: Changes carried out (a sign-in counts once it is tracked).
        changes_failed: Changes that failed (connect, join or track refused, or timed out).
        last_error: Text of the most recent failure, or ``None``.

    Args:
        url: Project URL, for example ``http://127.0.0.1:54321``.
        key: API key each socket connects with; never logged.
        roster: Who signs in, out or changes status, and when (a scenario pack builds it).
        channel: Presence channel, without ``realtime:``.
        interval_s: Pause between changes after the first sign-ins; positive.
        timeout_s: Timeout of each connect, join and track.

    Raises:
        ValueError: ``interval_s`` or ``timeout_s`` is not positive and finite.
    """

    def __init__(
        self,
        url: str,
        key: str,
        roster: Roster,
        *,
        channel: str = DEFAULT_PRESENCE_CHANNEL,
        interval_s: float = 3.0,
        timeout_s: float = 10.0,
    ) -> None:
        """Create a stopped simulator; nobody signs in until :meth:`start`."""
        for name, value in (("interval_s", interval_s), ("timeout_s", timeout_s)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive and finite, got {value!r}")
        self.roster = roster
        self.changes_ok = 0
        self.changes_failed = 0
        self.last_error: str | None = None
        self._realtime_url = url.rstrip("/") + "/realtime/v1"
        self._key = key
        self._channel = channel
        self._interval_s = interval_s
        self._timeout_s = timeout_s
        # (channel, key) -> that person's socket and channel there
        self._sockets: dict[tuple[str, str], tuple[AsyncRealtimeClient, AsyncRealtimeChannel]] = {}
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._stop_requested = threading.Event()
        self._lock = threading.Lock()
        self._failure_streak = 0

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def connected(self) -> int:
        """How many simulated people hold an open socket now."""
        return sum(1 for client, _ in list(self._sockets.values()) if client.is_connected)

    def start(self) -> None:
        """Start the loop thread; no-op if it runs."""
        with self._lock:
            if self.running:
                return
            self._stop_requested.clear()
            self._thread = threading.Thread(target=self._main, name=THREAD_NAME, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the loop, close every socket and wait for the thread; safe to call twice."""
        self._stop_requested.set()
        with self._lock:
            thread, loop, stopping = self._thread, self._loop, self._stopping
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # ------------------------------------------------------------ loop thread

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except Exception as exc:  # the thread must end quietly, with the reason recorded
            self._record_failure(f"presence simulator stopped: {type(exc).__name__}: {exc}")
            logger.error("presence simulator failed: %s", self.last_error)

    async def _run(self) -> None:
        stopping = asyncio.Event()
        with self._lock:
            self._loop, self._stopping = asyncio.get_running_loop(), stopping
        if self._stop_requested.is_set():
            return
        warm_up = self.roster.target_online
        try:
            while not stopping.is_set():
                try:
                    change = self.roster.next_change(datetime.now(UTC))
                    await self._apply(change)
                except Exception as exc:
                    self._fail(f"{type(exc).__name__}: {exc}")
                else:
                    self._succeed()
                # The pause after the last warm-up sign-in is already interval_s.
                warm_up -= 1
                pause_s = _WARM_UP_INTERVAL_S if warm_up > 0 else self._interval_s
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), pause_s)
        finally:
            for slot in list(self._sockets):
                await self._sign_out(slot)

    async def _apply(self, change: RosterChange) -> None:
        slot = (change.channel or self._channel, change.key)
        if change.kind == "leave":
            await self._sign_out(slot)
            return
        held = self._sockets.get(slot)
        if held is None or not held[0].is_connected:
            if held is not None:  # the server went away under it; start afresh
                await self._sign_out(slot)
            held = await self._sign_in(slot)
        await asyncio.wait_for(held[1].track(dict(change.meta)), self._timeout_s)

    async def _sign_in(
        self, slot: tuple[str, str]
    ) -> tuple[AsyncRealtimeClient, AsyncRealtimeChannel]:
        topic, key = slot
        client = AsyncRealtimeClient(
            self._realtime_url,
            token=self._key,
            auto_reconnect=False,
            max_retries=1,
            timeout=max(1, int(self._timeout_s)),
        )
        await client.connect()
        params: Any = {"config": {"presence": {"key": key, "enabled": True}}}
        channel = client.channel(topic, params)
        self._sockets[slot] = (client, channel)
        joined = asyncio.get_running_loop().create_future()

        def on_state(state: RealtimeSubscribeStates, error: Exception | None) -> None:
            if not joined.done():
                joined.set_result((state, error))

        await channel.subscribe(on_state)
        state, error = await asyncio.wait_for(joined, self._timeout_s)
        if state != RealtimeSubscribeStates.SUBSCRIBED:
            raise RuntimeError(f"join {topic} refused: {state.value} {error or ''}")
        return client, channel

    async def _sign_out(self, slot: tuple[str, str]) -> None:
        held = self._sockets.pop(slot, None)
        if held is None:
            return
        client = held[0]
        ws = link.socket(client)  # needed to drop a dead peer
        try:
            await asyncio.wait_for(client.close(), _CLOSE_TIMEOUT_S)
        except Exception:
            link.abort(ws)

    # ------------------------------------------------------------ counters

    def _succeed(self) -> None:
        self.changes_ok += 1
        if self._failure_streak:
            logger.info("presence changes succeed again after %d failures", self._failure_streak)
            self._failure_streak = 0

    def _fail(self, reason: str) -> None:
        self._record_failure(reason)
        # The first failure of a streak at WARNING, the rest at DEBUG.
        level = logging.WARNING if self._failure_streak == 1 else logging.DEBUG
        logger.log(level, "presence change failed: %s", self.last_error)

    def _record_failure(self, text: str) -> None:
        self.changes_failed += 1
        self._failure_streak += 1
        self.last_error = redact(text)  # a socket error may quote the URL with its apikey
