"""``pages``: server-side render time of each page of the hospital pack with 1M events buffered,
beside the same page on an empty buffer; and of :data:`EIGHT_WIDGETS`, a page holding one widget
of each type, against the same 1M events.

The recorder follows the pack's ``rtdata.toml`` (plus :data:`rtdata.bench.stream.BENCH_CHANNELS`
and the eight-widget page) and is filled by :func:`rtdata.bench.stream.fill`: the pack's own
simulator writes as Realtime changes, staff presence, and broadcast alerts. The empty buffer
holds only a snapshot of the same tables' current rows, as a freshly started collector has.

Configured pages render through :func:`rtdata.dashboard.render.show`, the built-in ones from
their scripts, in Streamlit's AppTest; the time is taken inside the script, around the page.
Each run is a first render: the view cache (:func:`rtdata.ui.cached_view`) is emptied before
it, so the figure is the one computation per widget that a tick costs, not a cache hit another
viewer would get. Beside each wall time is the CPU time of the thread that rendered, which the
machine's other load inflates less.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, NamedTuple

import numpy as np

from rtdata.bench import stream
from rtdata.bench.common import Figure

if TYPE_CHECKING:
    from rtdata.recorder import Recorder

__all__ = [
    "BUILTIN_SCRIPTS",
    "EIGHT_WIDGETS",
    "HOSPITAL_PAGES",
    "PAGES",
    "Render",
    "bench_pages",
    "forget_views",
    "recorders",
    "render",
    "sized",
]

HOSPITAL_PAGES: Final = ("overview", "emergencies", "health", "realtime", "events", "presence")
"""Every page of the hospital dashboard, in its order."""

PAGES: Final = (*HOSPITAL_PAGES, "eight")
"""The pages measured: the hospital dashboard's, then :data:`EIGHT_WIDGETS`."""

BUILTIN_SCRIPTS: Final = {"realtime": "realtime_health.py", "events": "events.py"}
"""Built-in pages: their scripts in ``rtdata/dashboard/pages/`` (as the router runs them)."""

EIGHT_WIDGETS: Final = """
# One widget of each type over the hospital pack's tables and channels.
[[pages]]
name = "eight"
title = "Eight widgets"

  [[pages.widgets]]
  type = "tiles"
  events_per_min = true
    [[pages.widgets.tiles]]
    label = "Active emergencies"
    table = "emergency_requests"
    filter = "status=in.(pending,accepted,en_route,on_scene)"
    [[pages.widgets.tiles]]
    label = "Free beds"
    table = "hospital_resources"
    aggregate = "sum"
    column = "beds_available"
    worse = "lower"
    [[pages.widgets.tiles]]
    label = "Waiting"
    table = "waitlist_entries"
    filter = "status=eq.waiting"

  [[pages.widgets]]
  type = "lifecycle"
  table = "emergency_requests"
  status_column = "status"
  statuses = ["pending", "accepted", "en_route", "on_scene", "completed", "cancelled"]
  terminal = ["completed", "cancelled"]
  priority_column = "priority"
  created_column = "created_at"
  sla_s = { pending = 120, accepted = 600 }
  spans = [["pending", "accepted"], ["accepted", "completed"]]
  group_column = "hospital_id"
  toast_filter = "priority=eq.1"
  toast_template = "Critical {emergency_type} #{id}: {pickup_address}"

  [[pages.widgets]]
  type = "queue"
  table = "emergency_requests"
  columns = ["id", "priority", "status", "emergency_type", "hospital_id", "created_at"]
  filter = "status=in.(pending,accepted,en_route,on_scene)"
  order = "priority.asc"
  limit = 20

  [[pages.widgets]]
  type = "breakdown"
  table = "emergency_requests"
  by = ["hospital_id", "status"]
  filter = "status=in.(pending,accepted,en_route,on_scene)"

  [[pages.widgets]]
  type = "feed"
  channel = "alerts"
  template = "{patient_id}{patient_name} · hospital {hospital_id}"
  missing = ""
  limit = 20

  [[pages.widgets]]
  type = "series"
  table = "vital_signs"
  time_column = "recorded_at"
  columns = ["heart_rate", "spo2"]
  entity_column = "patient_id"
  cohort_column = "hospital_id"
  from_events = true
  bands = { heart_rate = [50, 120], spo2 = [92, 100] }

  [[pages.widgets]]
  type = "map"
  table = "emergency_requests"
  lat_column = "lat"
  lon_column = "lon"
  filter = "status=in.(pending,accepted,en_route,on_scene)"
  colour_column = "status"
  hover = "#{id} {emergency_type} · priority {priority}"
  geojson = "assets/lisbon_districts.geojson"

  [[pages.widgets]]
  type = "roster"
  channels = ["online"]
  group_by = ["role", "hospital_id"]
"""
"""The eight-widget page, as ``rtdata.toml`` text appended to the pack's config."""

EIGHT_TARGET_MS: Final = 300.0
"""The eight-widget page's render-time target with 1M events buffered."""


def sized(events: int) -> tuple[str, str]:
    """Return how a figure's text (``1M``, ``20,000``) and key (``1m``, ``20000``) name a
    count of buffered events."""
    return ("1M", "1m") if events == 1_000_000 else (f"{events:,}", f"{events}")


def recorders(events: int) -> tuple[Recorder, Recorder]:
    """Return ``(empty, full)`` recorders following the pack's config with the eight-widget
    page: ``full`` holds ``events`` events of the pack's stream, ``empty`` only a snapshot of
    the same tables' rows."""
    config = stream.pack_config(stream.BENCH_CHANNELS + EIGHT_WIDGETS)
    full, empty = stream.recorder(config), stream.recorder(config)
    stream.fill(full, events)
    stream.snapshot_of(full, empty)
    return empty, full


_RENDERED: list[tuple[float, float]] = []  # (wall ms, CPU ms) of each timed run, from _page


def _page(name: str, script: str | None) -> None:
    # Runs as a Streamlit script (AppTest.from_function), so it imports what it uses. It times
    # the page itself: AppTest's own work around a run (it scans every installed package for
    # components on each one) is no part of what a viewer's refresh costs the server.
    import time

    from rtdata import ui
    from rtdata.bench import pages
    from rtdata.dashboard import render, run_script

    start, start_cpu = time.perf_counter(), time.thread_time()
    if script is None:
        render.show(name, ui.recorder())
    else:
        run_script(f"pages/{script}")
    cpu_ms = (time.thread_time() - start_cpu) * 1000
    pages._RENDERED.append(((time.perf_counter() - start) * 1000, cpu_ms))


def forget_views() -> None:
    """Empty :func:`rtdata.ui.cached_view`'s cache, so the next render computes every view."""
    from rtdata import ui

    # A bench-only reach into the cache: a first render is what each tick costs once.
    with ui._cache_lock:
        ui._cache.clear()


class Render(NamedTuple):
    """Medians of a page's timed renders."""

    wall_ms: float
    cpu_ms: float  # of the thread that ran the page: what the machine's other load adds not


def render(name: str, runs: int = 3) -> Render:
    """Render page ``name`` (configured, or a key of :data:`BUILTIN_SCRIPTS`) of the current
    recorder (:func:`rtdata.ui.use_recorder`) ``runs`` times in Streamlit's AppTest, each
    after :func:`forget_views`.

    Raises:
        RuntimeError: The page raised.
    """
    # Streamlit's own test harness renders a page server-side exactly as a session would; it
    # is imported here only, so rtdata.ui stays the one module that uses Streamlit at run time.
    from streamlit.testing.v1 import AppTest

    for _ in range(runs):
        app = AppTest.from_function(
            _page, args=(name, BUILTIN_SCRIPTS.get(name)), default_timeout=120
        )
        forget_views()
        app.run()
        if app.exception:
            raise RuntimeError(f"the {name} page raised: {app.exception[0].message}")
    timed, _RENDERED[:] = _RENDERED[:], []
    if len(timed) != runs:
        raise RuntimeError(f"the {name} page finished {len(timed)} of {runs} runs")
    wall, cpu = zip(*timed, strict=True)
    return Render(float(np.median(wall)), float(np.median(cpu)))


def bench_pages(events: int = 1_000_000, runs: int = 3) -> list[Figure]:
    """Render time of every hospital page and of the eight-widget page with ``events``
    buffered, beside the same page on an empty buffer (median of ``runs`` first renders)."""
    from rtdata import ui

    empty, full = recorders(events)
    size, key = sized(events)
    figures = []
    try:
        ui.use_recorder(empty)
        for name in PAGES:  # first runs import and set up what every later one reuses
            render(name, 1)
        for name in PAGES:
            ui.use_recorder(empty)
            base = render(name, runs)
            ui.use_recorder(full)
            got = render(name, runs)
            target = f" (target ≤ {EIGHT_TARGET_MS:g} ms)" if name == "eight" else ""
            what = "one widget of each type" if name == "eight" else f"{name} page"
            figures += [
                Figure(f"pages.{name}_empty_ms", base.wall_ms, "ms", f"{what}, empty buffer (the tables' rows only), first render"),
                Figure(f"pages.{name}_{key}_ms", got.wall_ms, "ms", f"{what}, {size} events buffered, first render{target}", f"pages.{name}_empty_ms"),
                Figure(f"pages.{name}_empty_cpu_ms", base.cpu_ms, "ms", f"{what}, empty buffer: CPU of the rendering thread"),
                Figure(f"pages.{name}_{key}_cpu_ms", got.cpu_ms, "ms", f"{what}, {size} events buffered: CPU of the rendering thread", f"pages.{name}_empty_cpu_ms"),
            ]  # fmt: skip
    finally:
        ui.use_recorder(None)
    return figures
