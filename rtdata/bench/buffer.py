"""``buffer``: EventBuffer append, snapshot and memory beside naive pandas growth."""

from __future__ import annotations

import time

from rtdata.bench.common import (
    Figure,
)


def bench_buffer(rows: int = 1_000_000, concat_rows: int = 2_000) -> list[Figure]:
    """Measure EventBuffer append, snapshot and memory against naive pandas growth.

    Events are typical change rows: an ``emergency_requests`` record as ~260 bytes of JSON
    text with 11 fields, a key, and an old record on one event in ten.
    """
    import gc
    import os
    import statistics
    from collections import deque

    import pandas as pd

    from rtdata.buffer import EventBuffer
    from rtdata.events import Event, EventKind

    base_ns = 1_714_557_600_000_000_000
    streets = ("Oak Ave", "Main St", "Mill Lane", "Harbour Rd", "Elm Close")
    emergencies = ("cardiac", "trauma", "respiratory", "stroke", "burns")

    def typical(i: int) -> Event:
        record = (
            f'{{"id":{i},"hospital_id":{i % 40 + 1},"patient_name":"Patient {i % 99991:05d}",'
            f'"emergency_type":"{emergencies[i % 5]}","priority":{i % 5 + 1},"status":"pending",'
            f'"lat":{51.3 + i % 9973 / 1e4:.4f},"lon":{-0.4 + i % 7919 / 1e4:.4f},'
            f'"pickup_address":"{i % 400 + 1} {streets[i % 5]}",'
            f'"created_at":"2024-05-01T10:00:00+00:00","updated_at":"2024-05-01T10:00:00+00:00"}}'
        )
        update = i % 10 == 9
        return Event(
            received_at_ns=base_ns + i * 100_000,
            commit_ns=base_ns + i * 100_000 - 2_000_000,
            kind=EventKind.POSTGRES_CHANGES,
            channel="hospital",
            table="emergency_requests",
            op="UPDATE" if update else "INSERT",
            key=str(i),
            record=record,
            old_record=record.replace('"pending"', '"accepted"') if update else None,
        )

    def resident_bytes() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    # Memory first, while the heap holds little else: events are made and appended 10,000 at
    # a time, so the growth is the buffer's (plus at most one batch of freed events).
    gc.collect()
    before = resident_bytes()
    buffer = EventBuffer(max_rows=rows)
    for start in range(0, rows, 10_000):
        buffer.extend([typical(i) for i in range(start, min(start + 10_000, rows))])
    gc.collect()
    bytes_per_event = (resident_bytes() - before) / len(buffer)
    nbytes_per_event = buffer.nbytes / len(buffer)

    snapshot_s = []
    for _ in range(5):
        start_s = time.perf_counter()
        frame = buffer.snapshot()
        snapshot_s.append(time.perf_counter() - start_s)
        del frame
    del buffer

    events = [typical(i) for i in range(rows)]
    buffer = EventBuffer(max_rows=rows)
    start_s = time.perf_counter()
    for event in events:
        buffer.append(event)
    append_eps = rows / (time.perf_counter() - start_s)
    del buffer

    # field-notes §4: a deque of dict rows, made into a DataFrame on every read.
    recent = deque(
        (
            {
                "received_at_ns": e.received_at_ns,
                "commit_ns": e.commit_ns,
                "kind": e.kind,
                "channel": e.channel,
                "table": e.table,
                "op": e.op,
                "key": e.key,
                "record": e.record,
                "old_record": e.old_record,
                "source": e.source,
            }
            for e in events
        ),
        maxlen=rows,
    )
    baseline_s = []
    for _ in range(3):
        start_s = time.perf_counter()
        frame = pd.DataFrame(list(recent))
        baseline_s.append(time.perf_counter() - start_s)
        del frame
    del recent

    grown = pd.DataFrame()
    start_s = time.perf_counter()
    for event in events[:concat_rows]:
        row = pd.DataFrame([event._asdict()])
        grown = pd.concat([grown, row], ignore_index=True)
    concat_eps = concat_rows / (time.perf_counter() - start_s)
    del events, grown

    snapshot_ms = statistics.median(snapshot_s) * 1e3
    baseline_ms = statistics.median(baseline_s) * 1e3
    return [
        Figure("buffer.naive_concat_eps", concat_eps, "events/s", f"per-row pd.concat growing a DataFrame to {concat_rows:,} rows (quadratic: slower as it grows)"),
        Figure("buffer.append_eps", append_eps, "events/s", f"EventBuffer.append of {rows:,} pre-built typical events", "buffer.naive_concat_eps"),
        Figure("buffer.append_vs_concat_ratio", append_eps / concat_eps, "×", "append rate ÷ per-row pd.concat rate"),
        Figure("buffer.snapshot_baseline_ms", baseline_ms, "ms", f"pd.DataFrame(list(deque)) of {rows:,} dict rows (field-notes §4), median of 3; raw int and str columns, no timestamps or categoricals"),
        Figure("buffer.snapshot_1m_ms", snapshot_ms, "ms", f"EventBuffer.snapshot() of {rows:,} events, typed columns, median of 5", "buffer.snapshot_baseline_ms"),
        Figure("buffer.bytes_per_event", bytes_per_event, "B", f"resident-set growth (/proc/self/statm) filling a {rows:,}-event buffer in 10,000-event batches, ÷ events"),
        Figure("buffer.nbytes_per_event", nbytes_per_event, "B", "the buffer's own estimate (EventBuffer.nbytes) ÷ events", "buffer.bytes_per_event"),
    ]  # fmt: skip
