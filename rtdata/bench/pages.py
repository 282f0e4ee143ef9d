"""``pages``: server-side render time of each page with 1M events buffered."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from rtdata.bench.common import (
    Figure,
)
from rtdata.dashboard import PAGES

PAGE_FILES: Final = (
    "overview.py",
    "emergencies.py",
    "health.py",
    "realtime_health.py",
    "events.py",
    "presence.py",
)


def _page_collector(events: int) -> Any:
    """A recorder (no connection) with hospital tables and ``events`` buffered changes."""
    from rtdata.events import Event, EventKind, event_from_row
    from rtdata.recorder import Recorder
    from rtdata.scenarios import DEFAULT_SCENARIO, get_scenario
    from rtdata.settings import Settings

    collector = Recorder(Settings())
    scenario = get_scenario(DEFAULT_SCENARIO).scenario(seed=1)
    now = datetime.now(UTC)
    next_id: dict[str, int] = {}
    for _ in range(3000):  # realistic table state from the scenario's own writes
        write = scenario.next_write(now)
        if write.method != "POST":
            continue
        rows = []
        for row in write.rows():
            if "id" not in row:
                next_id[write.table] = next_id.get(write.table, 0) + 1
                row = {**row, "id": next_id[write.table]}
            rows.append(row)
            collector.record(event_from_row(row, write.table, time.time_ns(), ("id",)))
        scenario.apply_result(write, rows)
    base = time.time_ns() - events * 1000
    record = orjson.dumps({"id": 1, "status": "pending", "priority": 2, "hospital_id": 1}).decode()
    collector.buffer.extend(
        Event(base + i * 1000, base + i * 1000 - 3_000_000, EventKind.POSTGRES_CHANGES, "rtdata-tables",
              "emergency_requests", "UPDATE", str(i % 5000), record, None)
        for i in range(events)
    )  # fmt: skip
    return collector


def _render_ms(page: Path, runs: int = 3) -> float:
    # Streamlit's own test harness renders a page server-side exactly as a session would; it is
    # imported here only, so rtdata.ui stays the one module that uses Streamlit at run time.
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs):
        app = AppTest.from_file(str(page), default_timeout=120)
        start = time.perf_counter()
        app.run()
        times.append((time.perf_counter() - start) * 1000)
        if app.exception:
            raise RuntimeError(f"{page.name} raised: {app.exception[0].message}")
    return float(np.median(times))


def bench_pages(events: int = 1_000_000) -> list[Figure]:
    """Server-side render time of each page with ``events`` buffered, beside the same page on an
    empty buffer (median of 3 runs each, Streamlit's AppTest)."""
    from rtdata import ui

    figures = []
    empty, full = _page_collector(0), _page_collector(events)
    try:
        for name in PAGE_FILES:
            stem = name.removesuffix(".py")
            ui.use_recorder(empty)
            base_ms = _render_ms(PAGES / name)
            ui.use_recorder(full)
            ms = _render_ms(PAGES / name)
            figures.append(
                Figure(f"pages.{stem}_empty_ms", base_ms, "ms", f"{stem} page, empty buffer")
            )
            figures.append(
                Figure(f"pages.{stem}_1m_ms", ms, "ms", f"{stem} page, {events:,} events buffered (target ≤ 300 ms)", f"pages.{stem}_empty_ms")
            )  # fmt: skip
    finally:
        ui.use_recorder(None)
    return figures
