"""``packs``: every scenario pack at ten times the demo's rate, beside the hospital's figures.

For each pack of :data:`rtdata.scenarios.SCENARIOS`, :data:`BASELINE` first:

* live, for ``live_s`` seconds: the embedded stack (:func:`rtdata.connect`: the pack's local
  server and simulator at :data:`RATE_FACTOR` × :data:`DEMO_RATE_PER_S` writes a second, and a
  collector following the pack's ``rtdata.toml``): the events recorded a second (table
  changes, presence and broadcasts that came over the socket) and the p99 of the table changes'
  commit → buffer latency. Server, simulator and collector share this process, as in a
  notebook's ``rtdata.connect()``, unlike the other sections' server in its own process;
* offline: a recorder following the same config filled with ``events`` events of the pack's
  stream (:func:`rtdata.bench.stream.fill`), its buffer's bytes per event
  (:attr:`rtdata.buffer.EventBuffer.nbytes`, as ``buffer.nbytes_per_event``), and the server
  render time of each of its pages (its ``[[pages]]`` and the built-in realtime and events
  pages), of which the slowest is reported, against :data:`PAGE_TARGET_MS`. Renders are timed
  as in the ``pages`` section (:func:`rtdata.bench.pages.render`: first renders, median).

Every other pack's figure has the hospital's same figure as its baseline.
"""

from __future__ import annotations

import gc
import logging
import threading
from dataclasses import replace
from datetime import UTC, datetime
from typing import Final, NamedTuple

from rtdata.api import connect
from rtdata.bench import pages, stream
from rtdata.bench.common import Figure
from rtdata.bench.ingest import percentile, realtime_latencies_ms
from rtdata.events import EventKind, EventSource
from rtdata.scenarios import SCENARIOS
from rtdata.settings import Settings

__all__ = [
    "BASELINE",
    "DEMO_RATE_PER_S",
    "PAGE_TARGET_MS",
    "RATE_FACTOR",
    "Filled",
    "Live",
    "bench_packs",
    "filled",
    "live",
    "pack_order",
    "page_names",
]

logger = logging.getLogger(__name__)

BASELINE: Final = stream.PACK
"""The pack every other pack's figures are read against: the hospital, the ``pages`` section's."""

DEMO_RATE_PER_S: Final = 10.0
"""``rtdata demo``'s default simulator rate (``--rate``), in writes a second."""

RATE_FACTOR: Final = 10
"""How many times the demo's rate each pack's simulator runs at in the live part."""

PAGE_TARGET_MS: Final = 300.0
"""Every page's render-time target with 1M events buffered."""

_LIVE_KINDS: Final = (EventKind.POSTGRES_CHANGES, EventKind.PRESENCE, EventKind.BROADCAST)


def pack_order() -> tuple[str, ...]:
    """Return every pack's name, :data:`BASELINE` first, then in :data:`SCENARIOS` order."""
    return (BASELINE, *(name for name in SCENARIOS if name != BASELINE))


def page_names(pack: str) -> tuple[str, ...]:
    """Return the pages of ``pack``'s dashboard: its ``[[pages]]``, then the built-in ones
    (:data:`rtdata.bench.pages.BUILTIN_SCRIPTS`)."""
    return (*(p.name for p in stream.pack_config(pack=pack).pages), *pages.BUILTIN_SCRIPTS)


class Live(NamedTuple):
    """What a pack's live run measured."""

    events_per_s: float  # changes, presence and broadcasts recorded over the socket
    latencies_ms: list[float]  # commit → buffer, of each table change over the socket


def live(pack: str, live_s: float) -> Live:
    """Run ``pack``'s embedded stack at :data:`RATE_FACTOR` × the demo's rate for ``live_s``
    seconds once its collector is subscribed, and measure what its collector recorded."""
    rate_per_s = RATE_FACTOR * DEMO_RATE_PER_S
    settings = Settings(connect_timeout_s=120)  # no project: the embedded default
    with connect(settings, scenario=pack, rate_per_s=rate_per_s) as collector:
        since = datetime.now(UTC)
        threading.Event().wait(live_s)  # the load runs on the stack's own threads meanwhile
        until = datetime.now(UTC)
        events = collector.buffer.snapshot(since=since, kinds=list(_LIVE_KINDS))
        latencies = realtime_latencies_ms(collector.buffer, since)
    over_socket = (events["source"] == EventSource.REALTIME) & (events["received_at"] < until)
    return Live(int(over_socket.sum()) / (until - since).total_seconds(), latencies)


class Filled(NamedTuple):
    """What a pack's filled recorder measured."""

    page: str  # the slowest page
    page_ms: float  # its median render time
    pages_over: int  # pages whose median render time is over PAGE_TARGET_MS
    bytes_per_event: float  # EventBuffer.nbytes ÷ events, before any render


def filled(pack: str, events: int, runs: int = 3, span_s: float = stream.SPAN_S) -> Filled:
    """Fill a recorder following ``pack``'s config with ``events`` events of its stream received
    over ``span_s`` seconds, then render each of its pages (:func:`page_names`) ``runs`` times,
    each a first render."""
    from rtdata import ui

    full = stream.recorder(stream.pack_config(pack=pack))
    stream.fill(full, events, pack=pack, span_s=span_s)
    # Taken before any render: a snapshot's decoded fields would add to it.
    bytes_per_event = full.buffer.nbytes / len(full.buffer)
    names = page_names(pack)
    times: dict[str, float] = {}
    try:
        ui.use_recorder(full)
        for name in names:
            pages.render(name, 1)  # imports and sets up what the timed runs reuse
            times[name] = pages.render(name, runs).wall_ms
            logger.info("bench packs: %s page %s: %.0f ms", pack, name, times[name])
    finally:
        ui.use_recorder(None)
    slowest = max(times, key=times.__getitem__)
    over = sum(ms > PAGE_TARGET_MS for ms in times.values())
    return Filled(slowest, times[slowest], over, bytes_per_event)


def bench_packs(
    events: int = 1_000_000, live_s: float = 10.0, runs: int = 3, span_s: float = stream.SPAN_S
) -> list[Figure]:
    """Every pack's live ingest rate and commit → buffer p99 at ten times the demo's rate,
    its slowest page with ``events`` received over ``span_s`` seconds buffered and its bytes per
    buffered event, each beside the hospital's (see the module's docstring)."""
    rate_per_s = RATE_FACTOR * DEMO_RATE_PER_S
    size, key = pages.sized(events)
    figures: list[Figure] = []
    for pack in pack_order():
        logger.info("bench packs: %s live for %g s at %g writes/s", pack, live_s, rate_per_s)
        events_per_s, latencies = live(pack, live_s)
        logger.info("bench packs: %s with %s events buffered", pack, size)
        page, page_ms, over, bytes_per_event = filled(pack, events, runs, span_s)
        gc.collect()  # the filled recorders are garbage now; do not carry them to the next
        count = len(page_names(pack))
        over_text = "every page within it" if over == 0 else f"{over} of {count} pages over it"
        figures += [
            Figure(f"packs.{pack}.ingest_events_per_s", events_per_s, "events/s", f"{pack}: live, embedded stack at {rate_per_s:g} writes/s ({RATE_FACTOR}× the demo's rate) for {live_s:g} s: changes, presence and broadcasts recorded over the socket a second"),
            Figure(f"packs.{pack}.commit_to_buffer_p99_ms", percentile(latencies, 99), "ms", f"{pack}: same run, commit → collector buffer p99 of {len(latencies):,} table changes"),
            Figure(f"packs.{pack}.slowest_page_{key}_ms", page_ms, "ms", f"{pack}: slowest of its {count} pages, {page!r}, {size} events of its stream buffered, first render, median of {runs} (target ≤ {PAGE_TARGET_MS:g} ms: {over_text})"),
            Figure(f"packs.{pack}.bytes_per_event", bytes_per_event, "B", f"{pack}: EventBuffer.nbytes ÷ events after the {size}-event fill (the estimate of buffer.nbytes_per_event)"),
        ]  # fmt: skip
    return [_beside_baseline(f) for f in figures]


def _beside_baseline(figure: Figure) -> Figure:
    pack, _, name = figure.key.removeprefix("packs.").partition(".")
    return figure if pack == BASELINE else replace(figure, baseline=f"packs.{BASELINE}.{name}")
