"""Units, constants and helpers the metrics modules share."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

K = TypeVar("K", bound=Hashable)

NS_PER_S: Final = 1_000_000_000
NO_TABLE: Final = "-"  # stands for ``Event.table is None`` in "table/kind" rate keys
BUSY_SPAN_S: Final = 600.0  # "normally busy" is judged over 10 minutes
PRESENCE_RECENT_S: Final = 60.0  # a presence spike compares the last minute...
PRESENCE_BASE_S: Final = 600.0  # ...with the 10 minutes before it
FOLD_EVENTS: Final = 256
"""Events :class:`rtdata.metrics.Metrics` queues before folding them into its windows and counters."""
MAX_GAPS: Final = 1000  # gaps listed in a snapshot; the total covers every gap

RECONNECT_HISTORY_S: Final = 3600.0
"""How far back a snapshot lists reconnect times, in seconds (bounds the storm window)."""

TABLE_COLUMN_PREFIX: Final = "events:"
"""Prefix of the per-table event-count columns of :meth:`rtdata.metrics.TimeSeries.frame`."""


def to_ns(span_s: float) -> int:
    return round(span_s * NS_PER_S)


def percentiles(values: npt.NDArray[np.float64], qs: Sequence[float]) -> dict[str, float]:
    keys = [f"p{q:g}" for q in qs]
    if values.size == 0:
        return dict.fromkeys(keys, math.nan)
    # Callers pass arrays they own, so the partition may reorder them in place.
    found = np.percentile(values, qs, overwrite_input=True)
    return dict(zip(keys, (float(v) for v in found), strict=True))
