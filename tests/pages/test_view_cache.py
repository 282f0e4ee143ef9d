"""The view cache every page computes through (``ui.cached_view``): many viewers, one
computation."""

from __future__ import annotations

import concurrent.futures
import threading
import time
import types
from datetime import UTC, datetime

import pandas as pd
import pytest

from rtdata import ui
from rtdata.events import Event
from rtdata.recorder import Recorder
from rtdata.settings import Settings
from rtdata.views.widgets import tiles
from tests.support import timeout_s


def test_viewers_that_miss_at_once_compute_a_view_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Eight sessions ask for an expired view at the same moment: one computes, the rest wait
    # for its result. The computation only returns once every session has reached the view's
    # lock, so without single flight all eight would compute (and time out here).
    shared = Recorder(Settings())
    viewers = 8
    arrived = threading.Semaphore(0)

    class Arrivals:  # the view's lock, counting the sessions that reach it
        def __init__(self) -> None:
            self.lock = threading.RLock()

        def __enter__(self) -> None:
            arrived.release()
            self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    monkeypatch.setitem(ui._computing, ("single-flight", shared.uid), Arrivals())
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        for _ in range(viewers):
            assert arrived.acquire(timeout=timeout_s(10)), "the other sessions never arrived"
        return 7

    with concurrent.futures.ThreadPoolExecutor(viewers) as pool:
        futures = [
            pool.submit(ui.cached_view, "single-flight", shared, compute) for _ in range(viewers)
        ]
        results = [f.result() for f in futures]
    assert results == [7] * viewers
    assert calls == [1]


def test_views_are_shared_across_viewers_even_while_the_buffer_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Viewers refreshing within VIEW_MAX_AGE_S share one computation, even on a busy feed whose
    # buffer version changes between their refreshes; a view older than that is recomputed.
    shared = Recorder(Settings())
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    monkeypatch.setattr(ui, "VIEW_MAX_AGE_S", 0.25)  # the product's default
    started = time.monotonic()
    results = []
    for _ in range(20):
        shared.buffer.append(
            Event(time.time_ns(), None, "broadcast", "c", None, "e", None, None, None)
        )
        results.append(ui.cached_view("shared-across-viewers", shared, compute))
    if time.monotonic() - started < ui.VIEW_MAX_AGE_S:  # a slow machine may need a second
        assert calls == [1]
    assert len(calls) <= 2
    ui.VIEW_MAX_AGE_S, saved = 0.0, ui.VIEW_MAX_AGE_S
    try:  # without the age allowance, a changed buffer means a new computation
        shared.buffer.append(
            Event(time.time_ns(), None, "broadcast", "c", None, "e", None, None, None)
        )
        before = len(calls)
        ui.cached_view("shared-across-viewers", shared, compute)
        assert len(calls) == before + 1
    finally:
        ui.VIEW_MAX_AGE_S = saved


def test_a_view_on_a_quiet_buffer_moves_with_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A tile whose filter compares with now() changes while no row does: the view cache
    # recomputes a view whose buffer did not change once it is a second old, so the tile (and
    # its sparkline) follows the clock. The cache's clock is driven by hand here.
    shared = Recorder(Settings())
    clock_s = [1_714_564_800.0]
    monkeypatch.setattr(ui, "time", types.SimpleNamespace(time=lambda: clock_s[0]))
    spec = tiles.TileSpec("Past their time", "items", filter="expires_at=lt.now()")
    rows = pd.DataFrame(
        {"expires_at": pd.Series(["2024-05-01T12:00:00.500+00:00", None], dtype=object)}
    )
    history = tiles.TileHistory()

    def compute() -> tiles.TileView:
        now = datetime.fromtimestamp(clock_s[0], UTC)
        view = tiles.compute(spec, rows, now, history.points(spec, now))
        history.record(spec, now, view.value)
        return view

    first = ui.cached_view("quiet-tile", shared, compute)
    clock_s[0] += 0.5  # within the second: the same view
    assert ui.cached_view("quiet-tile", shared, compute) is first
    assert first.value == 0
    clock_s[0] += 0.6
    moved = ui.cached_view("quiet-tile", shared, compute)
    assert moved.value == 1
    assert [value for _, value in moved.sparkline] == [0.0, 1.0]
