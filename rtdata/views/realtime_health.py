"""Realtime health: connection states over time, latency, throughput, probes, gaps and alerts.

Charts are drawn from the collector's per-second series (:meth:`rtdata.metrics.Metrics.series`,
up to 3,600 rows); :func:`downsample` merges buckets first so a chart sends at most a few
hundred points to the browser.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final

import orjson
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from rtdata.events import EventKind
from rtdata.lifecycle import ConnectionState, Transition
from rtdata.metrics import TABLE_COLUMN_PREFIX, MetricsSnapshot
from rtdata.resync import Gap
from rtdata.views.connection import COLOURS

__all__ = [
    "BUCKETS_S",
    "MAX_POINTS",
    "STATE_COLOURS",
    "BufferSummary",
    "RealtimeHealthView",
    "RealtimeKpis",
    "alerts_table",
    "buffer_summary",
    "downsample",
    "errors_table",
    "gaps_table",
    "latency_figure",
    "probe_figure",
    "realtime_health_view",
    "realtime_kpis",
    "state_timeline",
    "throughput_figure",
    "timeline_figure",
]

STATE_COLOURS: Final[Mapping[str, str]] = MappingProxyType(
    {state.value: colour for state, (_, colour) in COLOURS.items()}
)
"""Colour of each connection state (by value), the same as the connection indicator's."""

MAX_POINTS: Final = 400
"""Most points per line that :func:`downsample` leaves by default."""

BUCKETS_S: Final = (1, 10, 30, 60, 300, 900)
"""Bucket lengths :func:`downsample` chooses from, in seconds."""

_MB: Final = 1_000_000  # megabytes are decimal, as the page labels say
_SUM_COLUMNS: Final = ("events_total", "latency_samples", "reconnects")


# ---------------------------------------------------------------- connection states


def state_timeline(transitions: Sequence[Transition], now: datetime) -> pd.DataFrame:
    """Turn recorded transitions into segments: each state from its transition to the next.

    The last segment ends at ``now`` (or at its start, should ``now`` be earlier).

    Args:
        transitions: Transitions oldest first (:attr:`rtdata.Collector.transitions`).
        now: End of the current state's segment.

    Returns:
        Columns ``start``, ``end`` (UTC), ``state`` (the state's value) and ``reason``.
    """
    if not transitions:
        return pd.DataFrame(
            {
                "start": pd.Series(dtype="datetime64[ns, UTC]"),
                "end": pd.Series(dtype="datetime64[ns, UTC]"),
                "state": pd.Series(dtype="str"),
                "reason": pd.Series(dtype="str"),
            }
        )
    starts_ns = [t.at_ns for t in transitions]
    ends_ns = [*starts_ns[1:], max(pd.Timestamp(now).value, starts_ns[-1])]
    return pd.DataFrame(
        {
            "start": pd.to_datetime(starts_ns, unit="ns", utc=True),
            "end": pd.to_datetime(ends_ns, unit="ns", utc=True),
            "state": pd.Series([t.target.value for t in transitions], dtype="str"),
            "reason": pd.Series([t.reason for t in transitions], dtype="str"),
        }
    )


def timeline_figure(timeline: pd.DataFrame) -> go.Figure:
    """Draw :func:`state_timeline` segments, one lane per state, coloured by state."""
    if timeline.empty:
        return _empty("no state transitions yet")
    fig = px.timeline(
        timeline,
        x_start="start",
        x_end="end",
        y="state",
        color="state",
        color_discrete_map=dict(STATE_COLOURS),
        hover_data={"reason": True, "state": False},
        category_orders={"state": [state.value for state in ConnectionState]},
    )
    fig.update_layout(showlegend=False)
    return _layout(fig, "connection state over time", "")


# ---------------------------------------------------------------- series charts


def downsample(series: pd.DataFrame, max_points: int = MAX_POINTS) -> tuple[pd.DataFrame, float]:
    """Merge the buckets of a metrics series so that it has at most about ``max_points`` rows.

    The bucket is the shortest of :data:`BUCKETS_S` (no shorter than the series' own) that
    keeps the rows within ``max_points``. Counts are summed; p50 latency is the median of the
    merged buckets' p50s and p95/p99 their maximum (a spike stays visible); probe RTT is the
    mean; ``state`` is the last one.

    Args:
        series: Rows of :meth:`rtdata.metrics.Metrics.series`, oldest first, one per bucket.
        max_points: Row budget.

    Returns:
        The merged frame (same columns, ``time`` is each merged bucket's start) and its bucket
        length in seconds.
    """
    bucket_s = _bucket_s(series)
    if len(series) <= max_points:
        return series, bucket_s
    span_s = len(series) * bucket_s
    target_s = next(
        (b for b in BUCKETS_S if b >= bucket_s and span_s / b <= max_points), BUCKETS_S[-1]
    )
    how: dict[str, Any] = {}
    for name in series.columns:
        if name == "time":
            continue
        if name in _SUM_COLUMNS or name.startswith(TABLE_COLUMN_PREFIX):
            how[name] = "sum"
        elif name == "latency_p50_ms":
            how[name] = "median"
        elif name.startswith("latency_p"):
            how[name] = "max"
        elif name == "probe_rtt_ms":
            how[name] = "mean"
        else:
            how[name] = "last"
    merged = series.resample(f"{target_s}s", on="time", origin="epoch").agg(how)
    return merged.reset_index(), float(target_s)


def latency_figure(series: pd.DataFrame, max_points: int = MAX_POINTS) -> go.Figure:
    """Draw commit → receive latency p50, p95 and p99 (ms) over time."""
    compact, bucket_s = downsample(series, max_points)
    if compact.empty:
        return _empty("no latency samples yet")
    fig = go.Figure()
    for q in ("p50", "p95", "p99"):
        fig.add_trace(
            go.Scatter(x=compact["time"], y=compact[f"latency_{q}_ms"], mode="lines", name=q)
        )
    return _layout(fig, "latency (ms)", f"per {bucket_s:g} s")


def throughput_figure(series: pd.DataFrame, max_points: int = MAX_POINTS) -> go.Figure:
    """Draw events per second of each table (the ``events:<table>`` columns), stacked."""
    compact, bucket_s = downsample(series, max_points)
    tables = [c for c in compact.columns if c.startswith(TABLE_COLUMN_PREFIX)]
    if compact.empty or not tables:
        return _empty("no table events yet")
    fig = go.Figure()
    for column in tables:
        fig.add_trace(
            go.Scatter(
                x=compact["time"],
                y=compact[column] / bucket_s,
                mode="lines",
                stackgroup="tables",
                name=column.removeprefix(TABLE_COLUMN_PREFIX),
            )
        )
    return _layout(fig, "events/s", f"mean per {bucket_s:g} s")


def probe_figure(series: pd.DataFrame, max_points: int = MAX_POINTS) -> go.Figure:
    """Draw the probe round trip (ms) over time."""
    compact, bucket_s = downsample(series, max_points)
    if compact.empty or not compact["probe_rtt_ms"].notna().any():
        return _empty("no probe replies yet")
    fig = go.Figure(
        go.Scatter(
            x=compact["time"],
            y=compact["probe_rtt_ms"],
            mode="lines+markers",
            connectgaps=True,
            name="probe RTT",
        )
    )
    return _layout(fig, "probe RTT (ms)", f"mean per {bucket_s:g} s")


# ---------------------------------------------------------------- tables


def gaps_table(gaps: Sequence[Gap], limit: int = 100) -> pd.DataFrame:
    """Return the newest ``limit`` gaps, newest first.

    Returns:
        Columns ``start``, ``end`` (UTC), ``duration_s`` and ``rows_resynced``.
    """
    newest = list(reversed(gaps))[:limit]
    return pd.DataFrame(
        {
            "start": pd.to_datetime([g.start_ns for g in newest], unit="ns", utc=True),
            "end": pd.to_datetime([g.end_ns for g in newest], unit="ns", utc=True),
            "duration_s": pd.Series([g.duration_s for g in newest], dtype="float64"),
            "rows_resynced": pd.Series([g.rows_resynced for g in newest], dtype="int64"),
        }
    )


def errors_table(snapshot: MetricsSnapshot) -> pd.DataFrame:
    """Return error counts, largest first: invalid payloads by reason and callback errors.

    Returns:
        Columns ``kind`` (``invalid payload`` or ``callback error``), ``reason`` and ``count``.
    """
    rows = [("invalid payload", reason, n) for reason, n in snapshot.invalid_by_reason.items()]
    if snapshot.callback_errors_total:
        rows.append(("callback error", "exception in a callback", snapshot.callback_errors_total))
    frame = pd.DataFrame(rows, columns=["kind", "reason", "count"]).astype(
        {"kind": "str", "reason": "str", "count": "int64"}
    )
    return frame.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


@dataclass(frozen=True, slots=True)
class BufferSummary:
    """Size of the event buffer and of the traffic received.

    Attributes:
        rows: Events in the buffer.
        size_mb: Estimated buffer size in megabytes (10^6 bytes).
        received_mb: Bytes received since start, in megabytes.
    """

    rows: int
    size_mb: float
    received_mb: float


def buffer_summary(snapshot: MetricsSnapshot) -> BufferSummary:
    """Summarise the buffer size (as last set by the collector) and the bytes received."""
    return BufferSummary(
        snapshot.buffer_rows, snapshot.buffer_bytes / _MB, snapshot.bytes_in_total / _MB
    )


def alerts_table(events: pd.DataFrame, limit: int = 100) -> pd.DataFrame:
    """Return the newest ``limit`` alerts from buffered events, newest first.

    Args:
        events: Buffer rows (:meth:`rtdata.EventBuffer.snapshot`); rows whose ``kind`` is not
            ``alert`` are ignored. An alert's ``op`` is its name and its ``record`` the JSON
            written by :meth:`rtdata.recorder.Recorder.housekeeping`; a record that is not valid JSON
            leaves the other columns empty.

    Returns:
        Columns ``time`` (UTC), ``name``, ``severity``, ``message``, ``value`` and
        ``threshold``.
    """
    alerts = events[events["kind"] == EventKind.ALERT] if not events.empty else events
    if alerts.empty:
        return pd.DataFrame(
            {
                "time": pd.Series(dtype="datetime64[ns, UTC]"),
                **{name: pd.Series(dtype="str") for name in ("name", "severity", "message")},
                "value": pd.Series(dtype="float64"),
                "threshold": pd.Series(dtype="float64"),
            }
        )
    alerts = alerts.sort_values("received_at", ascending=False, kind="stable").head(limit)
    bodies = [_body(text) for text in alerts["record"]]
    return pd.DataFrame(
        {
            "time": alerts["received_at"].to_numpy(),
            "name": pd.Series([str(op) for op in alerts["op"]], dtype="str"),
            "severity": pd.Series([str(b.get("severity", "")) for b in bodies], dtype="str"),
            "message": pd.Series([str(b.get("message", "")) for b in bodies], dtype="str"),
            "value": pd.Series([_number(b.get("value")) for b in bodies], dtype="float64"),
            "threshold": pd.Series([_number(b.get("threshold")) for b in bodies], dtype="float64"),
        }
    )


# ---------------------------------------------------------------- page bundle


@dataclass(frozen=True, slots=True)
class RealtimeKpis:
    """The Realtime health KPI row.

    Attributes:
        state: Connection state value.
        p99_latency_60s_ms: p99 commit → receive latency over 60 s, ``None`` without samples.
        probe_rtt_ms: Last probe round trip, or ``None``.
        reconnects_total: Reconnects since start.
        gap_time_s: Total time without a live subscription, in seconds.
        buffer: Buffer size.
    """

    state: str
    p99_latency_60s_ms: float | None
    probe_rtt_ms: float | None
    reconnects_total: int
    gap_time_s: float
    buffer: BufferSummary

    def display(self) -> dict[str, str]:
        """Return label → text of each KPI, in page order (``–`` for a missing value)."""
        return {
            "State": self.state,
            "p99 latency (60 s)": _ms(self.p99_latency_60s_ms),
            "Probe RTT": _ms(self.probe_rtt_ms),
            "Reconnects": f"{self.reconnects_total:,}",
            "Gap time": f"{self.gap_time_s:,.1f} s",
            "Buffer": f"{self.buffer.rows:,} rows · {self.buffer.size_mb:,.1f} MB",
        }


def realtime_kpis(state: str, snapshot: MetricsSnapshot) -> RealtimeKpis:
    """Compute the KPI row from the collector's ``state`` and a metrics snapshot."""
    p99 = snapshot.latency_60s_ms.get("p99", math.nan)
    return RealtimeKpis(
        state=state,
        p99_latency_60s_ms=None if math.isnan(p99) else p99,
        probe_rtt_ms=snapshot.probe_rtt_ms,
        reconnects_total=snapshot.reconnects_total,
        gap_time_s=snapshot.gap_time_total_s,
        buffer=buffer_summary(snapshot),
    )


@dataclass(frozen=True, slots=True)
class RealtimeHealthView:
    """Everything the Realtime health page draws.

    Attributes:
        kpis: The KPI row.
        timeline: State segments (:func:`state_timeline`).
        timeline_figure: Their chart.
        latency_figure: Latency percentiles over time.
        throughput_figure: Events per second per table.
        probe_figure: Probe round trips.
        gaps: Repaired gaps, newest first.
        errors: Error counts.
        alerts: Alerts raised, newest first.
    """

    kpis: RealtimeKpis
    timeline: pd.DataFrame
    timeline_figure: go.Figure
    latency_figure: go.Figure
    throughput_figure: go.Figure
    probe_figure: go.Figure
    gaps: pd.DataFrame
    errors: pd.DataFrame
    alerts: pd.DataFrame


def realtime_health_view(
    state: str,
    transitions: Sequence[Transition],
    gaps: Sequence[Gap],
    snapshot: MetricsSnapshot,
    series: pd.DataFrame,
    events: pd.DataFrame,
    now: datetime,
) -> RealtimeHealthView:
    """Compute the Realtime health page from the collector's state, records and metrics.

    Args:
        state: Current connection state value.
        transitions: State transitions, oldest first.
        gaps: Repaired gaps, oldest first.
        snapshot: Current metrics.
        series: Per-bucket metrics series.
        events: Buffered events holding the ``alert`` ones.
        now: End of the current state's segment.
    """
    timeline = state_timeline(transitions, now)
    return RealtimeHealthView(
        kpis=realtime_kpis(state, snapshot),
        timeline=timeline,
        timeline_figure=timeline_figure(timeline),
        latency_figure=latency_figure(series),
        throughput_figure=throughput_figure(series),
        probe_figure=probe_figure(series),
        gaps=gaps_table(gaps),
        errors=errors_table(snapshot),
        alerts=alerts_table(events),
    )


# ---------------------------------------------------------------- helpers


def _bucket_s(series: pd.DataFrame) -> float:
    if len(series) < 2:
        return 1.0
    step = series["time"].iloc[1] - series["time"].iloc[0]
    return max(pd.Timedelta(step).total_seconds(), 1e-9)


def _body(text: object) -> dict[str, Any]:
    if not isinstance(text, str):
        return {}
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def _empty(message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, "", "")


def _layout(fig: go.Figure, yaxis_title: str, subtitle: str) -> go.Figure:
    fig.update_layout(
        yaxis_title=yaxis_title or None,
        title=subtitle or None,
        height=300,
        margin={"l": 10, "r": 10, "t": 40 if subtitle else 10, "b": 10},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
