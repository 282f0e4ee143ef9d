"""Analyst views: the SLO report (rtdata.views.slo) and the times between statuses by group
(the lifecycle widget's spans). Pure: frames built from events, no sockets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
import pandas as pd
import pytest

from rtdata import ConnectionState, Event, EventBuffer
from rtdata.lifecycle import Transition
from rtdata.resync import Gap
from rtdata.views.slo import SLO_COLUMNS, SloTargets, slo_report
from rtdata.views.widgets.lifecycle import SPAN_COLUMNS, LifecycleSpec, compute

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
T0_NS = int(T0.timestamp()) * 1_000_000_000
S = 1_000_000_000
_S = ConnectionState


def _at(seconds: float) -> datetime:
    return pd.Timestamp(T0_NS + int(seconds * S), unit="ns", tz="UTC").to_pydatetime()


def _frame(events: Sequence[Event]) -> pd.DataFrame:
    buffer = EventBuffer()
    buffer.extend(events)
    return buffer.snapshot()


def _change(
    latency_ms: float, *, source: str = "realtime", commit_s: float = 0.0, key: str = "1"
) -> Event:
    commit = T0_NS + int(commit_s * S)
    return Event(
        commit + int(latency_ms * 1e6),
        commit,
        "postgres_changes",
        "tables",
        "vital_signs",
        "INSERT",
        key,
        "{}",
        None,
        source,
    )


def _transitions(*steps: tuple[float, ConnectionState]) -> list[Transition]:
    out, source = [], _S.IDLE
    for seconds, target in steps:
        out.append(Transition(T0_NS + int(seconds * S), source, target, "test"))
        source = target
    return out


def _row(report: pd.DataFrame, starts: str) -> dict[str, Any]:
    rows = report[report["objective"].str.startswith(starts)]
    assert len(rows) == 1
    row: dict[str, Any] = rows.iloc[0].to_dict()
    return row


# ---------------------------------------------------------------- SLO report


def test_default_targets_are_the_documented_ones() -> None:
    targets = SloTargets()
    assert targets.p99_latency_ms == 1000.0
    assert targets.availability == 0.99
    assert targets.gaps_repaired == 1.0


def test_report_has_one_typed_row_per_objective() -> None:
    report = slo_report(_frame([_change(10)]), [], [], T0)
    assert tuple(report.columns) == SLO_COLUMNS
    assert list(report["objective"]) == [
        "p99 commit → receive latency",
        "availability (time SUBSCRIBED)",
        "gaps repaired",
    ]
    assert str(report["met"].dtype) == "boolean"
    assert report["target"].dtype == "float64"
    assert report["actual"].dtype == "float64"


def test_p99_latency_counts_only_live_table_changes() -> None:
    live = [_change(float(ms), key=str(ms)) for ms in range(1, 101)]
    replayed = [_change(60_000, source="resync"), _change(60_000, source="snapshot")]
    status = Event(T0_NS, None, "status", "", None, "subscribed", None, "{}", None)
    report = slo_report(_frame([*live, *replayed, status]), [], [], _at(1))
    row = _row(report, "p99")
    assert row["actual"] == pytest.approx(99.01)  # linear interpolation between 99 and 100
    assert row["met"] is True
    assert row["basis"] == "100 latency samples"
    strict = slo_report(_frame(live), [], [], _at(1), SloTargets(p99_latency_ms=50))
    assert _row(strict, "p99")["met"] is False


def test_without_data_nothing_is_judged() -> None:
    report = slo_report(pd.DataFrame(), [], [], T0)
    assert report["actual"].isna().all()
    assert report["met"].isna().all()


def test_availability_is_time_subscribed_from_the_first_subscription() -> None:
    transitions = _transitions(
        (0, _S.CONNECTING),
        (1, _S.SUBSCRIBED),  # the observed time starts here
        (11, _S.RECONNECTING),
        (13, _S.SUBSCRIBED),
    )
    row = _row(slo_report(pd.DataFrame(), transitions, [], _at(21)), "availability")
    assert row["actual"] == pytest.approx(18 / 20)
    assert row["met"] is False
    assert row["basis"] == "18.0 s of 20.0 s observed"
    relaxed = SloTargets(availability=0.9)
    assert _row(slo_report(pd.DataFrame(), transitions, [], _at(21), relaxed), "avail")["met"]


def test_availability_stops_at_stopped() -> None:
    transitions = _transitions((0, _S.CONNECTING), (1, _S.SUBSCRIBED), (5, _S.STOPPED))
    row = _row(slo_report(pd.DataFrame(), transitions, [], _at(100)), "availability")
    assert row["actual"] == pytest.approx(1.0)
    assert row["basis"] == "4.0 s of 4.0 s observed"


def test_a_collector_that_never_subscribed_has_no_availability() -> None:
    transitions = _transitions((0, _S.CONNECTING), (2, _S.RECONNECTING))
    row = _row(slo_report(pd.DataFrame(), transitions, [], _at(10)), "availability")
    assert row["actual"] == 0.0
    assert row["met"] is False


def test_gaps_repaired_is_the_share_of_returns_with_a_resync() -> None:
    transitions = _transitions(
        (0, _S.CONNECTING),
        (1, _S.SUBSCRIBED),
        (10, _S.STALE),
        (11, _S.RECONNECTING),
        (12, _S.SUBSCRIBED),
        (20, _S.RECONNECTING),
        (22, _S.SUBSCRIBED),
    )
    before_start = Gap(T0_NS, T0_NS + S // 2, 0)  # ends before the first subscription
    one = Gap(T0_NS + 10 * S, T0_NS + 12 * S - 1, 3)
    row = _row(slo_report(pd.DataFrame(), transitions, [before_start, one], _at(30)), "gaps")
    assert row["actual"] == pytest.approx(0.5)
    assert row["basis"] == "1 of 2 gaps resynced"
    assert row["met"] is False
    two = Gap(T0_NS + 20 * S, T0_NS + 22 * S - 1, 0)
    row = _row(slo_report(pd.DataFrame(), transitions, [one, two], _at(30)), "gaps")
    assert row["actual"] == 1.0
    assert row["met"] is True


def test_a_loss_still_ongoing_is_not_judged_yet() -> None:
    transitions = _transitions((0, _S.CONNECTING), (1, _S.SUBSCRIBED), (5, _S.RECONNECTING))
    row = _row(slo_report(pd.DataFrame(), transitions, [], _at(10)), "gaps")
    assert math.isnan(row["actual"])
    assert pd.isna(row["met"])
    assert row["basis"] == "no ended gaps"


# ---------------------------------------------------------------- times between statuses


def _ticket_event(
    op: str, key: int, status: str, at_s: float, *, old: str | None, priority: int, team: int
) -> Event:
    record = {"id": key, "status": status, "priority": priority, "team_id": team}
    old_record = None if old is None else orjson.dumps({"id": key, "status": old}).decode()
    commit = T0_NS + int(at_s * S)
    return Event(
        commit + S // 10,
        commit,
        "postgres_changes",
        "tables",
        "tickets",
        op,
        str(key),
        orjson.dumps(record).decode(),
        old_record,
        "realtime",
    )


def _story() -> pd.DataFrame:
    e = _ticket_event
    return _frame(
        [
            e("INSERT", 1, "pending", 0, old=None, priority=1, team=1),
            e("INSERT", 2, "pending", 0, old=None, priority=1, team=2),
            e("INSERT", 3, "pending", 0, old=None, priority=3, team=1),
            e("UPDATE", 1, "accepted", 60, old="pending", priority=1, team=1),
            e("UPDATE", 4, "accepted", 90, old="pending", priority=2, team=1),  # no start
            e("UPDATE", 2, "accepted", 180, old="pending", priority=1, team=2),
            e("UPDATE", 2, "accepted", 200, old="accepted", priority=1, team=2),  # no entry
            e("UPDATE", 1, "completed", 660, old="accepted", priority=1, team=1),
        ]
    )


def _spans(events: pd.DataFrame, group_column: str | None) -> pd.DataFrame:
    spec = LifecycleSpec(
        "tickets",
        "status",
        ("pending", "accepted", "completed"),
        terminal=("completed",),
        spans=(("pending", "accepted"), ("accepted", "completed")),
        group_column=group_column,
    )
    return compute(spec, pd.DataFrame(), events, _at(700)).spans


def _by(spans: pd.DataFrame, *keys: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    return {
        tuple(row[k] for k in keys): {c: row[c] for c in ("n", "median_s", "p90_s")}
        for row in spans.to_dict("records")
    }


def test_spans_count_the_first_entry_of_each_status_on_commit_times() -> None:
    spans = _spans(_story(), None)
    assert tuple(spans.columns) == SPAN_COLUMNS
    # Key 2's second "accepted" is no new entry, key 4 never entered "pending" and key 3
    # never left it: two pending → accepted spans (60 s and 180 s) and one to completed.
    assert _by(spans, "start", "end") == {
        ("pending", "accepted"): {"n": 2, "median_s": 120.0, "p90_s": pytest.approx(168.0)},
        ("accepted", "completed"): {"n": 1, "median_s": 600.0, "p90_s": 600.0},
    }


def test_spans_by_priority() -> None:
    spans = _spans(_story(), "priority")
    assert tuple(spans.columns) == ("priority", *SPAN_COLUMNS)
    assert spans["priority"].tolist() == [1, 1]  # 2 never started, 3 never accepted
    assert _by(spans, "priority", "start") == {
        (1, "pending"): {"n": 2, "median_s": 120.0, "p90_s": pytest.approx(168.0)},
        (1, "accepted"): {"n": 1, "median_s": 600.0, "p90_s": 600.0},
    }


def test_spans_by_group_measure_each_groups_own_keys() -> None:
    spans = _spans(_story(), "team_id")
    assert _by(spans, "team_id", "start", "end") == {
        (1, "pending", "accepted"): {"n": 1, "median_s": 60.0, "p90_s": 60.0},
        (2, "pending", "accepted"): {"n": 1, "median_s": 180.0, "p90_s": 180.0},
        (1, "accepted", "completed"): {"n": 1, "median_s": 600.0, "p90_s": 600.0},
    }


def test_spans_of_nothing_are_an_empty_frame() -> None:
    assert _spans(pd.DataFrame(), "priority").columns.tolist() == ["priority", *SPAN_COLUMNS]
    assert _spans(pd.DataFrame(), "priority").empty
    assert _spans(_frame([_change(5)]), "priority").empty  # another table's changes only
