"""Sliding-window samples (latency) with percentiles, in NumPy chunks."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from rtdata.metrics._common import (
    percentiles,
    to_ns,
)

# ---------------------------------------------------------------- sliding window


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Immutable samples, with the range of their times for cheap window tests."""

    t_ns: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]
    t_min: int
    t_max: int

    @classmethod
    def of(cls, t_ns: Sequence[int], values: Sequence[float]) -> _Chunk:
        t = np.array(t_ns, dtype=np.int64)
        return cls(t, np.array(values, dtype=np.float64), int(t.min()), int(t.max()))


class SlidingWindow:
    """Numeric samples in a trailing time window, with percentiles computed on demand.

    Samples go to an open list that is sealed into immutable NumPy chunks of ``chunk_size``,
    so :meth:`add` is amortised O(1). Chunks whose samples are all older than the window
    (measured from the newest sealed sample) are dropped when a chunk is sealed. A query costs
    one concatenation and :func:`numpy.percentile`: O(samples in the window). Queries are meant
    for ``now_ns`` at or after the newest sample; one earlier than that may miss samples at the
    window's old edge that were already pruned.

    Args:
        window_s: Window length in seconds: a sample at ``t_ns`` counts while
            ``now_ns - window_s < t_ns <= now_ns``.
        chunk_size: Samples per sealed chunk.
        max_samples: Bound on stored samples: beyond it the oldest chunks are dropped even when
            still inside the window, so a storm shows its newest samples.
    """

    def __init__(
        self, window_s: float, *, chunk_size: int = 1024, max_samples: int = 2_000_000
    ) -> None:
        if window_s <= 0 or chunk_size < 1 or max_samples < chunk_size:
            raise ValueError("need window_s > 0, chunk_size >= 1 and max_samples >= chunk_size")
        self.window_s = window_s
        self._window_ns = to_ns(window_s)
        self._chunk_size = chunk_size
        self._max_samples = max_samples
        self._chunks: deque[_Chunk] = deque()
        self._sealed = 0  # samples in _chunks
        self._open_t: list[int] = []
        self._open_values: list[float] = []

    def __len__(self) -> int:
        """Return the samples held, including expired ones not yet pruned."""
        return self._sealed + len(self._open_t)

    def add(self, t_ns: int, value: float) -> None:
        """Record ``value`` observed at ``t_ns``."""
        self._open_t.append(t_ns)
        self._open_values.append(value)
        if len(self._open_t) >= self._chunk_size:
            self._seal()

    def extend(self, t_ns: Sequence[int], values: Sequence[float]) -> None:
        """Record ``values[i]`` observed at ``t_ns[i]`` for every ``i``."""
        open_t, open_values, size = self._open_t, self._open_values, self._chunk_size
        start = 0
        while start < len(t_ns):
            take = min(len(t_ns) - start, size - len(open_t))
            open_t.extend(t_ns[start : start + take])
            open_values.extend(values[start : start + take])
            start += take
            if len(open_t) >= size:
                self._seal()
                open_t, open_values = self._open_t, self._open_values

    def values(self, now_ns: int, span_s: float | None = None) -> npt.NDArray[np.float64]:
        """Return a new array of the samples in the window ending at ``now_ns``.

        Args:
            now_ns: End of the window (inclusive).
            span_s: Look back only this many seconds (at most ``window_s``).
        """
        span_ns = self._window_ns if span_s is None else min(to_ns(span_s), self._window_ns)
        low = now_ns - span_ns  # exclusive
        chunks = list(self._chunks)
        if self._open_t:
            chunks.append(_Chunk.of(self._open_t, self._open_values))
        parts = []
        for chunk in chunks:
            if chunk.t_max <= low or chunk.t_min > now_ns:
                continue
            if chunk.t_min > low and chunk.t_max <= now_ns:
                parts.append(chunk.values)
            else:
                parts.append(chunk.values[(chunk.t_ns > low) & (chunk.t_ns <= now_ns)])
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.float64)

    def percentiles(
        self, now_ns: int, qs: Sequence[float] = (50, 95, 99), span_s: float | None = None
    ) -> dict[str, float]:
        """Return percentiles of the window as ``{"p50": ..., ...}``; NaN when it is empty.

        Args:
            now_ns: End of the window (inclusive).
            qs: Percentiles in [0, 100]; the key of ``q`` is ``f"p{q:g}"``.
            span_s: Look back only this many seconds (at most ``window_s``).
        """
        return percentiles(self.values(now_ns, span_s), qs)

    def _seal(self) -> None:
        chunk = _Chunk.of(self._open_t, self._open_values)
        self._open_t, self._open_values = [], []
        self._chunks.append(chunk)
        self._sealed += len(chunk.t_ns)
        expired = chunk.t_max - self._window_ns
        chunks = self._chunks
        while chunks[0].t_max <= expired or self._sealed > self._max_samples:
            self._sealed -= len(chunks.popleft().t_ns)
