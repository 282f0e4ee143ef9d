"""Service-level objectives of the realtime feed: latency, availability and repaired gaps.

Pure: an event snapshot, the collector's transitions and gaps, and the clock in; one table out,
so a notebook and a report compute the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import pandas as pd

from rtdata.events import EventKind, EventSource
from rtdata.lifecycle import ConnectionState, Transition
from rtdata.resync import Gap

__all__ = ["SLO_COLUMNS", "SloTargets", "slo_report"]

SLO_COLUMNS: Final = ("objective", "target", "actual", "unit", "met", "basis")
"""Columns of :func:`slo_report`."""


@dataclass(frozen=True, slots=True)
class SloTargets:
    """The objectives :func:`slo_report` checks.

    Attributes:
        p99_latency_ms: Highest acceptable p99 commit → receive latency, in milliseconds.
        availability: Lowest acceptable share of the observed time spent SUBSCRIBED (0–1).
        gaps_repaired: Lowest acceptable share of ended subscription losses followed by a
            table resync (0–1).
    """

    p99_latency_ms: float = 1000.0
    availability: float = 0.99
    gaps_repaired: float = 1.0


def slo_report(
    events: pd.DataFrame,
    transitions: Sequence[Transition],
    gaps: Sequence[Gap],
    now: datetime,
    targets: SloTargets | None = None,
) -> pd.DataFrame:
    """Check the feed against its objectives and return one row per objective.

    * **p99 latency:** the 99th percentile (linear interpolation) of ``latency_ms`` over the
      live table changes in ``events`` (``kind`` ``postgres_changes``, ``source`` ``realtime``);
      snapshot, resync and poll rows carry no delivery latency. Met when at most the target.
    * **availability:** time SUBSCRIBED divided by the observed time, which runs from the
      first SUBSCRIBED transition (connecting at start-up is not an outage) to ``now`` or to
      STOPPED, whichever is first. A collector that never subscribed is observed from its
      first transition and scores 0. Met when at least the target.
    * **gaps repaired:** of the losses that have ended (every return to SUBSCRIBED after the
      first), the share with a recorded, resynced :class:`rtdata.resync.Gap`. Met when at
      least the target.

    Without data to judge (no latency sample, no transition, no ended loss) ``actual`` is NaN
    and ``met`` is ``<NA>``.

    Args:
        events: An event buffer snapshot (other kinds and sources are ignored).
        transitions: State transitions, oldest first (:attr:`rtdata.Collector.transitions`).
        gaps: Repaired gaps, oldest first (:attr:`rtdata.Collector.gaps`).
        now: End of the observed time, timezone-aware.
        targets: The objectives; :class:`SloTargets` defaults when ``None``.

    Returns:
        A frame with the columns :data:`SLO_COLUMNS`: ``target`` and ``actual`` as floats in
        ``unit`` (``ms`` or ``share``), ``met`` as a nullable boolean and ``basis`` saying
        what the figure rests on.
    """
    targets = SloTargets() if targets is None else targets
    now_ns = pd.Timestamp(now).value
    rows = [
        _latency_row(events, targets.p99_latency_ms),
        _availability_row(transitions, now_ns, targets.availability),
        _gaps_row(transitions, gaps, now_ns, targets.gaps_repaired),
    ]
    frame = pd.DataFrame(rows, columns=list(SLO_COLUMNS))
    return frame.astype(
        {
            "objective": "str",
            "target": "float64",
            "actual": "float64",
            "unit": "str",
            "met": "boolean",
            "basis": "str",
        }
    )


Row = tuple[str, float, float, str, bool | None, str]


def _judge(actual: float, ok: bool) -> bool | None:
    return None if math.isnan(actual) else ok


def _latency_row(events: pd.DataFrame, target_ms: float) -> Row:
    name = "p99 commit → receive latency"
    if events.empty:
        samples = np.empty(0)
    else:
        live = events[
            (events["kind"] == EventKind.POSTGRES_CHANGES)
            & (events["source"] == EventSource.REALTIME)
        ]
        samples = live["latency_ms"].dropna().to_numpy(dtype=float)
    p99 = float(np.quantile(samples, 0.99)) if len(samples) else math.nan
    basis = f"{len(samples):,} latency samples"
    return name, target_ms, p99, "ms", _judge(p99, p99 <= target_ms), basis


def _availability_row(transitions: Sequence[Transition], now_ns: int, target: float) -> Row:
    name = "availability (time SUBSCRIBED)"
    subscribed = [t.at_ns for t in transitions if t.target == ConnectionState.SUBSCRIBED]
    if not transitions:
        return name, target, math.nan, "share", None, "no transitions"
    start_ns = subscribed[0] if subscribed else transitions[0].at_ns
    stopped = [t.at_ns for t in transitions if t.target == ConnectionState.STOPPED]
    end_ns = max(start_ns, min([now_ns, *stopped]))
    up_ns = 0
    for current, following in zip(transitions, [*transitions[1:], None], strict=True):
        if current.target != ConnectionState.SUBSCRIBED:
            continue
        until_ns = end_ns if following is None else min(following.at_ns, end_ns)
        up_ns += max(0, until_ns - max(current.at_ns, start_ns))
    observed_ns = end_ns - start_ns
    if observed_ns == 0:
        return name, target, math.nan, "share", None, "no time observed yet"
    share = up_ns / observed_ns
    basis = f"{up_ns / 1e9:,.1f} s of {observed_ns / 1e9:,.1f} s observed"
    return name, target, share, "share", share >= target, basis


def _gaps_row(
    transitions: Sequence[Transition], gaps: Sequence[Gap], now_ns: int, target: float
) -> Row:
    name = "gaps repaired"
    subscribed = [
        t.at_ns for t in transitions if t.target == ConnectionState.SUBSCRIBED and t.at_ns <= now_ns
    ]
    returns = subscribed[1:]
    if not returns:
        return name, target, math.nan, "share", None, "no ended gaps"
    # A gap is recorded after its resync and just before the return to SUBSCRIBED.
    resynced = sum(1 for g in gaps if subscribed[0] < g.end_ns <= now_ns)
    repaired = min(len(returns), resynced)
    share = repaired / len(returns)
    basis = f"{repaired} of {len(returns)} gaps resynced"
    return name, target, share, "share", share >= target, basis
