"""Metrics: windows, rates, time series and alerts on synthetic clocks; the facade across threads."""

from __future__ import annotations

import json
import math
import threading
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rtdata.events import Event
from rtdata.metrics import (
    TABLE_COLUMN_PREFIX,
    AlertRules,
    Metrics,
    MetricsSnapshot,
    RateCounter,
    SlidingWindow,
    TimeSeries,
)

BASE_NS = 1_714_557_600_000_000_000  # 2024-05-01T10:00:00Z, a whole number of minutes
S = 1_000_000_000


def at(seconds: float) -> int:
    return BASE_NS + round(seconds * S)


def change(t_s: float, table: str | None = "orders", latency_ms: float | None = 5.0) -> Event:
    received = at(t_s)
    commit = None if latency_ms is None else received - round(latency_ms * 1e6)
    kind = "postgres_changes" if table is not None else "broadcast"
    return Event(received, commit, kind, "c", table, "INSERT", "1", None, None)


# ---------------------------------------------------------------- SlidingWindow


def test_percentiles_match_numpy_and_expire() -> None:
    window = SlidingWindow(60.0, chunk_size=16)
    for i in range(1, 101):
        window.add(at(i), float(i * i))
    expected = np.percentile([float(i * i) for i in range(41, 101)], [50, 95, 99])
    got = window.percentiles(at(100))
    assert list(got) == ["p50", "p95", "p99"]
    assert list(got.values()) == pytest.approx(expected.tolist())
    assert len(window.values(at(100))) == 60  # (40 s, 100 s]: the window's start is exclusive
    assert window.values(at(100), span_s=10).tolist() == [float(i * i) for i in range(91, 101)]
    assert window.percentiles(at(100), qs=(0, 100)) == {"p0": 41.0**2, "p100": 100.0**2}
    assert all(math.isnan(v) for v in window.percentiles(at(161)).values())


def test_empty_window_gives_nan() -> None:
    got = SlidingWindow(10.0).percentiles(at(0))
    assert list(got) == ["p50", "p95", "p99"]
    assert all(math.isnan(v) for v in got.values())


@pytest.mark.parametrize("chunk_size", [1, 7, 64])
def test_window_matches_brute_force_with_jittered_times(chunk_size: int) -> None:
    rng = np.random.default_rng(chunk_size)
    times = BASE_NS + np.arange(3000) * 10_000_000 + rng.integers(-50_000_000, 50_000_000, 3000)
    values = rng.exponential(40.0, 3000)
    window = SlidingWindow(5.0, chunk_size=chunk_size)
    for i, (t, v) in enumerate(zip(times.tolist(), values.tolist(), strict=True)):
        window.add(t, v)
        if i % 250 == 249:
            now = int(times[: i + 1].max())  # queries look from the newest sample on
            seen = times[: i + 1]
            inside = values[: i + 1][(seen > now - 5 * S) & (seen <= now)]
            assert sorted(window.values(now).tolist()) == sorted(inside.tolist())
            expected = np.percentile(inside, [50, 95, 99]).tolist()
            assert list(window.percentiles(now).values()) == pytest.approx(expected)


def test_window_prunes_old_samples_and_respects_max_samples() -> None:
    window = SlidingWindow(1.0, chunk_size=100)
    for i in range(10_000):
        window.add(BASE_NS + i * 1_000_000, 1.0)  # one per millisecond: 1000 in the window
    assert len(window) <= 1000 + 2 * 100
    capped = SlidingWindow(60.0, chunk_size=10, max_samples=50)
    for i in range(200):
        capped.add(at(i / 10), float(i))
    assert len(capped) <= 50 + 10
    assert capped.values(at(20)).max() == 199.0


# ---------------------------------------------------------------- RateCounter


def test_rates_per_key_over_the_window() -> None:
    counter: RateCounter[tuple[str, str]] = RateCounter(10.0)
    for second in range(20):
        counter.add(at(second), ("orders", "postgres_changes"), 3)
        if second % 2 == 0:
            counter.add(at(second), ("users", "postgres_changes"))
    rates = counter.rates(at(19))  # buckets starting in (9 s, 19 s]
    assert rates == {("orders", "postgres_changes"): 3.0, ("users", "postgres_changes"): 0.5}
    assert counter.counts(at(19), span_s=2) == {
        ("orders", "postgres_changes"): 6,
        ("users", "postgres_changes"): 1,
    }
    assert counter.rates(at(40)) == {}


def test_rates_take_late_samples_and_drop_too_old_ones() -> None:
    counter: RateCounter[str] = RateCounter(10.0)
    counter.add(at(5), "k")
    counter.add(at(8), "k")
    counter.add(at(6.5), "k")  # late but inside the window: a bucket between two others
    counter.add(at(3), "k")  # late, before every bucket
    assert counter.counts(at(8)) == {"k": 4}
    counter.add(at(30), "k")
    counter.add(at(5), "k")  # older than the window: ignored
    assert counter.counts(at(30)) == {"k": 1}


# ---------------------------------------------------------------- TimeSeries


def test_time_series_buckets() -> None:
    series = TimeSeries(bucket_s=1.0)
    series.add_state(at(0), "subscribed")
    for i, latency in enumerate([1.0, 2.0, 3.0, 10.0]):
        series.add_event(at(0.1 + i / 10), "orders", latency)
    series.add_event(at(0.9), None, None)
    series.add_probe_rtt(at(0.2), 7.0)
    series.add_probe_rtt(at(0.8), 9.0)
    series.add_reconnect(at(3.5))
    series.add_event(at(3.6), "users", 4.0)
    series.add_event(at(3.0), "users", None)  # earlier than bucket 3 opened: counted there
    frame = series.frame()
    assert str(frame["time"].dtype) == "datetime64[ns, UTC]"
    assert frame["time"].tolist() == [pd.Timestamp(at(s), unit="ns", tz="UTC") for s in range(4)]
    assert frame["events_total"].tolist() == [5, 0, 0, 2]
    assert frame[TABLE_COLUMN_PREFIX + "orders"].tolist() == [4, 0, 0, 0]
    assert frame[TABLE_COLUMN_PREFIX + "users"].tolist() == [0, 0, 0, 2]
    expected = np.percentile([1.0, 2.0, 3.0, 10.0], [50, 95, 99]).tolist()
    first = frame.iloc[0]
    assert [first["latency_p50_ms"], first["latency_p95_ms"], first["latency_p99_ms"]] == (
        pytest.approx(expected)
    )
    assert frame["latency_samples"].tolist() == [4, 0, 0, 1]
    assert np.isnan(frame["latency_p99_ms"].iloc[1])
    assert frame["probe_rtt_ms"].iloc[0] == 9.0
    assert frame["probe_rtt_ms"].iloc[1:].isna().all()
    assert frame["state"].tolist() == ["subscribed"] * 4  # carried through quiet buckets
    assert frame["reconnects"].tolist() == [0, 0, 0, 1]


def test_time_series_is_bounded() -> None:
    series = TimeSeries(bucket_s=2.0, max_buckets=5)
    for second in range(0, 40, 2):
        series.add_event(at(second), "orders", 1.0)
    frame = series.frame()
    assert len(frame) == 5
    assert frame["time"].iloc[0] == pd.Timestamp(at(30), unit="ns", tz="UTC")
    assert len(series._rows) <= 5  # memory, not just the frame, is bounded


def test_time_series_carries_the_state_past_dropped_buckets() -> None:
    series = TimeSeries(max_buckets=3)
    series.add_state(at(0), "subscribed")
    series.add_event(at(10), "orders", None)
    series.add_event(at(12), "orders", None)
    frame = series.frame()
    assert frame["time"].iloc[0] == pd.Timestamp(at(10), unit="ns", tz="UTC")
    assert frame["state"].tolist() == ["subscribed"] * 3


def test_time_series_with_many_tables() -> None:
    series = TimeSeries()
    for i in range(150):
        series.add_event(at(0), f"t{i:03}", None)
    frame = series.frame()
    assert frame.shape == (1, 9 + 150)
    assert frame[TABLE_COLUMN_PREFIX + "t149"].tolist() == [1]


def test_empty_time_series_frame_has_the_columns() -> None:
    frame = TimeSeries().frame()
    assert frame.empty
    assert list(frame.columns) == [
        "time",
        "events_total",
        "latency_p50_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "latency_samples",
        "probe_rtt_ms",
        "state",
        "reconnects",
    ]


# ---------------------------------------------------------------- alerts


def blank() -> MetricsSnapshot:
    return Metrics().snapshot(at(0))


def test_p99_alert_is_edge_triggered() -> None:
    rules = AlertRules()
    slow = replace(blank(), latency_60s_ms={"p99": 1500.0}, latency_samples_60s=20)
    fast = replace(slow, latency_60s_ms={"p99": 900.0})
    assert rules.evaluate(at(0), replace(slow, latency_samples_60s=19)) == []  # too few samples
    [alert] = rules.evaluate(at(1), slow)
    assert (alert.name, alert.severity, alert.value, alert.threshold) == (
        "p99_latency",
        "warning",
        1500.0,
        1000.0,
    )
    assert alert.at_ns == at(1)
    assert rules.evaluate(at(2), slow) == []
    assert rules.evaluate(at(3), fast) == []
    assert [a.name for a in rules.evaluate(at(4), slow)] == ["p99_latency"]


def test_p99_alert_from_recorded_events() -> None:
    metrics = Metrics()
    for i in range(20):
        metrics.record_event(change(i, latency_ms=2000.0 if i == 19 else 10.0))
    assert metrics.snapshot(at(19)).latency_60s_ms["p99"] > 1000.0
    assert [a.name for a in metrics.check_alerts(at(19))] == ["p99_latency"]
    assert metrics.check_alerts(at(20)) == []


def steady(metrics: Metrics, start_s: int, minutes: int, table: str = "orders") -> int:
    """Record one event every 10 s (6 a minute, the default busy threshold); return the last."""
    last = start_s
    for second in range(start_s, start_s + minutes * 60, 10):
        metrics.record_event(change(second, table))
        last = second
    return last


def test_silence_alert_on_a_busy_table() -> None:
    metrics = Metrics()
    last = steady(metrics, 0, 11)  # 11 minutes: the 10 before the newest event were observed
    steady(metrics, 0, 1, table="rare")  # 6 events in 10 minutes: not busy
    assert metrics.snapshot(at(last)).busy_events_per_min_by_table["orders"] == 6.0
    assert metrics.check_alerts(at(last + 59)) == []
    [alert] = metrics.check_alerts(at(last + 60))
    assert (alert.name, alert.subject, alert.severity) == ("table_silent", "orders", "critical")
    assert alert.value == 60.0
    assert metrics.check_alerts(at(last + 3600)) == []  # still silent: no repeat
    metrics.record_event(change(last + 3601))
    assert metrics.check_alerts(at(last + 3601)) == []  # cleared
    again = steady(metrics, last + 3602, 10)
    assert [a.subject for a in metrics.check_alerts(at(again + 60))] == ["orders"]


def test_silence_needs_the_busy_rate() -> None:
    metrics = Metrics(started_ns=at(-600))  # the baseline was observed: only the rate decides
    for second in range(0, 600, 10):
        if second != 0:  # 59 events in 10 minutes: 5.9 a minute
            metrics.record_event(change(second))
    assert metrics.check_alerts(at(590 + 600)) == []


def test_reconnect_storm_alert() -> None:
    metrics = Metrics()
    for second in range(4):
        metrics.record_reconnect(at(second))
    assert metrics.check_alerts(at(3)) == []
    metrics.record_reconnect(at(4))
    [alert] = metrics.check_alerts(at(4))
    assert (alert.name, alert.severity, alert.value, alert.threshold) == (
        "reconnect_storm",
        "critical",
        5,
        5,
    )
    metrics.record_reconnect(at(5))
    assert metrics.check_alerts(at(5)) == []
    assert metrics.check_alerts(at(302)) == []  # reconnects at 3, 4, 5 s remain: cleared
    for second in range(400, 405):
        metrics.record_reconnect(at(second))
    assert [a.name for a in metrics.check_alerts(at(404))] == ["reconnect_storm"]
    assert metrics.snapshot(at(404)).reconnects_total == 11


def test_presence_spike_alert() -> None:
    metrics = Metrics(started_ns=at(0))  # the 11 minutes before 660 s were observed
    for minute in range(10):
        metrics.record_presence(2, at(minute * 60 + 30))  # baseline: 2 a minute
    metrics.record_presence(7, at(610))
    assert metrics.check_alerts(at(660)) == []  # 7 > 3 × 2 but under the minimum of 10
    metrics.record_presence(3, at(620))
    snapshot = metrics.snapshot(at(660))
    assert (snapshot.presence_last_min, snapshot.presence_prev_10min_per_min) == (10, 2.0)
    [alert] = metrics.check_alerts(at(660))
    assert (alert.name, alert.value, alert.threshold) == ("presence_spike", 10, 6.0)
    assert metrics.check_alerts(at(665)) == []
    assert metrics.check_alerts(at(700)) == []  # the burst left the last minute: cleared
    metrics.record_presence(40, at(710))
    assert [a.name for a in metrics.check_alerts(at(710))] == ["presence_spike"]


def test_no_presence_spike_before_its_baseline_exists() -> None:
    # The demo's first presence joins used to fire "presence_spike ... (limit 0.0)".
    metrics = Metrics()
    metrics.record_state("subscribed", at(0))
    metrics.record_presence(12, at(5))
    assert metrics.check_alerts(at(5)) == []
    assert metrics.check_alerts(at(659)) == []  # the baseline window still starts before 0 s


def test_presence_spike_fires_once_the_baseline_exists() -> None:
    metrics = Metrics()
    metrics.record_state("subscribed", at(0))
    metrics.record_presence(12, at(5))  # the start-up burst: no alert
    for minute in range(1, 12):
        metrics.record_presence(2, at(minute * 60))
        assert metrics.check_alerts(at(minute * 60)) == []
    metrics.record_presence(30, at(720))
    [alert] = metrics.check_alerts(at(720))
    assert (alert.name, alert.value, alert.threshold) == ("presence_spike", 30, 6.0)


def test_rate_baselines_wait_for_their_window_pure() -> None:
    rules = AlertRules()
    spike = replace(blank(), observed_since_ns=at(0), presence_last_min=50)
    assert rules.active(at(659), spike) == []
    [alert] = rules.active(at(660), spike)
    assert (alert.name, alert.threshold) == ("presence_spike", 0.0)
    busy = replace(
        blank(),
        observed_since_ns=at(0),
        last_event_ns_by_table={"orders": at(599)},
        busy_events_per_min_by_table={"orders": 60.0},
    )
    assert rules.active(at(3600), busy) == []
    moved = replace(busy, last_event_ns_by_table={"orders": at(600)})
    assert [a.name for a in rules.active(at(3600), moved)] == ["table_silent"]


def test_no_silence_alert_from_a_start_up_snapshot() -> None:
    # Loading a table's rows at start is a burst, not the table's usual rate.
    metrics = Metrics()
    for i in range(100):
        metrics.record_event(change(0.01 * i, "beds"))
    assert metrics.check_alerts(at(61)) == []
    assert metrics.check_alerts(at(3600)) == []


def test_reconnect_storm_needs_no_baseline() -> None:
    metrics = Metrics()
    for second in range(5):
        metrics.record_reconnect(at(second))
    assert [a.name for a in metrics.check_alerts(at(4))] == ["reconnect_storm"]


def test_rules_reject_a_storm_window_longer_than_the_history() -> None:
    with pytest.raises(ValueError, match="reconnect_storm_window_s"):
        AlertRules(reconnect_storm_window_s=7200)


# ---------------------------------------------------------------- the facade


def test_snapshot_contents() -> None:
    metrics = Metrics()
    metrics.record_event(change(1, latency_ms=20.0))
    metrics.record_event(change(2, table=None, latency_ms=None))
    metrics.record_bytes(100)
    metrics.record_bytes(50)
    metrics.record_invalid("no table")
    metrics.record_invalid("no table")
    metrics.record_callback_error()
    metrics.record_probe_rtt(12.5, at(2))
    metrics.record_state("subscribed", at(0))
    metrics.record_gap(at(10), at(12), 7)
    metrics.record_gap(at(20), at(20.5), 0)
    metrics.set_buffer(2, 1024)
    snapshot = metrics.snapshot(at(30))
    assert snapshot.events_per_s_by_table_kind == {
        "orders/postgres_changes": 1 / 60,
        "-/broadcast": 1 / 60,
    }
    assert snapshot.latency_60s_ms == {"p50": 20.0, "p95": 20.0, "p99": 20.0}
    assert snapshot.latency_samples_60s == 1
    assert snapshot.latency_samples_10s == 0
    assert math.isnan(snapshot.latency_10s_ms["p99"])
    assert (snapshot.events_total, snapshot.last_event_ns) == (2, at(2))
    assert (snapshot.bytes_in_total, snapshot.callback_errors_total) == (150, 1)
    assert snapshot.invalid_by_reason == {"no table": 2}
    assert (snapshot.probe_rtt_ms, snapshot.connection_state) == (12.5, "subscribed")
    assert snapshot.gaps == [(at(10), at(12), 7), (at(20), at(20.5), 0)]
    assert snapshot.gap_time_total_s == 2.5
    assert (snapshot.buffer_rows, snapshot.buffer_bytes) == (2, 1024)
    data = snapshot.as_dict()
    assert data["latency_10s_ms"]["p99"] is None
    assert data["gaps"][0] == [at(10), at(12), 7]
    json.dumps(data, allow_nan=False)


def test_snapshot_is_a_copy() -> None:
    metrics = Metrics()
    metrics.record_event(change(1))
    metrics.record_invalid("bad")
    metrics.record_gap(at(0), at(1), 3)
    snapshot = metrics.snapshot(at(2))
    snapshot.invalid_by_reason["bad"] = 99
    snapshot.events_per_s_by_table_kind.clear()
    snapshot.latency_60s_ms["p99"] = -1.0
    snapshot.gaps.append((0, 0, 0))
    snapshot.last_event_ns_by_table["orders"] = 0
    again = metrics.snapshot(at(2))
    assert again.invalid_by_reason == {"bad": 1}
    assert again.events_per_s_by_table_kind == {"orders/postgres_changes": 1 / 60}
    assert again.latency_60s_ms["p99"] == 5.0
    assert again.gaps == [(at(0), at(1), 3)]
    assert again.last_event_ns_by_table == {"orders": at(1)}


def test_snapshot_lists_the_newest_1000_gaps_and_totals_all() -> None:
    metrics = Metrics()
    for i in range(1005):
        metrics.record_gap(at(i), at(i + 0.5), i)
    snapshot = metrics.snapshot(at(2000))
    assert len(snapshot.gaps) == 1000
    assert snapshot.gaps[0] == (at(5), at(5.5), 5)
    assert snapshot.gap_time_total_s == 1005 * 0.5


def test_series_from_the_facade() -> None:
    metrics = Metrics(bucket_s=1.0, max_buckets=10)
    metrics.record_state("connecting", at(0))
    metrics.record_event(change(0.5))
    metrics.record_reconnect(at(2.5))
    frame = metrics.series()
    assert frame["events_total"].tolist() == [1, 0, 0]
    assert frame["reconnects"].tolist() == [0, 0, 1]
    assert frame["state"].tolist() == ["connecting"] * 3


def test_one_writer_and_one_reader_thread() -> None:
    metrics = Metrics()
    n = 20_000
    events = [change(i / 1000, table=("orders", "users")[i % 2]) for i in range(n)]
    done = threading.Event()
    errors: list[BaseException] = []
    totals: list[int] = []

    def write() -> None:
        try:
            for i, event in enumerate(events):
                metrics.record_event(event)
                metrics.record_bytes(10)
                if i % 100 == 0:
                    metrics.record_invalid("bad")
                    metrics.record_probe_rtt(1.0, event.received_at_ns)
        except BaseException as exc:
            errors.append(exc)
        finally:
            done.set()

    def read() -> None:
        try:
            while not done.is_set() or len(totals) < 3:
                totals.append(metrics.snapshot(at(20)).events_total)
                metrics.series()
                metrics.check_alerts(at(20))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, name="writer"), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert totals == sorted(totals)  # readers never see counts go backwards
    final = metrics.snapshot(at(20))
    assert final.events_total == n
    assert final.bytes_in_total == 10 * n
    assert final.invalid_by_reason == {"bad": n // 100}
    assert final.latency_60s_ms["p99"] == pytest.approx(5.0)
    assert final.latency_samples_60s == n
    assert sum(final.events_per_s_by_table_kind.values()) * 60 == pytest.approx(n)
    assert metrics.series()["events_total"].sum() == n


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(0, 0.8),  # seconds since the previous event
            st.sampled_from(["orders", "users", None]),
            st.one_of(st.none(), st.floats(0.1, 900.0)),
            st.booleans(),  # a state change recorded after this event
        ),
        min_size=1,
        max_size=700,
    )
)
def test_batched_recording_equals_brute_force(
    steps: list[tuple[float, str | None, float | None, bool]],
) -> None:
    # Events are folded in batches (FOLD_EVENTS) and before any other record or read; whatever
    # the batch boundaries, a snapshot and the series count every event exactly once.
    metrics = Metrics(rate_window_s=3600, max_buckets=3600)
    t_s, events = 0.0, []
    for gap_s, table, latency_ms, state_change in steps:
        t_s += gap_s
        event = change(t_s, table, latency_ms)
        events.append(event)
        metrics.record_event(event)
        if state_change:
            metrics.record_state("subscribed", event.received_at_ns)
    now = events[-1].received_at_ns
    snap = metrics.snapshot(now)
    assert snap.events_total == len(events)
    assert snap.last_event_ns == now
    latencies = [e.latency_ms for e in events if e.latency_ms is not None]
    in_60s = [
        e.latency_ms for e in events if e.latency_ms is not None and e.received_at_ns > now - 60 * S
    ]
    assert snap.latency_samples_60s == len(in_60s)
    if in_60s:
        assert snap.latency_60s_ms["p99"] == pytest.approx(np.percentile(in_60s, 99))
    series = metrics.series()
    assert int(series["events_total"].sum()) == len(events)
    assert int(series["latency_samples"].sum()) == len(latencies)
    for table in ("orders", "users"):
        column = TABLE_COLUMN_PREFIX + table
        expected = sum(1 for e in events if e.table == table)
        counted = int(series[column].sum()) if column in series else 0
        assert counted == expected
        if expected:
            assert snap.last_event_ns_by_table[table] == max(
                e.received_at_ns for e in events if e.table == table
            )
