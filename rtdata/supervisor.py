"""The collector's supervision loop, run on the collector's own event loop thread.

It owns the connection and never trusts the client to recover by itself (field notes §2):

1. **Connect** a fresh ``AsyncRealtimeClient`` (its own reconnects off), join every configured
   channel plus a self-broadcast probe channel, and wait for ``Subscribed to PostgreSQL``.
2. **Load** each table over REST *after* subscribing: a full snapshot the first time, a resync
   after every gap (rows changed since the last commit seen, minus a margin, plus key
   reconciliation for small tables). Realtime changes that arrive during a load are replayed
   on top of it, so the state is exact without comparing clocks.
3. **Watch**: send a probe every ``probe_interval_s``; with neither a probe echo nor any other
   traffic for two intervals the link is STALE and is torn down. A closed socket, a channel
   error or ``Collector.reconnect()`` also end the watch.
4. **Back off** (1, 2, 4 … s, capped, with jitter) and go to 1. Disconnected for longer than
   ``poll_after_s``, tables are polled over REST meanwhile (POLLING).

Configuration and authorisation errors (bad key, refused join, invalid binding) go to FAILED
and wait for a person (``Collector.reconnect()``); every other error is retried forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import httpx
import jwt
import orjson
from realtime import (
    AsyncRealtimeChannel,
    AsyncRealtimeClient,
    RealtimePostgresChangesListenEvent,
    RealtimeSubscribeStates,
)
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from rtdata import fastpath
from rtdata.events import Event, EventError, event_from_change
from rtdata.lifecycle import ConnectionState
from rtdata.reads import TableReads
from rtdata.resync import Deduper, Gap

if TYPE_CHECKING:
    from rtdata.collector import Collector

__all__ = ["PROBE_EVENT", "Supervisor", "backoff_delay_s"]

log = logging.getLogger(__name__)

PROBE_EVENT: Final = "rtdata-probe"
"""Broadcast event of the liveness probe."""

_SUBSCRIBED_TO_POSTGRES_TIMEOUT_S: Final = 10.0
_FATAL_REASONS: Final = (
    "Unauthorized",
    "InvalidJWTToken",
    "Unable to subscribe",
    "TopicNameRequired",
)

_S = ConnectionState


class _Fatal(Exception):
    """A configuration or authorisation problem: retrying will not help."""


class _Lost(Exception):
    """The link ended; the text says why."""


def backoff_delay_s(
    attempt: int, initial_s: float, max_s: float, jitter: float, unit: float
) -> float:
    """Return the delay before reconnect ``attempt`` (0-based): ``initial_s * 2**attempt``
    capped at ``max_s``, spread by ``jitter`` (±fraction) using ``unit`` in [0, 1)."""
    base = min(initial_s * 2.0 ** min(attempt, 30), max_s)
    return max(0.0, base * (1.0 + jitter * (2.0 * unit - 1.0)))


def _token_claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        return {}
    return claims


class Supervisor:
    """Drives one collector's connection; every method runs on the collector's loop thread.

    Args:
        collector: The collector whose buffer, tables, metrics and status it feeds.
        rng: Random source for backoff jitter (a parameter for tests).
    """

    def __init__(self, collector: Collector, rng: random.Random | None = None) -> None:
        self.c = collector
        self.settings = collector.settings
        self.cfg = collector.settings.config.connection
        self.rng = rng or random.Random()
        self.dedup = Deduper()
        # A change can arrive twice only through two bindings of the same table (one frame per
        # change per channel), so only those tables pay for deduplication.
        bound = Counter(
            b.table for c in collector.settings.config.channels for b in c.postgres_changes
        )
        self.multi_bound = {table for table, count in bound.items() if count > 1}
        self.token = collector.settings.key or ""
        self.stop = asyncio.Event()
        self.wake = asyncio.Event()  # set by Collector.reconnect() and by stop
        self.reconnect_requested = False
        self.lost: str | None = None
        self.last_traffic_ns = time.monotonic_ns()
        self._resync_task: asyncio.Task[int] | None = None
        self.reads = TableReads(collector)
        self.rest: AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._postgres_ready: dict[str, asyncio.Event] = {}
        self._probe_sent: dict[str, int] = {}
        self._next_poll_s = 0.0
        self._next_housekeeping_s = 0.0

    # ------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Supervise until ``stop`` is set (the collector has already moved to CONNECTING)."""
        self._http = httpx.AsyncClient(timeout=self.settings.connect_timeout_s)
        assert self.settings.url is not None
        options = AsyncClientOptions(httpx_client=self._http, auto_refresh_token=False)
        self.rest = await acreate_client(self.settings.url, self.token, options=options)
        self.reads.rest = self.rest
        attempt, gap_start_ns = 0, time.time_ns()
        try:
            while not self.stop.is_set():
                rt: AsyncRealtimeClient | None = None
                try:
                    await self._refresh_token()
                    if self.c.state == _S.FAILED:
                        self.c.transition(_S.CONNECTING, "reconnect requested")
                    rt = await self._connect()
                    resync = self.reads.loaded
                    rows = await self.reads.load(gap_start_ns)
                    if resync:
                        self.c.record_gap(Gap(gap_start_ns, time.time_ns(), rows))
                    text = f"resubscribed; {rows} rows resynced" if resync else "subscribed"
                    self.c.transition(_S.SUBSCRIBED, text)
                    attempt = 0
                    reason = await self._watch(rt)
                except _Fatal as exc:
                    self.c.transition(_S.FAILED, str(exc))
                    await self._close(rt)
                    await self._wait_for_person()
                    continue
                except _Lost as exc:
                    reason = str(exc)
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # transient: network, timeouts, server errors
                    reason = f"{type(exc).__name__}: {exc}"
                # Say what we know before cleaning up: closing a frozen link can take seconds.
                if self.c.state == _S.SUBSCRIBED and not self.stop.is_set():
                    gap_start_ns = time.time_ns()
                    if reason.startswith("stale"):
                        self.c.transition(_S.STALE, reason)
                await self._close(rt)
                if self.stop.is_set():
                    break
                if self.c.state != _S.POLLING:
                    self.c.transition(_S.RECONNECTING, reason)
                self.c.metrics.record_reconnect(time.time_ns())
                delay = backoff_delay_s(
                    attempt,
                    self.cfg.reconnect_initial_s,
                    self.cfg.reconnect_max_s,
                    self.cfg.reconnect_jitter,
                    self.rng.random(),
                )
                attempt += 1
                await self._pause(delay, gap_start_ns)
        finally:
            if self.rest is not None:
                with contextlib.suppress(Exception):
                    await self.rest.remove_all_channels()
            if self._http is not None:
                await self._http.aclose()

    async def _wait_for_person(self) -> None:
        while not self.stop.is_set() and not self.reconnect_requested:
            self.wake.clear()
            await self.wake.wait()
        self.reconnect_requested = False

    async def _pause(self, delay_s: float, gap_start_ns: int) -> None:
        """Wait ``delay_s`` before the next attempt, polling REST once disconnected too long."""
        deadline = time.monotonic() + delay_s
        while not self.stop.is_set() and not self.reconnect_requested:
            now = time.monotonic()
            if now >= deadline:
                break
            disconnected_s = (time.time_ns() - gap_start_ns) / 1e9
            if disconnected_s >= self.cfg.poll_after_s:
                if self.c.state != _S.POLLING:
                    self.c.transition(
                        _S.POLLING, f"disconnected for {disconnected_s:.0f} s; polling REST"
                    )
                    self._next_poll_s = 0.0
                if now >= self._next_poll_s:
                    self._next_poll_s = now + self.cfg.poll_interval_s
                    try:
                        await self.reads.load(gap_start_ns, source="poll")
                    except Exception as exc:  # the REST side may be down too
                        self.c.count_error("poll failed", f"{type(exc).__name__}: {exc}")
            if now >= self._next_housekeeping_s:
                self._next_housekeeping_s = now + 1.0
                self.c.housekeeping()
            self.wake.clear()
            wait_s = min(deadline - time.monotonic(), 0.25)
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait_s)
        self.reconnect_requested = False

    # ------------------------------------------------------------ connect

    async def _connect(self) -> AsyncRealtimeClient:
        assert self.settings.url is not None
        self.lost = None
        rt = AsyncRealtimeClient(
            f"{self.settings.url}/realtime/v1",
            token=self.settings.key,
            auto_reconnect=False,
            max_retries=1,
            timeout=int(max(1, self.settings.connect_timeout_s)),
        )
        try:
            await rt.connect()
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
            if "401" in text or "403" in text:
                raise _Fatal(f"the server refused the API key ({text})") from None
            raise
        if rt._ws_connection is not None:  # private in realtime-py; the socket to trace
            self.c.trace.attach(rt._ws_connection)
            if self.cfg.fast_decode:
                fastpath.attach(rt._ws_connection, rt.channels, self._on_fast_path_error)
        try:
            await self._join(rt)
        except BaseException:
            await self._close(rt)  # a half-made link must not leak its socket
            raise
        return rt

    async def _join(self, rt: AsyncRealtimeClient) -> None:
        if self.token and self.token != self.settings.key:
            await rt.set_auth(self.token)
        channels = [
            (self._channel(rt, spec), spec.name if spec.presence else None)
            for spec in self.settings.config.channels
        ]
        channels.append((self._probe_channel(rt), None))
        for channel, presence_name in channels:
            outcome: list[tuple[RealtimeSubscribeStates, Exception | None]] = []
            await channel.subscribe(self._subscribe_callback(channel.topic, outcome, presence_name))
            state, error = outcome[0] if outcome else (RealtimeSubscribeStates.TIMED_OUT, None)
            if state != RealtimeSubscribeStates.SUBSCRIBED:
                text = f"{channel.topic}: {state.value}" + (f": {error}" if error else "")
                if any(marker in text for marker in _FATAL_REASONS):
                    raise _Fatal(text)
                raise _Lost(text)
        for topic, ready in self._postgres_ready.items():
            try:
                await asyncio.wait_for(ready.wait(), _SUBSCRIBED_TO_POSTGRES_TIMEOUT_S)
            except TimeoutError:
                raise _Lost(f"{topic}: no 'Subscribed to PostgreSQL' within 10 s") from None
            if self.lost:
                raise (
                    _Fatal(self.lost)
                    if any(m in self.lost for m in _FATAL_REASONS)
                    else _Lost(self.lost)
                )

    def _channel(self, rt: AsyncRealtimeClient, spec: Any) -> AsyncRealtimeChannel:
        presence: dict[str, Any] = {"key": "", "enabled": bool(spec.presence)}
        params: Any = {
            "config": {
                "broadcast": {"ack": False, "self": False},
                "presence": presence,
                "private": bool(spec.private),
            }
        }
        channel = rt.channel(spec.name, params)
        for binding in spec.postgres_changes:
            for event in binding.events:
                channel.on_postgres_changes(
                    RealtimePostgresChangesListenEvent(event),
                    schema=binding.schema,
                    table=binding.table,
                    filter=binding.filter,
                    callback=self._on_change(spec.name, binding.primary_key),
                )
        if spec.postgres_changes:
            ready = asyncio.Event()
            self._postgres_ready[channel.topic] = ready
            channel.on_system(self._on_system(ready))
        for event in spec.broadcast:
            channel.on_broadcast(event, self._on_broadcast(spec.name))
        if spec.presence:
            channel.on_presence_join(self._on_presence(spec.name, "join"))
            channel.on_presence_leave(self._on_presence(spec.name, "leave"))
        return channel

    def _probe_channel(self, rt: AsyncRealtimeClient) -> AsyncRealtimeChannel:
        # Private when the key's role may join private channels; a random name otherwise, so
        # nobody else's probe is mistaken for ours.
        role = _token_claims(self.token).get("role")
        private = role in ("service_role", "authenticated")
        params: Any = {"config": {"broadcast": {"ack": False, "self": True}, "private": private}}
        channel = rt.channel(f"rtdata-probe-{uuid.uuid4().hex[:12]}", params)
        channel.on_broadcast(PROBE_EVENT, self._on_probe)
        return channel

    async def _close(self, rt: AsyncRealtimeClient | None) -> None:
        self._postgres_ready = {}
        task, self._resync_task = self._resync_task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        if rt is None:
            return
        # realtime-py keeps its socket private; we need it to abort a link whose peer is gone.
        ws = rt._ws_connection
        try:
            # A frozen server never answers the close handshake; do not wait on it for long.
            await asyncio.wait_for(rt.close(), 1.0)
        except Exception:
            if ws is not None:
                ws.transport.abort()

    # ------------------------------------------------------------ callbacks (never raise)

    def _subscribe_callback(
        self,
        topic: str,
        outcome: list[tuple[RealtimeSubscribeStates, Exception | None]],
        presence_name: str | None = None,
    ) -> Callable[[RealtimeSubscribeStates, Exception | None], None]:
        def callback(state: RealtimeSubscribeStates, error: Exception | None) -> None:
            try:
                if not outcome:
                    outcome.append((state, error))
                    if presence_name is not None and state == RealtimeSubscribeStates.SUBSCRIBED:
                        # The join reply comes before the presence_state it answers with, so
                        # this marks where the fresh state starts: whoever left while the link
                        # was down is not carried over.
                        now = time.time_ns()
                        self.c.ingest(
                            Event(
                                now, None, "presence", presence_name, None, "sync", None, "[]", None
                            )
                        )
                elif state != RealtimeSubscribeStates.SUBSCRIBED and self.lost is None:
                    self.lost = f"{topic}: {state.value}" + (f": {error}" if error else "")
                    self.wake.set()
            except Exception as exc:
                self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

        return callback

    def _on_system(self, ready: asyncio.Event) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            try:
                self.last_traffic_ns = time.monotonic_ns()
                if getattr(payload, "extension", None) == "postgres_changes":
                    ready.set()
            except Exception as exc:
                self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

        return callback

    def _on_change(self, channel: str, primary_key: tuple[str, ...]) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            received_ns = time.time_ns()
            self.last_traffic_ns = time.monotonic_ns()
            try:
                event = event_from_change(payload, channel, received_ns, primary_key)
                table = event.table
                if table is None or event.key is None:
                    raise EventError("change without a table or key")
                if table not in self.c.tables.primary_keys:
                    self.c.count_error("unknown table", table)
                    return
                if table in self.multi_bound and not self.dedup.first_time(
                    table, event.key, event.commit_ns
                ):
                    return
                data = payload["data"]
                self.c.ingest(event, data.get("record"), data.get("old_record"))
                self.reads.note_change(table, event)
            except EventError as exc:
                self.c.count_error("invalid change", str(exc))
            except Exception as exc:  # never raise into the client's listen task
                self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

        return callback

    def _on_fast_path_error(self, exc: Exception) -> None:
        self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

    def _on_broadcast(self, channel: str) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            self.last_traffic_ns = time.monotonic_ns()
            try:
                body = orjson.dumps(payload.get("payload")).decode()
                event = Event(
                    time.time_ns(),
                    None,
                    "broadcast",
                    channel,
                    None,
                    str(payload.get("event")),
                    None,
                    body,
                    None,
                )
                self.c.ingest(event)
            except Exception as exc:
                self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

        return callback

    def _on_presence(self, channel: str, op: str) -> Callable[[str, Any, Any], None]:
        def callback(key: str, _current: Any, changed: Any) -> None:
            self.last_traffic_ns = time.monotonic_ns()
            try:
                body = orjson.dumps(changed, default=str).decode()
                now = time.time_ns()
                self.c.ingest(Event(now, None, "presence", channel, None, op, key, body, None))
                self.c.metrics.record_presence(max(1, len(changed or [])), now)
            except Exception as exc:
                self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

        return callback

    def _on_probe(self, payload: Any) -> None:
        self.last_traffic_ns = time.monotonic_ns()
        try:
            body = payload.get("payload") or {}
            sent = self._probe_sent.pop(str(body.get("seq")), None)
            if sent is not None:
                rtt_ms = (time.perf_counter_ns() - sent) / 1e6
                self.c.metrics.record_probe_rtt(rtt_ms, time.time_ns())
        except Exception as exc:
            self.c.count_error("callback error", f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------ watch

    async def _watch(self, rt: AsyncRealtimeClient) -> str:
        """Return why the link must be replaced (stale, closed, error, requested)."""
        interval_s = self.cfg.probe_interval_s
        tick_s = min(0.25, interval_s / 20)
        probe = next(
            ch for ch in rt.channels.values() if ch.topic.startswith("realtime:rtdata-probe-")
        )
        self.last_traffic_ns = time.monotonic_ns()
        next_probe_s, seq = 0.0, 0
        every_s = self.cfg.resync_interval_s
        next_resync_s = time.monotonic() + every_s if every_s > 0 else float("inf")
        while True:
            if self.stop.is_set():
                return "stopped"
            if self.reconnect_requested:
                self.reconnect_requested = False
                return "reconnect requested"
            if self.lost is not None:
                if any(marker in self.lost for marker in _FATAL_REASONS):
                    raise _Fatal(self.lost)
                return self.lost
            if not rt.is_connected:
                return "socket closed"
            now_s = time.monotonic()
            silent_s = (time.monotonic_ns() - self.last_traffic_ns) / 1e9
            if silent_s > 2 * interval_s:
                return f"stale: no probe reply or traffic for {silent_s:.1f} s"
            if now_s >= next_probe_s:
                seq += 1
                self._probe_sent = {k: v for k, v in self._probe_sent.items() if int(k) > seq - 10}
                self._probe_sent[str(seq)] = time.perf_counter_ns()
                # Fire and forget: a frozen link must not block the watch.
                asyncio.get_running_loop().create_task(self._send_probe(probe, seq))
                next_probe_s = now_s + interval_s
            if now_s >= next_resync_s and (self._resync_task is None or self._resync_task.done()):
                # Anti-entropy: Supabase may drop changes without closing the socket. Runs as a
                # task so probes keep flowing while REST answers.
                next_resync_s = now_s + every_s
                self._resync_task = asyncio.get_running_loop().create_task(
                    self.reads.resync_all(time.time_ns(), source="resync")
                )
            if now_s >= self._next_housekeeping_s:
                self._next_housekeeping_s = now_s + 1.0
                self.c.housekeeping()
                await self._maybe_refresh_token(rt)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), tick_s)

    async def _send_probe(self, probe: AsyncRealtimeChannel, seq: int) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(probe.send_broadcast(PROBE_EVENT, {"seq": seq}), 5.0)

    # ------------------------------------------------------------ tokens

    async def _refresh_token(self) -> None:
        provider = self.settings.token_provider
        if provider is None:
            return
        try:
            self.token = await asyncio.to_thread(provider)
        except Exception as exc:
            raise _Fatal(f"token provider failed: {type(exc).__name__}") from None
        if self.rest is not None:
            self.rest.postgrest.auth(self.token)

    async def _maybe_refresh_token(self, rt: AsyncRealtimeClient) -> None:
        if self.settings.token_provider is None:
            return
        exp = _token_claims(self.token).get("exp")
        if not isinstance(exp, int | float) or exp - time.time() > self.cfg.token_refresh_margin_s:
            return
        await self._refresh_token()
        await rt.set_auth(self.token)
        log.info("collector: access token refreshed")
