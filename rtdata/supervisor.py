"""The collector's supervision loop, run on the collector's own event loop thread.

It owns the connection and never trusts the client to recover by itself (field notes §2):

0. **Discover** the tables when ``rtdata.toml`` names no channel: read the project's REST
   schema (:mod:`rtdata.introspect`) and follow every table with a primary key on one channel,
   :data:`DISCOVERY_CHANNEL`. A failure counts as :attr:`ErrorKind.INTROSPECTION_FAILED` and
   ends the attempt like a failed connect. With channels configured the schema is still read
   once, in the background, for pages to check columns; failing that only logs a warning.
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

Every way a link ends is a :class:`rtdata.link.LinkLost` whose kind decides: a refusal
(bad key, refused join, invalid binding) goes to FAILED and waits for a person
(:meth:`Supervisor.request_reconnect`); a transient failure or a stale link is retried forever.
Background tasks (the periodic resync, probes) that fail are counted and logged.

The supervisor depends on a :class:`rtdata.recorder.Recorder` alone; :class:`rtdata.Collector`
is the thread that runs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Final

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

from rtdata import fastpath, introspect, link
from rtdata.config import Channel
from rtdata.events import (
    Event,
    EventError,
    EventKind,
    EventSource,
    RecordMismatch,
    event_from_change,
    row_key,
)
from rtdata.lifecycle import ConnectionState
from rtdata.link import LinkLost, LossKind
from rtdata.reads import TableReads
from rtdata.recorder import ErrorKind, Recorder
from rtdata.resync import Deduper, Gap
from rtdata.settings import Settings

__all__ = ["DISCOVERY_CHANNEL", "PROBE_EVENT", "Supervisor", "backoff_delay_s"]

log = logging.getLogger(__name__)

PROBE_EVENT: Final = "rtdata-probe"
"""Broadcast event of the liveness probe."""

DISCOVERY_CHANNEL: Final = "rtdata-tables"
"""The channel that binds the discovered tables when ``rtdata.toml`` names no channel."""

_INTROSPECTION_TIMEOUT_S: Final = 10.0

_SUBSCRIBED_TO_POSTGRES_TIMEOUT_S: Final = 10.0

_S = ConnectionState


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
    """Drives one recorder's connection; every method runs on the collector's loop thread,
    except :meth:`request_stop` and :meth:`request_reconnect`, which the loop's owner calls
    through ``loop.call_soon_threadsafe``.

    Args:
        recorder: Where every event, transition, gap and error is recorded.
        rng: Random source for backoff jitter (a parameter for tests).
    """

    def __init__(self, recorder: Recorder, rng: random.Random | None = None) -> None:
        self.recorder = recorder
        self.cfg = recorder.settings.config.connection
        self.rng = rng or random.Random()
        self.dedup = Deduper()
        self.discover = not recorder.settings.config.channels
        """Whether the tables are learnt from the project's REST schema (no channel configured)."""
        self.multi_bound = self._multi_bound()
        self.token = recorder.settings.key or ""
        self.stop = asyncio.Event()
        """Set once a stop is requested; the loop then ends."""
        self.wake = asyncio.Event()  # set by the requests below, so waits end at once
        self.reconnect_requested = False
        self.lost: LinkLost | None = None  # set by a channel callback when a joined channel ends
        self.last_traffic_ns = time.monotonic_ns()
        self.reads = TableReads(recorder)
        self.rest: AsyncClient | None = None
        self._http: httpx.AsyncClient | None = None
        self._resync_task: asyncio.Task[int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()  # background tasks, kept until they end
        self._postgres_ready: dict[str, asyncio.Event] = {}
        self._probe: AsyncRealtimeChannel | None = None  # the link's own probe channel
        self._probe_sent: dict[str, int] = {}
        self._next_poll_s = 0.0
        self._next_housekeeping_s = 0.0

    @property
    def settings(self) -> Settings:
        """The recorder's current settings (discovery replaces them before the first connect)."""
        return self.recorder.settings

    def _multi_bound(self) -> set[str]:
        # A change can arrive twice only through two bindings of the same table (one frame per
        # change per channel), so only those tables pay for deduplication.
        bound = Counter(b.table for c in self.settings.config.channels for b in c.postgres_changes)
        return {table for table, count in bound.items() if count > 1}

    # ------------------------------------------------------------ requests

    def request_stop(self) -> None:
        """Ask the loop to end: unsubscribe, close the link and return from :meth:`run`."""
        self.stop.set()
        self.wake.set()

    def request_reconnect(self) -> None:
        """Ask for a fresh link now; also leaves FAILED."""
        self.reconnect_requested = True
        self.wake.set()

    # ------------------------------------------------------------ main loop

    async def run(self) -> None:
        """Supervise until a stop is requested (the recorder has already moved to CONNECTING)."""
        self._http = httpx.AsyncClient(timeout=self.settings.connect_timeout_s)
        assert self.settings.url is not None
        options = AsyncClientOptions(httpx_client=self._http, auto_refresh_token=False)
        self.rest = await acreate_client(self.settings.url, self.token, options=options)
        self.reads.rest = self.rest
        r = self.recorder
        attempt, gap_start_ns = 0, time.time_ns()
        if not self.discover:
            self._spawn(self._read_schema(), "schema")
        try:
            while not self.stop.is_set():
                rt: AsyncRealtimeClient | None = None
                try:
                    await self._refresh_token()
                    if r.state == _S.FAILED:
                        r.transition(_S.CONNECTING, "reconnect requested")
                    if self.discover and r.schema is None:
                        await self._discover()
                    rt = await self._connect()
                    resync = self.reads.loaded
                    rows = await self.reads.load(gap_start_ns)
                    if resync:
                        r.record_gap(Gap(gap_start_ns, time.time_ns(), rows))
                    text = f"resubscribed; {rows} rows resynced" if resync else "subscribed"
                    r.transition(_S.SUBSCRIBED, text)
                    attempt = 0
                    lost = await self._watch(rt)
                except LinkLost as exc:
                    lost = exc
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception as exc:  # network, timeouts, server errors
                    lost = LinkLost(LossKind.TRANSIENT, f"{type(exc).__name__}: {exc}")
                if lost.kind is LossKind.REFUSED:
                    r.transition(_S.FAILED, lost.detail)
                    await self._close(rt)
                    await self._wait_for_person()
                    continue
                # Say what we know before cleaning up: closing a frozen link can take seconds.
                if r.state == _S.SUBSCRIBED and not self.stop.is_set():
                    gap_start_ns = time.time_ns()
                    if lost.kind is LossKind.STALE:
                        r.transition(_S.STALE, lost.detail)
                await self._close(rt)
                if self.stop.is_set():
                    break
                if r.state != _S.POLLING:
                    r.transition(_S.RECONNECTING, lost.detail)
                r.record_reconnect(time.time_ns())
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
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
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
        r = self.recorder
        deadline = time.monotonic() + delay_s
        while not self.stop.is_set() and not self.reconnect_requested:
            now = time.monotonic()
            if now >= deadline:
                break
            disconnected_s = (time.time_ns() - gap_start_ns) / 1e9
            if disconnected_s >= self.cfg.poll_after_s:
                if r.state != _S.POLLING:
                    r.transition(
                        _S.POLLING, f"disconnected for {disconnected_s:.0f} s; polling REST"
                    )
                    self._next_poll_s = 0.0
                if now >= self._next_poll_s:
                    self._next_poll_s = now + self.cfg.poll_interval_s
                    try:
                        await self.reads.load(gap_start_ns, source=EventSource.POLL)
                    except Exception as exc:  # the REST side may be down too
                        r.count_error(ErrorKind.POLL_FAILED, f"{type(exc).__name__}: {exc}")
            if now >= self._next_housekeeping_s:
                self._next_housekeeping_s = now + 1.0
                r.housekeeping()
            self.wake.clear()
            wait_s = min(deadline - time.monotonic(), 0.25)
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait_s)
        self.reconnect_requested = False

    # ------------------------------------------------------------ background tasks

    def _spawn(self, work: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run ``work`` as a background task that is kept until it ends and whose failure
        is counted and logged as :attr:`ErrorKind.TASK_FAILED`."""
        task = asyncio.get_running_loop().create_task(work, name=f"rtdata-{what}")
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, what))
        return task

    def _task_done(self, what: str, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            detail = f"{what}: {type(exc).__name__}: {exc}"
            self.recorder.count_error(ErrorKind.TASK_FAILED, detail)

    # ------------------------------------------------------------ the project's tables

    async def _fetch_schema(self) -> introspect.ProjectSchema:
        assert self.settings.url is not None  # checked by Collector.start
        assert self.settings.key is not None
        return await introspect.fetch_schema_async(
            self.settings.url,
            self.settings.key,
            timeout_s=min(self.settings.connect_timeout_s, _INTROSPECTION_TIMEOUT_S),
            token=self.token if self.token != self.settings.key else None,
            client=self._http,
        )

    async def _discover(self) -> None:
        """Read the REST schema and follow every table with a primary key.

        Raises:
            LinkLost: The schema could not be read: REFUSED for a refused key, TRANSIENT for
                anything else (counted as :attr:`ErrorKind.INTROSPECTION_FAILED`).
        """
        try:
            schema = await self._fetch_schema()
        except introspect.IntrospectionError as exc:
            self.recorder.count_error(ErrorKind.INTROSPECTION_FAILED, str(exc))
            refused = isinstance(exc, introspect.IntrospectionRefused)
            kind = LossKind.REFUSED if refused else LossKind.TRANSIENT
            raise LinkLost(kind, f"cannot learn the project's tables: {exc}") from None
        bindings = introspect.bindings_for(schema)
        keyless = schema.keyless()
        if keyless:
            log.warning(
                "collector: %d tables without a primary key are not followed: %s",
                len(keyless),
                ", ".join(keyless),
            )
        channels = (Channel(DISCOVERY_CHANNEL, postgres_changes=bindings),) if bindings else ()
        config = dataclasses.replace(self.settings.config, channels=channels)
        self.recorder.follow(dataclasses.replace(self.settings, config=config, tables=None))
        self.recorder.schema = schema
        self.multi_bound = self._multi_bound()
        log.info("collector: following %d tables found in the REST schema", len(bindings))

    async def _read_schema(self) -> None:
        """Read the REST schema for pages while the configured channels are followed; a
        failure is only a warning (the schema is not needed to follow them)."""
        try:
            self.recorder.schema = await self._fetch_schema()
        except introspect.IntrospectionError as exc:
            log.warning("collector: the REST schema is not available, columns unchecked: %s", exc)

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
            raise link.connect_failure(exc) from None
        ws = link.socket(rt)
        if ws is not None:
            self.recorder.trace.attach(ws)
            if self.cfg.fast_decode:
                fastpath.attach(ws, link.change_callbacks(rt), self._on_fast_path_error)
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
        self._probe = self._probe_channel(rt)
        channels.append((self._probe, None))
        for channel, presence_name in channels:
            outcome: list[tuple[RealtimeSubscribeStates, Exception | None]] = []
            await channel.subscribe(self._subscribe_callback(channel.topic, outcome, presence_name))
            state, error = outcome[0] if outcome else (RealtimeSubscribeStates.TIMED_OUT, None)
            if state != RealtimeSubscribeStates.SUBSCRIBED:
                raise link.join_failure(channel.topic, state, error)
        for topic, ready in self._postgres_ready.items():
            try:
                await asyncio.wait_for(ready.wait(), _SUBSCRIBED_TO_POSTGRES_TIMEOUT_S)
            except TimeoutError:
                detail = f"{topic}: no 'Subscribed to PostgreSQL' within 10 s"
                raise LinkLost(LossKind.TRANSIENT, detail) from None
            if self.lost is not None:
                raise self.lost

    def _channel(self, rt: AsyncRealtimeClient, spec: Channel) -> AsyncRealtimeChannel:
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
        ws = link.socket(rt)
        try:
            # A frozen server never answers the close handshake; do not wait on it for long.
            await asyncio.wait_for(rt.close(), 1.0)
        except Exception:
            link.abort(ws)

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
                        self.recorder.record(
                            Event(
                                now,
                                None,
                                EventKind.PRESENCE,
                                presence_name,
                                None,
                                "sync",
                                None,
                                "[]",
                                None,
                            )
                        )
                elif state != RealtimeSubscribeStates.SUBSCRIBED and self.lost is None:
                    self.lost = link.join_failure(topic, state, error)
                    self.wake.set()
            except Exception as exc:
                self.recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

        return callback

    def _on_system(self, ready: asyncio.Event) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            try:
                self.last_traffic_ns = time.monotonic_ns()
                if getattr(payload, "extension", None) == "postgres_changes":
                    ready.set()
            except Exception as exc:
                self.recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

        return callback

    def _on_change(self, channel: str, primary_key: tuple[str, ...]) -> Callable[[Any], None]:
        recorder, reads = self.recorder, self.reads
        followed = recorder.tables.primary_keys

        def callback(payload: Any) -> None:
            received_ns = time.time_ns()
            self.last_traffic_ns = time.monotonic_ns()
            try:
                event = event_from_change(payload, channel, received_ns, primary_key)
                table = event.table
                if table is None or event.key is None:
                    raise EventError("change without a table or key")
                if table not in followed:
                    recorder.count_error(ErrorKind.UNKNOWN_TABLE, table)
                    return
                if table in self.multi_bound and not self.dedup.first_time(
                    table, event.key, event.commit_ns
                ):
                    return
                data = payload["data"]
                old_record = data.get("old_record")
                old_key = None
                if event.op == "UPDATE" and old_record:
                    with contextlib.suppress(EventError):
                        old_key = row_key(old_record, primary_key)
                if recorder.tables.stale(table, event.key, event.commit_ns, old_key):
                    recorder.count_error(
                        ErrorKind.OUT_OF_ORDER,
                        f"{event.op} of {table} committed before the change its row holds",
                    )
                    return
                recorder.record(event, data.get("record"), old_record)
                reads.note_change(table, event, old_key)
            except RecordMismatch as exc:
                recorder.count_error(ErrorKind.RECORD_MISMATCH, str(exc))
            except EventError as exc:
                recorder.count_error(ErrorKind.INVALID_CHANGE, str(exc))
            except Exception as exc:  # never raise into the client's listen task
                recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

        return callback

    def _on_fast_path_error(self, exc: Exception) -> None:
        self.recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

    def _on_broadcast(self, channel: str) -> Callable[[Any], None]:
        def callback(payload: Any) -> None:
            self.last_traffic_ns = time.monotonic_ns()
            try:
                body = orjson.dumps(payload.get("payload")).decode()
                event = Event(
                    time.time_ns(),
                    None,
                    EventKind.BROADCAST,
                    channel,
                    None,
                    str(payload.get("event")),
                    None,
                    body,
                    None,
                )
                self.recorder.record(event)
            except Exception as exc:
                self.recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

        return callback

    def _on_presence(self, channel: str, op: str) -> Callable[[str, Any, Any], None]:
        def callback(key: str, _current: Any, changed: Any) -> None:
            self.last_traffic_ns = time.monotonic_ns()
            try:
                body = orjson.dumps(changed, default=str).decode()
                now = time.time_ns()
                self.recorder.record(
                    Event(now, None, EventKind.PRESENCE, channel, None, op, key, body, None)
                )
            except Exception as exc:
                self.recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

        return callback

    def _on_probe(self, payload: Any) -> None:
        self.last_traffic_ns = time.monotonic_ns()
        try:
            body = payload.get("payload") or {}
            sent = self._probe_sent.pop(str(body.get("seq")), None)
            if sent is not None:
                rtt_ms = (time.perf_counter_ns() - sent) / 1e6
                self.recorder.metrics.record_probe_rtt(rtt_ms, time.time_ns())
        except Exception as exc:
            self.recorder.count_error(ErrorKind.CALLBACK, f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------ watch

    async def _watch(self, rt: AsyncRealtimeClient) -> LinkLost:
        """Return why the link must be replaced (stale, closed, lost, requested or stopped)."""
        interval_s = self.cfg.probe_interval_s
        tick_s = min(0.25, interval_s / 20)
        probe = self._probe
        assert probe is not None  # joined by _connect
        self.last_traffic_ns = time.monotonic_ns()
        next_probe_s, seq = 0.0, 0
        every_s = self.cfg.resync_interval_s
        next_resync_s = time.monotonic() + every_s if every_s > 0 else float("inf")
        while True:
            if self.stop.is_set():
                return LinkLost(LossKind.TRANSIENT, "stopped")
            if self.reconnect_requested:
                self.reconnect_requested = False
                return LinkLost(LossKind.TRANSIENT, "reconnect requested")
            if self.lost is not None:
                return self.lost
            if not rt.is_connected:
                return LinkLost(LossKind.TRANSIENT, "socket closed")
            now_s = time.monotonic()
            silent_s = (time.monotonic_ns() - self.last_traffic_ns) / 1e9
            if silent_s > 2 * interval_s:
                detail = f"stale: no probe reply or traffic for {silent_s:.1f} s"
                return LinkLost(LossKind.STALE, detail)
            if now_s >= next_probe_s:
                seq += 1
                self._probe_sent = {k: v for k, v in self._probe_sent.items() if int(k) > seq - 10}
                self._probe_sent[str(seq)] = time.perf_counter_ns()
                # A task: a frozen link must not block the watch.
                self._spawn(self._send_probe(probe, seq), "probe")
                next_probe_s = now_s + interval_s
            if now_s >= next_resync_s and (self._resync_task is None or self._resync_task.done()):
                # Anti-entropy: Supabase may drop changes without closing the socket. Runs as a
                # task so probes keep flowing while REST answers.
                next_resync_s = now_s + every_s
                self._resync_task = self._spawn(
                    self.reads.resync_all(time.time_ns(), source=EventSource.RESYNC), "resync"
                )
            if now_s >= self._next_housekeeping_s:
                self._next_housekeeping_s = now_s + 1.0
                self.recorder.housekeeping()
                await self._maybe_refresh_token(rt)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), tick_s)

    async def _send_probe(self, probe: AsyncRealtimeChannel, seq: int) -> None:
        await asyncio.wait_for(probe.send_broadcast(PROBE_EVENT, {"seq": seq}), 5.0)

    # ------------------------------------------------------------ tokens

    async def _refresh_token(self) -> None:
        provider = self.settings.token_provider
        if provider is None:
            return
        try:
            self.token = await asyncio.to_thread(provider)
        except Exception as exc:
            detail = f"token provider failed: {type(exc).__name__}"
            raise LinkLost(LossKind.REFUSED, detail) from None
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
