"""A metrics snapshot and the alert rules evaluated on it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from rtdata.metrics._common import (
    BUSY_SPAN_S,
    NS_PER_S,
    PRESENCE_BASE_S,
    PRESENCE_RECENT_S,
    RECONNECT_HISTORY_S,
    to_ns,
)

# ---------------------------------------------------------------- snapshot and alerts


@dataclass(frozen=True, slots=True)
class MetricsSnapshot:
    """The collector's health at one moment; every container in it is the reader's own copy.

    Attributes:
        taken_at_ns: The ``now_ns`` the snapshot was taken at.
        observed_since_ns: Earliest time the metrics cover: when they began collecting (see
            :class:`rtdata.metrics.Metrics`). A baseline window that starts before it was not
            fully observed.
        events_total: Events recorded since start.
        last_event_ns: Receive time of the newest event, or ``None``.
        events_per_s_by_table_kind: Events per second over the rate window, keyed
            ``"table/kind"`` (table ``"-"`` for events without one).
        latency_10s_ms: ``{"p50", "p95", "p99"}`` commit → receive latency over 10 s; NaN
            without samples.
        latency_60s_ms: The same over 60 s.
        latency_samples_10s: Latency samples in the 10 s window.
        latency_samples_60s: Latency samples in the 60 s window.
        probe_rtt_ms: Last probe round trip, or ``None``.
        connection_state: Last recorded connection state, or ``None``.
        reconnects_total: Reconnects since start.
        recent_reconnects_ns: Reconnect times within :data:`RECONNECT_HISTORY_S`, oldest first.
        gaps: ``(start_ns, end_ns, rows_resynced)`` of the newest 1000 gaps, oldest first.
        gap_time_total_s: Total length of every gap, in seconds.
        bytes_in_total: Bytes received since start.
        invalid_by_reason: Invalid payloads per reason.
        callback_errors_total: Exceptions raised by callbacks.
        buffer_rows: Rows in the event buffer, as last set.
        buffer_bytes: Bytes in the event buffer, as last set.
        last_event_ns_by_table: Receive time of the newest event of each table.
        busy_events_per_min_by_table: Each table's average events per minute over the 10
            minutes up to its newest event (so a silence does not dilute its baseline).
        presence_last_min: Presence joins + leaves in the last minute.
        presence_prev_10min_per_min: Average presence joins + leaves per minute over the 10
            minutes before that.
    """

    taken_at_ns: int
    observed_since_ns: int
    events_total: int
    last_event_ns: int | None
    events_per_s_by_table_kind: dict[str, float]
    latency_10s_ms: dict[str, float]
    latency_60s_ms: dict[str, float]
    latency_samples_10s: int
    latency_samples_60s: int
    probe_rtt_ms: float | None
    connection_state: str | None
    reconnects_total: int
    recent_reconnects_ns: tuple[int, ...]
    gaps: list[tuple[int, int, int]]
    gap_time_total_s: float
    bytes_in_total: int
    invalid_by_reason: dict[str, int]
    callback_errors_total: int
    buffer_rows: int
    buffer_bytes: int
    last_event_ns_by_table: dict[str, int]
    busy_events_per_min_by_table: dict[str, float]
    presence_last_min: int
    presence_prev_10min_per_min: float

    def as_dict(self) -> dict[str, Any]:
        """Return the snapshot as JSON-ready data: NaN becomes ``None``, tuples become lists."""
        result: dict[str, Any] = jsonable(asdict(self))
        return result


def jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert, raised when its condition became true.

    Attributes:
        name: ``p99_latency``, ``table_silent``, ``reconnect_storm`` or ``presence_spike``.
        severity: ``"warning"`` or ``"critical"``.
        message: One sentence for people.
        at_ns: When the condition was seen true.
        value: The measured value (ms, s or a count, as the message says).
        threshold: The limit it crossed, in the same unit.
        subject: What the alert is about (the table for ``table_silent``), else ``""``.
    """

    name: str
    severity: Literal["warning", "critical"]
    message: str
    at_ns: int
    value: float
    threshold: float
    subject: str = ""


class AlertRules:
    """Alert conditions on a :class:`MetricsSnapshot`, edge-triggered by :meth:`evaluate`.

    Rules (severity):

    * ``p99_latency`` (warning): the 60 s p99 latency exceeds ``p99_latency_ms`` with at
      least ``min_latency_samples`` samples.
    * ``table_silent`` (critical), per table: a table that averaged at least
      ``busy_table_events_per_min`` over the 10 minutes up to its newest event has had no
      event for ``silence_s``; only once those 10 minutes were fully observed.
    * ``reconnect_storm`` (critical): at least ``reconnect_storm_count`` reconnects within
      ``reconnect_storm_window_s`` (at most :data:`RECONNECT_HISTORY_S`).
    * ``presence_spike`` (warning): presence joins + leaves in the last minute are at least
      ``presence_min_events`` and more than ``presence_spike_factor`` times the average per
      minute of the 10 minutes before; only once those 11 minutes were fully observed.

    A rule that compares with a baseline stays silent until the baseline window lies wholly
    after ``observed_since_ns``: an empty baseline would make a limit of 0 (every presence
    join a spike), and a partial one would judge a table "usually busy" from the snapshot
    burst of its first seconds. ``p99_latency`` and ``reconnect_storm`` compare with fixed
    limits, so they can fire from the start.

    Holds no lock: :class:`rtdata.metrics.Metrics` serialises calls to :meth:`evaluate`.
    """

    def __init__(
        self,
        *,
        p99_latency_ms: float = 1000.0,
        min_latency_samples: int = 20,
        silence_s: float = 60.0,
        busy_table_events_per_min: float = 6.0,
        reconnect_storm_count: int = 5,
        reconnect_storm_window_s: float = 300.0,
        presence_spike_factor: float = 3.0,
        presence_min_events: int = 10,
    ) -> None:
        if not 0 < reconnect_storm_window_s <= RECONNECT_HISTORY_S:
            raise ValueError(f"reconnect_storm_window_s must be in (0, {RECONNECT_HISTORY_S:g}]")
        if silence_s <= 0 or reconnect_storm_count < 1:
            raise ValueError("silence_s and reconnect_storm_count must be positive")
        self.p99_latency_ms = p99_latency_ms
        self.min_latency_samples = min_latency_samples
        self.silence_s = silence_s
        self.busy_table_events_per_min = busy_table_events_per_min
        self.reconnect_storm_count = reconnect_storm_count
        self.reconnect_storm_window_s = reconnect_storm_window_s
        self.presence_spike_factor = presence_spike_factor
        self.presence_min_events = presence_min_events
        self._firing: set[tuple[str, str]] = set()  # (name, subject) true at the last evaluate

    def active(self, now_ns: int, state: MetricsSnapshot) -> list[Alert]:
        """Return an alert for every condition true at ``now_ns`` (pure: no edge memory)."""
        alerts = []
        p99 = state.latency_60s_ms.get("p99", math.nan)
        if state.latency_samples_60s >= self.min_latency_samples and p99 > self.p99_latency_ms:
            alerts.append(
                Alert(
                    "p99_latency",
                    "warning",
                    f"p99 latency over 60 s is {p99:.0f} ms (limit {self.p99_latency_ms:g} ms)",
                    now_ns,
                    p99,
                    self.p99_latency_ms,
                )
            )
        for table, last_ns in sorted(state.last_event_ns_by_table.items()):
            silent_s = (now_ns - last_ns) / NS_PER_S
            busy = state.busy_events_per_min_by_table.get(table, 0.0)
            if not _observed(state, last_ns, BUSY_SPAN_S):
                continue
            if busy >= self.busy_table_events_per_min and silent_s >= self.silence_s:
                message = f"{table} (usually {busy:.1f}/min) has been silent for {silent_s:.0f} s"
                alerts.append(
                    Alert(
                        "table_silent", "critical", message, now_ns, silent_s, self.silence_s, table
                    )
                )
        low = now_ns - to_ns(self.reconnect_storm_window_s)
        storm = sum(1 for t in state.recent_reconnects_ns if low < t <= now_ns)
        if storm >= self.reconnect_storm_count:
            message = f"{storm} reconnects in the last {self.reconnect_storm_window_s:g} s"
            alerts.append(
                Alert(
                    "reconnect_storm",
                    "critical",
                    message,
                    now_ns,
                    storm,
                    self.reconnect_storm_count,
                )
            )
        recent = state.presence_last_min
        limit = self.presence_spike_factor * state.presence_prev_10min_per_min
        baseline = _observed(state, now_ns, PRESENCE_RECENT_S + PRESENCE_BASE_S)
        if baseline and recent >= self.presence_min_events and recent > limit:
            message = f"{recent} presence joins/leaves in the last minute (limit {limit:.1f})"
            alerts.append(Alert("presence_spike", "warning", message, now_ns, recent, limit))
        return alerts

    def evaluate(self, now_ns: int, state: MetricsSnapshot) -> list[Alert]:
        """Return only the alerts whose condition became true since the previous call.

        An alert fires once when its condition turns true and again only after a call that saw
        it false.
        """
        current = self.active(now_ns, state)
        new = [a for a in current if (a.name, a.subject) not in self._firing]
        self._firing = {(a.name, a.subject) for a in current}
        return new


def _observed(state: MetricsSnapshot, end_ns: int, span_s: float) -> bool:
    # True when the window of span_s ending at end_ns lies wholly within what was observed.
    return state.observed_since_ns <= end_ns - to_ns(span_s)
