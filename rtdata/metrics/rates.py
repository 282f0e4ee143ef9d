"""Counts per key in fixed time buckets, read back as counts or rates."""

from __future__ import annotations

import math
from collections import deque
from typing import Generic

from rtdata.metrics._common import (
    K,
    to_ns,
)

# ---------------------------------------------------------------- rates


class RateCounter(Generic[K]):
    """Counts per key in fixed time buckets, read back as counts or rates over a window.

    Buckets are ``bucket_s`` long and aligned to the epoch; a bucket counts toward a window
    ending at ``now_ns`` when its start is in ``(now_ns - span, now_ns]``, so results are exact
    to one bucket. Buckets older than the window (from the newest bucket) are dropped as new
    ones open; a sample older than that is ignored.

    Args:
        window_s: Longest span that can be queried, in seconds.
        bucket_s: Bucket length in seconds.
    """

    def __init__(self, window_s: float, *, bucket_s: float = 1.0) -> None:
        if window_s <= 0 or bucket_s <= 0:
            raise ValueError("window_s and bucket_s must be positive")
        self.window_s = window_s
        self._window_ns = to_ns(window_s)
        self._bucket_ns = to_ns(bucket_s)
        self._keep = math.ceil(window_s / bucket_s) + 1  # buckets a full window can touch
        self._buckets: deque[tuple[int, dict[K, int]]] = deque()  # ascending bucket index

    def add(self, t_ns: int, key: K, n: int = 1) -> None:
        """Count ``n`` occurrences of ``key`` at ``t_ns``."""
        index = t_ns // self._bucket_ns
        buckets = self._buckets
        if buckets and buckets[-1][0] == index:
            counts = buckets[-1][1]
        elif not buckets or buckets[-1][0] < index:
            counts = {}
            buckets.append((index, counts))
            while buckets[0][0] <= index - self._keep:
                buckets.popleft()
        else:
            found = self._older(index)
            if found is None:
                return
            counts = found
        counts[key] = counts.get(key, 0) + n

    def counts(self, now_ns: int, span_s: float | None = None) -> dict[K, int]:
        """Return totals per key over ``span_s`` (default: the window) ending at ``now_ns``."""
        span_ns = self._window_ns if span_s is None else min(to_ns(span_s), self._window_ns)
        low = now_ns - span_ns
        totals: dict[K, int] = {}
        for index, counts in self._buckets:
            if low < index * self._bucket_ns <= now_ns:
                for key, n in counts.items():
                    totals[key] = totals.get(key, 0) + n
        return totals

    def rates(self, now_ns: int) -> dict[K, float]:
        """Return events per second per key over the window ending at ``now_ns``."""
        return {key: n / self.window_s for key, n in self.counts(now_ns).items()}

    def _older(self, index: int) -> dict[K, int] | None:
        # Rare path: a sample older than the newest bucket (clocks of two threads interleaving).
        buckets = self._buckets
        if index <= buckets[-1][0] - self._keep:
            return None
        for pos in range(len(buckets) - 1, -1, -1):
            if buckets[pos][0] == index:
                return buckets[pos][1]
            if buckets[pos][0] < index:
                counts: dict[K, int] = {}
                buckets.insert(pos + 1, (index, counts))
                return counts
        counts = {}
        buckets.appendleft((index, counts))
        return counts
