"""EventBuffer: the bounded, thread-safe hand-off of events from the collector to readers.

This is the thread boundary between the collector's loop thread (the only writer) and any
number of readers (Streamlit sessions, notebooks). Storage is columnar in sealed chunks:

* ``append`` adds a tuple to the open tail chunk: O(1).
* When the tail holds ``chunk_rows`` rows it is sealed into per-column NumPy arrays (int64
  times, float64 latency, int8 codes for low-cardinality text, object arrays for the rest):
  O(chunk_rows) once per chunk, so amortised O(1) per event.
* ``snapshot`` takes references to the sealed chunks under the lock and concatenates outside it;
  sealed chunks are never mutated, so readers own the result and never block the writer long.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from rtdata.events import COLUMNS, Event

__all__ = ["DEFAULT_MAX_ROWS", "EventBuffer"]

DEFAULT_MAX_ROWS: Final = 1_000_000
"""Default bound on buffered events."""

_NAT: Final = np.iinfo(np.int64).min  # numpy's NaT as int64
_CATEGORICAL: Final = ("kind", "channel", "table", "op", "source")
_TEXT: Final = ("key", "record", "old_record")


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Immutable column arrays of consecutive events."""

    received_ns: npt.NDArray[np.int64]
    commit_ns: npt.NDArray[np.int64]
    codes: dict[str, npt.NDArray[np.int32]]
    text: dict[str, npt.NDArray[np.object_]]

    def __len__(self) -> int:
        return len(self.received_ns)

    def tail(self, start: int) -> _Chunk:
        return _Chunk(
            self.received_ns[start:],
            self.commit_ns[start:],
            {k: v[start:] for k, v in self.codes.items()},
            {k: v[start:] for k, v in self.text.items()},
        )


class EventBuffer:
    """Bounded, thread-safe buffer of :class:`rtdata.events.Event` rows.

    Invariants:
        * One writer thread appends; any thread may read. ``_lock`` protects ``_chunks``,
          ``_head``, ``_tail``, ``_rows``, ``_version`` and ``_categories``; nothing else is
          shared.
        * Sealed chunks are immutable, so a snapshot may read them after releasing the lock.
        * ``len(self) <= max_rows``: the oldest events are evicted first.

    Args:
        max_rows: Most events kept.
        chunk_rows: Rows per sealed chunk (trade-off between seal cost and snapshot overhead).
    """

    def __init__(self, max_rows: int = DEFAULT_MAX_ROWS, chunk_rows: int = 8192) -> None:
        if max_rows < 1 or chunk_rows < 1:
            raise ValueError("max_rows and chunk_rows must be positive")
        self.max_rows = max_rows
        self.chunk_rows = chunk_rows
        self._lock = threading.Lock()  # guards every attribute below
        self._chunks: deque[_Chunk] = deque()
        self._head = 0  # rows of _chunks[0] already evicted
        self._tail: list[Event] = []
        self._rows = 0
        self._version = 0
        # Append-only dictionaries for categorical columns; codes index into them.
        self._categories: dict[str, dict[str, int]] = {name: {} for name in _CATEGORICAL}
        self._last_received_ns: int | None = None

    def __len__(self) -> int:
        with self._lock:
            return self._rows

    @property
    def version(self) -> int:
        """A counter that changes on every append; readers cache derived views on it."""
        with self._lock:
            return self._version

    @property
    def last_received_at(self) -> datetime | None:
        """Receive time of the newest event, or ``None`` when nothing was ever appended."""
        with self._lock:
            ns = self._last_received_ns
        return None if ns is None else pd.Timestamp(ns, unit="ns", tz="UTC").to_pydatetime()

    def append(self, event: Event) -> None:
        """Add one event, evicting the oldest when full."""
        with self._lock:
            self._tail.append(event)
            self._rows += 1
            self._version += 1
            self._last_received_ns = event.received_at_ns
            if len(self._tail) >= self.chunk_rows:
                self._seal()
            if self._rows > self.max_rows:
                self._evict()

    def extend(self, events: Iterable[Event]) -> None:
        """Add events in order."""
        for event in events:
            self.append(event)

    def snapshot(
        self,
        since: datetime | None = None,
        *,
        tables: Sequence[str] | None = None,
        kinds: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Return the buffered events as a new DataFrame the caller owns.

        Columns are :data:`rtdata.events.COLUMNS`: ``received_at`` and ``commit_ts`` are
        tz-aware UTC timestamps, ``latency_ms`` is float (NaN without a commit time), ``kind``,
        ``channel``, ``table``, ``op`` and ``source`` are categoricals, and ``key``, ``record``
        and ``old_record`` are text (records as JSON) or ``None``.

        Args:
            since: Keep events received at or after this time.
            tables: Keep events of these tables only.
            kinds: Keep events of these kinds only.
        """
        with self._lock:
            chunks = list(self._chunks)
            if chunks and self._head:
                chunks[0] = chunks[0].tail(self._head)
            if self._tail:
                chunks.append(self._build(self._tail))
            categories = {k: list(v) for k, v in self._categories.items()}
        return _frame(chunks, categories, since, tables, kinds)

    def clear(self) -> None:
        """Drop every event (the version still advances)."""
        with self._lock:
            self._chunks.clear()
            self._tail = []
            self._head = 0
            self._rows = 0
            self._version += 1

    # -------------------------------------------------------- internals (lock held)

    def _seal(self) -> None:
        self._chunks.append(self._build(self._tail))
        self._tail = []

    def _evict(self) -> None:
        excess = self._rows - self.max_rows
        while excess > 0 and self._chunks:
            first = len(self._chunks[0]) - self._head
            if first <= excess:
                self._chunks.popleft()
                self._head = 0
                excess -= first
                self._rows -= first
            else:
                self._head += excess
                self._rows -= excess
                excess = 0
        if excess > 0:  # everything sealed is gone; trim the open tail
            del self._tail[:excess]
            self._rows -= excess

    def _build(self, events: list[Event]) -> _Chunk:
        n = len(events)
        received = np.fromiter((e.received_at_ns for e in events), np.int64, n)
        commit = np.fromiter(
            (_NAT if e.commit_ns is None else e.commit_ns for e in events), np.int64, n
        )
        codes: dict[str, npt.NDArray[np.int32]] = {}
        for name in _CATEGORICAL:
            lookup = self._categories[name]
            values = (getattr(e, name) for e in events)
            codes[name] = np.fromiter(
                (-1 if v is None else lookup.setdefault(v, len(lookup)) for v in values),
                np.int32,
                n,
            )
        text: dict[str, npt.NDArray[np.object_]] = {}
        for name in _TEXT:
            column = np.empty(n, dtype=object)
            column[:] = [getattr(e, name) for e in events]
            text[name] = column
        return _Chunk(received, commit, codes, text)


def _frame(
    chunks: list[_Chunk],
    categories: dict[str, list[str]],
    since: datetime | None,
    tables: Sequence[str] | None,
    kinds: Sequence[str] | None,
) -> pd.DataFrame:
    def cat_int64(arrays: list[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
        return np.concatenate(arrays) if arrays else np.empty(0, np.int64)

    def cat_int32(arrays: list[npt.NDArray[np.int32]]) -> npt.NDArray[np.int32]:
        return np.concatenate(arrays) if arrays else np.empty(0, np.int32)

    received = cat_int64([c.received_ns for c in chunks])
    commit = cat_int64([c.commit_ns for c in chunks])
    codes = {k: cat_int32([c.codes[k] for c in chunks]) for k in _CATEGORICAL}
    text = {
        k: np.concatenate([c.text[k] for c in chunks]) if chunks else np.empty(0, dtype=object)
        for k in _TEXT
    }
    mask: npt.NDArray[np.bool_] | None = None

    def narrow(selected: npt.NDArray[np.bool_]) -> None:
        nonlocal mask
        mask = selected if mask is None else mask & selected

    if since is not None:
        narrow(received >= pd.Timestamp(since).value)
    for name, wanted in (("table", tables), ("kind", kinds)):
        if wanted is not None:
            lookup = {v: i for i, v in enumerate(categories[name])}
            ids = [lookup[w] for w in wanted if w in lookup]
            narrow(np.isin(codes[name], ids))
    if mask is not None:
        received, commit = received[mask], commit[mask]
        codes = {k: v[mask] for k, v in codes.items()}
        text = {k: v[mask] for k, v in text.items()}
    has_commit = commit != _NAT
    latency = np.where(has_commit, (received - commit) / 1e6, np.nan)
    data: dict[str, object] = {
        "received_at": pd.DatetimeIndex(received.view("datetime64[ns]"), tz="UTC"),
        "commit_ts": pd.DatetimeIndex(commit.view("datetime64[ns]"), tz="UTC"),
        "latency_ms": latency,
    }
    for name in COLUMNS:
        if name in _CATEGORICAL:
            data[name] = pd.Categorical.from_codes(
                codes[name], categories=pd.Index(categories[name], dtype=object)
            )
        elif name in _TEXT:
            data[name] = pd.Series(text[name], dtype=object, copy=False)
    frame = pd.DataFrame(data, columns=list(COLUMNS), copy=False)
    return frame
